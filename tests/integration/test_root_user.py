"""The root user (SPEC §11), read from moto's IAM over real HTTP.

moto 5.2's credential report has no ``<root_account>`` row (real AWS always writes one first), and
its ``GetAccountSummary`` always says ``AccountMFAEnabled: 0``. So these tests put a proxy
(``tests/support/throttling_proxy.py``) between the product and moto that adds the row AWS would
write to moto's ``GetCredentialReport`` answer, and, where a test says so, sets
``AccountMFAEnabled`` in moto's ``GetAccountSummary`` answer. Everything else is moto's.
"""

from __future__ import annotations

import base64
import re

import pytest
from sekoia_automation_models.ocsf.user import UserOCSFModel

from airflow_provider_awsiam_ocsf.collection import list_users
from airflow_provider_awsiam_ocsf.collection_plan import Window, summarize_listing
from airflow_provider_awsiam_ocsf.hooks.iam import IamHook
from devtools.local import aws_connection_json
from tests.support.dag_runs import ACCOUNT, sink_state
from tests.support.iam_world import add_users, restricted_reader
from tests.support.throttling_proxy import ThrottlingProxy

ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"
# As AWS writes it: no password column for root (not_supported), MFA on, one active key.
ROOT_ROW = (
    f"<root_account>,{ROOT_ARN},2019-03-01T08:00:00+00:00,not_supported,"
    "2024-11-02T10:00:00+00:00,not_supported,not_supported,true,"
    "true,2020-01-01T00:00:00+00:00,2024-01-01T00:00:00+00:00,us-east-1,s3,"
    "false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
)
CONTENT = re.compile(rb"<Content>([^<]*)</Content>")


def with_root_row(payload: bytes) -> bytes:
    def add(match: re.Match) -> bytes:
        header, _, rows = base64.b64decode(match.group(1)).decode().partition("\n")
        report = f"{header}\n{ROOT_ROW}\n{rows}".encode()
        return b"<Content>" + base64.b64encode(report) + b"</Content>"

    return CONTENT.sub(add, payload)


def mfa_enabled(payload: bytes) -> bytes:
    return re.sub(rb"(<key>AccountMFAEnabled</key>\s*<value>)0(</value>)", rb"\g<1>1\g<2>", payload)


@pytest.fixture
def aws_with_root(iam, iam_endpoint, monkeypatch):
    """The ``aws_default`` connection through a proxy that gives moto's report AWS's root row."""
    proxy = ThrottlingProxy(iam_endpoint)
    proxy.rewrite("GetCredentialReport", with_root_row)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_json(proxy.url))
    yield proxy
    proxy.stop()


def root_of(listing):
    return [u for u in listing.users if u.kind == "root"]


@pytest.mark.parametrize(
    "strategy, root_calls",
    [
        ("bulk", {"GetAccountSummary": 1}),
        (
            "per_user",
            {"GenerateCredentialReport": 2, "GetCredentialReport": 1, "GetAccountSummary": 1},
        ),
    ],
)
def test_root_is_read_from_the_report_row_and_account_summary(
    iam, aws_with_root, strategy, root_calls, ocsf_validator
):
    from airflow_provider_awsiam_ocsf.ocsf import to_ocsf_user_inventory

    add_users(iam, ["alice", "bob"])
    aws_with_root.rewrite("GetAccountSummary", mfa_enabled)
    hook = IamHook(aws_conn_id="aws_default")
    listing = list_users(hook, strategy, Window(), identities=["iam_users", "root"])
    (root,) = root_of(listing)
    assert {u.name for u in listing.users} == {"alice", "bob", "root"}
    assert listing.root_calls == root_calls
    assert (root.user_id, root.arn, root.has_mfa, root.degraded) == (ACCOUNT, ROOT_ARN, True, [])
    event = to_ocsf_user_inventory(root).as_dict()
    ocsf_validator(event)
    UserOCSFModel.model_validate(event)
    assert event["user"]["type_id"] == 2 and event["user"]["account"]["name"] == "root"
    assert event["unmapped"]["aws_iam"] == {"access_keys_active": 1, "access_keys_present": False}
    summary = summarize_listing(listing, account=ACCOUNT, batches=1, calls=hook.calls)
    assert summary["identities_listed"] == {"iam_users": 2, "root": 1}
    assert summary["identity_calls"]["root"] == sum(root_calls.values())


def test_root_alone_reads_no_iam_user(iam, aws_with_root):
    add_users(iam, ["alice"])
    hook = IamHook(aws_conn_id="aws_default")
    listing = list_users(hook, "bulk", Window(), identities=["root"])
    assert [u.name for u in listing.users] == ["root"]
    assert set(hook.calls) == {
        "GenerateCredentialReport",
        "GetCredentialReport",
        "GetAccountSummary",
    }


def test_a_denied_report_leaves_root_out_never_guessed(iam, iam_endpoint, monkeypatch):
    # moto's own permission enforcement refuses the report (no proxy: its row would not matter).
    add_users(iam, ["alice"])
    denied = ["iam:GenerateCredentialReport", "iam:GetCredentialReport"]
    with restricted_reader(iam, iam_endpoint, monkeypatch, denied) as conn_id:
        hook = IamHook(aws_conn_id=conn_id)
        listing = list_users(hook, "bulk", Window(), identities=["iam_users", "root"])
    assert root_of(listing) == []
    assert {d.label for d in listing.degraded} == {"GetCredentialReport:AccessDenied"}
    assert "GetAccountSummary" not in hook.calls
    assert {u.name for u in listing.users} >= {"alice"}


def test_a_denied_account_summary_keeps_root_with_the_reports_mfa(iam, aws_with_root):
    aws_with_root.refuse("GetAccountSummary")
    hook = IamHook(aws_conn_id="aws_default")
    listing = list_users(hook, "per_user", Window(), identities=["root"])
    (root,) = root_of(listing)
    assert root.has_mfa is True  # the report's mfa_active
    assert root.access_keys_present is None and not root.complete
    assert [d.label for d in root.degraded] == ["GetAccountSummary:AccessDenied"]


def test_dag_sends_root_once_then_on_change_and_never_tombstones_it(iam, aws_with_root, dag_runs):
    add_users(iam, ["alice"])
    first = dag_runs(strategy="bulk")
    assert first.state == "success", first.tasks
    assert sorted(e["user"]["name"] for e in first.events) == ["alice", "root"]
    assert first.summary["identities_listed"] == {"iam_users": 1, "root": 1}
    assert first.summary["calls_per_identity"]["root"] == 1
    assert ACCOUNT in sink_state()["users"]

    aws_with_root.rewrite("GetAccountSummary", mfa_enabled)  # root turned MFA on
    second = dag_runs(strategy="per_user")
    assert second.state == "success", second.tasks
    assert [(e["user"]["name"], e["user"]["has_mfa"]) for e in second.events] == [("root", True)]

    third = dag_runs(identities=["iam_users"], mode="full")  # root deselected
    assert third.state == "success", third.tasks
    assert [e["user"]["name"] for e in third.events] == ["alice"]  # no tombstone for root
    assert ACCOUNT in sink_state()["users"]
