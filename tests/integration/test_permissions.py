"""The README's permission documents cover every AWS operation the code makes.

The sample DAG runs for real (dag.test, moto's IAM, STS and Organizations over HTTP) with each
strategy (``bulk``, ``per_user``; ``access_key_ids`` on, the default), in one account and over an
organisation with member accounts, while botocore records every operation and the key that signed
it (``tests/support/aws_operations.py``). Each operation must be granted by the README's policy
for that strategy: the "smallest policy" JSON and the CloudFormation template's policies (the
member role), and in organisation mode the JSON of "What the connection's principal needs".
The reverse holds too in one account: a policy grants nothing the strategy never calls, but
for the documented cases these runs do not reach.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from devtools.demo_org import seed_demo_identity_center
from tests.conftest import REPO
from tests.support.aws_operations import recording_aws_operations
from tests.support.iam_world import seed_demo_with_credentials
from tests.support.org_world import create_organization, member_client

# The README says these need no permission (AWS answers them for any principal).
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}
CONNECTION_KEY = "testing"  # the access key id of the tests' aws connection
# Granted for cases these runs do not reach, each one said in the README: bulk reads users newer
# than the credential report (or whose row does not parse) one by one, and asks a key's last use
# when the report's slot cannot be matched to it exactly.
BULK_WHEN_THE_REPORT_FALLS_SHORT = {
    "iam:ListMFADevices",
    "iam:GetUser",
    "iam:GetLoginProfile",
    "iam:GetAccessKeyLastUsed",
}


def readme_sections() -> dict[str, str]:
    """README text by heading (## and ###), the heading's words without the #'s."""
    text = (REPO / "README.md").read_text()
    parts = re.split(r"^(#{2,3} .+)$", text, flags=re.M)
    return {parts[i].lstrip("# ").strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def code_blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", section, flags=re.M | re.S)


def actions_of(policy: dict) -> set[str]:
    """The actions a policy document allows (every ``Allow`` statement)."""
    actions: set[str] = set()
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow":
            action = statement["Action"]
            actions.update([action] if isinstance(action, str) else action)
    return actions


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (``!Ref``, ``!If``…) read as ``{"Fn::X": value}``."""


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _tag)


def readme_policies() -> dict[str, set[str]]:
    """Actions by document: ``bulk`` (the smallest policy), ``cfn bulk`` / ``cfn per_user`` (the
    member role's policies in the StackSet template), ``principal`` (organisation mode)."""
    sections = readme_sections()
    (bulk,) = [
        json.loads(block)
        for block in code_blocks(
            sections["Collection strategies and the permissions they need"], "json"
        )
    ]
    (principal,) = [
        json.loads(block)
        for block in code_blocks(sections["What the connection's principal needs"], "json")
    ]
    (template,) = [
        yaml.load(block, Loader=_CloudFormationLoader)
        for block in code_blocks(sections["The role to deploy in each member account"], "yaml")
    ]
    by_name = {}
    for entry in template["Resources"]["Reader"]["Properties"]["Policies"]:
        _, policy, _ = entry["Fn::If"]
        by_name[policy["PolicyName"]] = actions_of(policy["PolicyDocument"])
    return {
        "bulk": actions_of(bulk),
        "cfn bulk": by_name["iam-inventory-bulk"],
        "cfn per_user": by_name["iam-inventory-per-user"],
        "principal": actions_of(principal),
    }


def test_the_readme_says_which_calls_need_no_permission():
    text = readme_sections()["What the connection's principal needs"]
    for action in NEEDS_NO_PERMISSION:
        assert re.search(rf"`{action}`[^.]*needs\s+no\s+permission", text), action


def missing(operations, allowed: set[str]) -> set[str]:
    return {op.action for op in operations} - allowed - NEEDS_NO_PERMISSION


@pytest.mark.parametrize(
    "strategy, documents, must_include, unreached",
    [
        (
            "bulk",
            ["bulk", "cfn bulk"],
            {"iam:GetAccountAuthorizationDetails", "iam:ListAccessKeys"},
            BULK_WHEN_THE_REPORT_FALLS_SHORT,
        ),
        (
            "per_user",
            ["cfn per_user"],
            {"iam:ListUsers", "iam:ListGroupsForUser", "iam:GetUser"},
            set(),
        ),
    ],
)
def test_one_account_calls_only_what_the_readme_grants(
    iam, dag_runs, strategy, documents, must_include, unreached
):
    """...and the README grants nothing the strategy never calls (least privilege), but the
    documented ``unreached`` cases."""
    seed_demo_with_credentials(iam)
    policies = readme_policies()
    with recording_aws_operations() as operations:
        run = dag_runs(strategy=strategy, mode="full")
    assert run.state == "success", run.tasks
    assert must_include <= {op.action for op in operations}  # the recorder saw the run
    for document in documents:
        assert not missing(operations, policies[document]), (
            f"README policy '{document}' lacks what the {strategy} strategy calls"
        )
        never_called = policies[document] - {op.action for op in operations} - unreached
        assert not never_called, f"README policy '{document}' grants what is never called"


@pytest.mark.parametrize("strategy", ["bulk", "per_user"])
def test_organisation_calls_only_what_the_readme_grants(iam, iam_endpoint, dag_runs, strategy):
    ids = create_organization(iam_endpoint, ["Prod", "Dev"])
    iam.create_user(UserName="mgmt.admin")
    for account in ids.values():
        member = member_client(iam_endpoint, account)
        member.create_user(UserName="member.user")
        member.create_access_key(UserName="member.user")
    policies = readme_policies()
    with recording_aws_operations() as operations:
        run = dag_runs(accounts="organization", strategy=strategy, mode="full")
    assert run.state == "success", run.tasks
    by_principal = [op for op in operations if op.access_key_id == CONNECTION_KEY]
    by_member_role = [op for op in operations if op.access_key_id != CONNECTION_KEY]
    assert {"organizations:ListAccounts", "sts:AssumeRole"} <= {op.action for op in by_principal}
    assert by_member_role, "no call made with a member role's credentials"
    own_account = policies["principal"] if strategy == "bulk" else policies["cfn per_user"]
    principal = {"organizations:ListAccounts", "sts:AssumeRole"} & policies["principal"]
    assert not missing(by_principal, own_account | principal), "README principal policy"
    assert not missing(by_member_role, policies[f"cfn {strategy}"]), "README member role policy"


def test_identity_center_calls_only_what_the_readme_grants(iam, iam_endpoint, dag_runs):
    """...and the README's Identity Center policy grants nothing the read never calls."""
    seed_demo_identity_center(iam_endpoint)
    section = readme_sections()["IAM Identity Center users"]
    (policy,) = [
        json.loads(block) for block in code_blocks(section, "json") if '"Statement"' in block
    ]
    allowed = actions_of(policy)
    with recording_aws_operations() as operations:
        run = dag_runs(identities=["identity_center"], mode="full")
    assert run.state == "success", run.tasks
    called = {op.action for op in operations}
    assert {"sso:ListInstances", "identitystore:ListUsers", "sso:ListAccountAssignments"} <= called
    assert not missing(operations, allowed), "README Identity Center policy"
    assert not allowed - called, "README Identity Center policy grants what is never called"
