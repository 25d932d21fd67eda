"""IAM Identity Center users (SPEC §11) read from moto's ``sso-admin`` and ``identitystore`` over
real HTTP, and through the sample DAG.

moto 5.2's ``identitystore`` gives no ``UserStatus``, ``CreatedAt``, ``UpdatedAt``, ``UserArn`` or
``Revision`` (botocore's model now calls the last two required) and the tests seed too few users
for it to page ``ListUsers``: the test of those answers the identitystore client with
botocore's ``Stubber`` (the sso-admin calls still go to moto). A refused ``ListInstances`` is
stubbed too (moto's permission enforcement does not cover sso-admin).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from botocore.stub import Stubber
from sekoia_automation_models.ocsf.user import UserOCSFModel

from airflow_provider_awsiam_ocsf.errors import IdentityCenterUnreadableError
from airflow_provider_awsiam_ocsf.hooks.iam import IamHook
from airflow_provider_awsiam_ocsf.hooks.identity_center import IdentityCenterHook
from airflow_provider_awsiam_ocsf.identity_center import assess, to_ocsf_identity_center_user
from airflow_provider_awsiam_ocsf.identity_center_collection import read_identity_center
from devtools.demo_org import DEMO_ACCOUNT, STAR_POLICY, seed_demo_identity_center
from tests.support.iam_world import add_users
from tests.support.org_world import client

WINDOW_END = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def hook() -> IdentityCenterHook:
    return IdentityCenterHook(aws_conn_id="aws_default", region_name="us-east-1")


def read(ic: IdentityCenterHook):
    own = IamHook(aws_conn_id="aws_default")
    return read_identity_center(
        ic, lambda _account, arn: own.get_default_policy_document(arn), caller_account=DEMO_ACCOUNT
    )


def test_users_groups_and_assignments_decide_who_is_admin(iam, iam_endpoint, ocsf_validator):
    seed_demo_identity_center(iam_endpoint)
    ic = hook()
    snapshot = read(ic)
    users = {u.name: u for u in assess(snapshot)}
    assert {name: u.is_admin for name, u in users.items()} == {
        "ann.lead": True,  # through the group Platform Admins (AdministratorAccess)
        "ben.dev": False,  # Developer: an inline read-only policy
        "cleo.ops": True,  # directly: an inline * on * policy
        "dan.new": False,  # no assignment
    }
    ann = users["ann.lead"]
    assert [(g["name"], g["privileges"]) for g in ann.groups] == [
        ("Engineers", ["Developer"]),
        ("Platform Admins", ["AdministratorAccess"]),
    ]
    assert ann.assignments == [(DEMO_ACCOUNT, "AdministratorAccess"), (DEMO_ACCOUNT, "Developer")]
    for user in users.values():
        event = to_ocsf_identity_center_user(user, snapshot, window_end=WINDOW_END).as_dict()
        ocsf_validator(event)
        UserOCSFModel.model_validate(event)
        assert event["user"]["org"]["uid"] == DEMO_ACCOUNT
        assert event["user"]["email_addr"] == f"{user.name}@example.com"
    # The cost grows with groups and permission sets, not with users × accounts.
    assert ic.calls["ListUsers"] == 1 and ic.calls["ListGroupMemberships"] == 2
    assert ic.calls["ListAccountAssignments"] == 3  # 3 permission sets × 1 account


def test_customer_managed_reference_is_read_in_the_assignments_account(iam, iam_endpoint):
    iam.create_policy(
        PolicyName="EverythingAdmin", Path="/ops/", PolicyDocument=json.dumps(STAR_POLICY)
    )
    sso, store = client(iam_endpoint, "sso-admin"), client(iam_endpoint, "identitystore")
    instance = sso.list_instances()["Instances"][0]
    arn, store_id = instance["InstanceArn"], instance["IdentityStoreId"]
    users = {}
    for name, policy in [("eve.custom", "EverythingAdmin"), ("fay.missing", "NotThere")]:
        ps = sso.create_permission_set(InstanceArn=arn, Name=f"Custom-{policy}")["PermissionSet"]
        sso.attach_customer_managed_policy_reference_to_permission_set(
            InstanceArn=arn,
            PermissionSetArn=ps["PermissionSetArn"],
            CustomerManagedPolicyReference={"Name": policy, "Path": "/ops/"},
        )
        sso.provision_permission_set(
            InstanceArn=arn,
            PermissionSetArn=ps["PermissionSetArn"],
            TargetType="AWS_ACCOUNT",
            TargetId=DEMO_ACCOUNT,
        )
        users[name] = store.create_user(
            IdentityStoreId=store_id,
            UserName=name,
            DisplayName=name,
            Name={"GivenName": name, "FamilyName": "Test"},
        )["UserId"]
        sso.create_account_assignment(
            InstanceArn=arn,
            TargetId=DEMO_ACCOUNT,
            TargetType="AWS_ACCOUNT",
            PermissionSetArn=ps["PermissionSetArn"],
            PrincipalType="USER",
            PrincipalId=users[name],
        )
    assessed = {u.name: u.is_admin for u in assess(read(hook()))}
    # the referenced policy grants * on *; a reference to a policy that cannot be read decides
    # nothing: the admin type is left out, never guessed
    assert assessed == {"eve.custom": True, "fay.missing": None}


def test_status_times_arn_and_pages_the_api_gives_are_mapped(iam, iam_endpoint, ocsf_validator):
    ic = hook()
    store_id = ic.list_instances()[0]["IdentityStoreId"]
    created = datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)
    prefix = f"arn:aws:identitystore::{DEMO_ACCOUNT}:identitystore/{store_id}/user"
    arn = f"{prefix}/u-2"

    def user(user_id: str, **fields) -> dict:
        # botocore's model requires UserArn and Revision in answers (moto gives neither)
        return {
            "IdentityStoreId": store_id,
            "UserId": user_id,
            "UserName": user_id,
            "UserArn": f"{prefix}/{user_id}",
            "Revision": "1",
            **fields,
        }

    stub = Stubber(ic.identitystore)
    stub.add_response(
        "list_users",
        {"Users": [user("u-1", UserStatus="DISABLED")], "NextToken": "page-2"},
        {"IdentityStoreId": store_id, "MaxResults": 100},
    )
    stub.add_response(
        "list_users",
        {"Users": [user("u-2", UserStatus="ENABLED", CreatedAt=created)]},
        {"IdentityStoreId": store_id, "MaxResults": 100, "NextToken": "page-2"},
    )
    stub.add_response(
        "list_groups", {"Groups": []}, {"IdentityStoreId": store_id, "MaxResults": 100}
    )
    with stub:
        snapshot = read(ic)
    stub.assert_no_pending_responses()
    events = {
        u.user_id: to_ocsf_identity_center_user(u, snapshot, window_end=WINDOW_END).as_dict()
        for u in assess(snapshot)
    }
    for event in events.values():
        ocsf_validator(event)
        UserOCSFModel.model_validate(event)
    assert events["u-1"]["enrichments"][0]["data"] == {"is_enabled": False}
    assert events["u-1"]["time"] == int(WINDOW_END.timestamp()) * 1000  # no CreatedAt
    assert events["u-2"]["user"]["uid"] == arn
    assert events["u-2"]["time"] == int(created.timestamp()) * 1000
    assert events["u-2"]["enrichments"][0]["data"] == {"is_enabled": True}


@pytest.mark.parametrize(
    "answer, reason",
    [({"Instances": []}, "found no instance"), ("AccessDeniedException", "ListInstances failed")],
)
def test_no_readable_instance_fails_saying_what_to_set(iam, answer, reason):
    ic = hook()
    stub = Stubber(ic.client)
    if isinstance(answer, dict):
        stub.add_response("list_instances", answer, {"MaxResults": 100})
    else:
        stub.add_client_error("list_instances", answer, http_status_code=403)
    with stub, pytest.raises(IdentityCenterUnreadableError) as failure:
        read(ic)
    message = str(failure.value)
    assert reason in message and "identity_center_region" in message and "us-east-1" in message


def test_dag_sends_identity_center_users_apart_and_tombstones_a_removed_one(
    iam, iam_endpoint, dag_runs, tmp_path
):
    from tests.support.dag_runs import sink_state

    add_users(iam, ["iam.only"])
    ids = seed_demo_identity_center(iam_endpoint)
    identities = ["iam_users", "root", "identity_center"]
    first = dag_runs(identities=identities, strategy="bulk")
    assert first.state == "success", first.tasks
    names = sorted(e["user"]["name"] for e in first.events)
    assert names == ["ann.lead", "ben.dev", "cleo.ops", "dan.new", "iam.only"]
    folders = {p.parent.parent.name for p in (tmp_path / "run1").rglob("*.ndjson")}
    assert folders == {"identity_center", f"account={DEMO_ACCOUNT}"}
    summary = first.summary
    assert summary["identities_listed"]["identity_center"] == 4
    assert set(summary["calls_per_identity"]) == {"iam_users", "root", "identity_center"}
    assert summary["identity_center"]["admins"] == 2

    store = client(iam_endpoint, "identitystore")
    store_id = client(iam_endpoint, "sso-admin").list_instances()["Instances"][0]["IdentityStoreId"]
    store.delete_user(IdentityStoreId=store_id, UserId=ids["dan.new"])
    second = dag_runs(identities=identities, strategy="bulk")
    assert second.state == "success", second.tasks
    (tombstone,) = second.events  # nothing else changed: IAM users are not touched
    assert tombstone["user"]["name"] == "dan.new"
    assert tombstone["user"]["ldap_person"]["deleted_time"] == tombstone["time"]
    assert tombstone["metadata"]["product"]["name"] == "AWS IAM Identity Center Asset Connector"
    assert "iam.only" in {v.split(":", 1)[1] for v in sink_state()["users"].values()}
