"""Collecting users from IAM: moto's server over real HTTP, botocore's Stubber for pagination."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.stub import Stubber

from airflow_provider_awsiam_ocsf.collection import Window, enrich_users, list_users
from devtools.demo_org import USERS, seed_demo_organisation
from airflow_provider_awsiam_ocsf.errors import NoAwsCredentialsError
from airflow_provider_awsiam_ocsf.hooks.iam import IamHook
from airflow_provider_awsiam_ocsf.ocsf import to_ocsf_user_inventory
from tests.support.iam_world import add_users, restricted_reader

ADMIN_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"


def collect(strategy: str, conn_id: str = "aws_default", window: Window | None = None):
    """What the DAG does for one run, in one process: list, enrich, map. Returns (events, hook)."""
    hook = IamHook(aws_conn_id=conn_id)
    listing = list_users(hook, strategy, window or Window())
    users = enrich_users(hook, listing.users, listing.catalog)
    return {u.name: u for u in users}, [to_ocsf_user_inventory(u).as_dict() for u in users], hook


@pytest.mark.parametrize("strategy", ["per_user", "bulk"])
def test_users_with_zero_one_and_several_groups_and_mfa_kinds(iam, strategy, ocsf_validator):
    seed_demo_organisation(iam)
    users, events, _ = collect(strategy)
    for e in events:
        ocsf_validator(e)
    assert set(users) == set(USERS)
    by_name = {e["user"]["name"]: e["user"] for e in events}
    assert by_name["oscar.noaccess"]["groups"] == []
    assert [g["name"] for g in by_name["alice.admin"]["groups"]] == ["Admins"]
    assert [g["name"] for g in by_name["dave.ops"]["groups"]] == [
        "Auditors",
        "Developers",
        "Support",
    ]
    assert by_name["alice.admin"]["has_mfa"] is True  # virtual
    assert by_name["dave.ops"]["has_mfa"] is True  # hardware
    assert by_name["carol.dev"]["has_mfa"] is False
    admins = {name for name, u in by_name.items() if u["type"] == "Admin"}
    assert admins == {
        "alice.admin",
        "rupert.admin2",
        "grace.root-like",
        "heidi.inline",
        "ivan.breakglass",
        "trent.security",
        "ken.custom-admin",
    }
    assert by_name["judy.finance"]["type"] == "User"  # ReadOnlyAdminNotes is only a name
    assert {g["name"]: g.get("privileges") for g in by_name["carol.dev"]["groups"]} == {
        "Developers": ["PowerUserAccess"],
        "Auditors": ["ReadOnlyAccess", "SecurityAudit"],
    }


def test_bulk_and_per_user_produce_identical_events(iam):
    seed_demo_organisation(iam)
    _, per_user, _ = collect("per_user")
    _, bulk, _ = collect("bulk")
    assert bulk == per_user


def test_bulk_costs_a_handful_of_calls_and_per_user_four_per_user(iam):
    seed_demo_organisation(iam)
    _, _, bulk = collect("bulk")
    assert bulk.calls == {
        "GetAccountAuthorizationDetails": 1,
        "GenerateCredentialReport": 2,
        "GetCredentialReport": 1,
    }
    _, _, per_user = collect("per_user")
    n = len(USERS)
    assert per_user.calls["ListGroupsForUser"] == n
    assert per_user.calls["ListMFADevices"] == n
    assert per_user.calls["ListAttachedUserPolicies"] == n
    assert per_user.calls["ListUserPolicies"] == n
    assert per_user.calls["GetUserPolicy"] == 1  # heidi.inline's one inline policy


def test_a_group_shared_by_many_users_is_fetched_once(iam):
    iam.create_group(GroupName="Everyone")
    iam.attach_group_policy(GroupName="Everyone", PolicyArn=ADMIN_ACCESS)
    add_users(iam, [f"user{i:02d}" for i in range(25)], groups=["Everyone"])
    users, _, hook = collect("per_user")
    assert all(u.is_admin for u in users.values())
    assert hook.calls["ListAttachedGroupPolicies"] == 1
    assert hook.calls["ListGroupPolicies"] == 1


def test_denied_mfa_lookup_leaves_has_mfa_out_and_keeps_the_user(
    iam, iam_endpoint, monkeypatch, ocsf_validator
):
    seed_demo_organisation(iam)
    with restricted_reader(iam, iam_endpoint, monkeypatch, ["iam:ListMFADevices"]) as conn:
        users, events, _ = collect("per_user", conn)
    assert set(USERS) <= set(users)
    for e in events:
        ocsf_validator(e)
        assert "has_mfa" not in e["user"]
    alice = users["alice.admin"]
    assert [(d.api, d.code) for d in alice.degraded] == [("ListMFADevices", "AccessDenied")]
    assert alice.is_admin is True  # the other facts are still read


def test_denied_group_lookup_keeps_the_user_without_groups(iam, iam_endpoint, monkeypatch):
    seed_demo_organisation(iam)
    with restricted_reader(iam, iam_endpoint, monkeypatch, ["iam:ListGroupsForUser"]) as conn:
        users, events, _ = collect("per_user", conn)
    assert set(USERS) <= set(users)
    by_name = {e["user"]["name"]: e["user"] for e in events}
    assert "groups" not in by_name["alice.admin"]
    assert by_name["alice.admin"]["has_mfa"] is True
    assert by_name["grace.root-like"]["type"] == "Admin"  # own policy is evidence enough
    assert "type" not in by_name["oscar.noaccess"]  # undecidable without its groups


def test_auto_falls_back_to_per_user_when_account_details_are_denied(
    iam, iam_endpoint, monkeypatch, caplog
):
    seed_demo_organisation(iam)
    _, expected, _ = collect("bulk")
    with restricted_reader(
        iam, iam_endpoint, monkeypatch, ["iam:GetAccountAuthorizationDetails"]
    ) as conn:
        _, events, hook = collect("auto", conn)
    assert "GetAccountAuthorizationDetails" in hook.calls and "ListUsers" in hook.calls
    assert [e for e in events if e["user"]["name"] != "ocsf-reader"] == expected
    assert any("iam:GetAccountAuthorizationDetails" in r.getMessage() for r in caplog.records)


def test_bulk_reads_mfa_per_user_when_the_credential_report_is_denied(
    iam, iam_endpoint, monkeypatch
):
    seed_demo_organisation(iam)
    _, expected, _ = collect("bulk")
    with restricted_reader(
        iam, iam_endpoint, monkeypatch, ["iam:GenerateCredentialReport", "iam:GetCredentialReport"]
    ) as conn:
        _, events, hook = collect("bulk", conn)
    assert [e for e in events if e["user"]["name"] != "ocsf-reader"] == expected
    assert hook.calls["ListMFADevices"] == len(USERS) + 1
    assert "ListGroupsForUser" not in hook.calls


def test_bulk_strategy_fails_when_denied_instead_of_falling_back(iam, iam_endpoint, monkeypatch):
    from botocore.exceptions import ClientError

    with restricted_reader(
        iam, iam_endpoint, monkeypatch, ["iam:GetAccountAuthorizationDetails"]
    ) as conn:
        with pytest.raises(ClientError, match="AccessDenied"):
            collect("bulk", conn)


def test_window_keeps_users_created_inside_it_only(iam):
    add_users(iam, ["early", "late"])
    created = {u["UserName"]: u["CreateDate"] for u in iam.list_users()["Users"]}
    cut = created["late"]
    for strategy in ("per_user", "bulk"):
        users, _, _ = collect(strategy, window=Window(since=cut))
        assert set(users) <= {"late", "early"} and "late" in users
        users, _, _ = collect(strategy, window=Window(until=cut - dt.timedelta(days=1)))
        assert users == {}


def test_no_credentials_fails_naming_the_connection(iam, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_EMPTY",
        '{"conn_type": "aws", "extra": {'
        '"endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1"}}',
    )
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(NoAwsCredentialsError, match="'aws_empty'.*access key"):
        collect("per_user", "aws_empty")


# --- pagination (moto ignores MaxItems/Marker, so botocore's Stubber plays IAM) ----------------


def _user(i):
    return {
        "UserName": f"u{i}",
        "UserId": f"AIDAEXAMPLEUSER{i:05d}",
        "Arn": f"arn:aws:iam::123456789012:user/u{i}",
        "Path": "/",
        "CreateDate": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    }


def _group(name):
    return {
        "GroupName": name,
        "GroupId": "AGPAEXAMPLEGROUP" + name,
        "Path": "/",
        "Arn": f"arn:aws:iam::123456789012:group/{name}",
        "CreateDate": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    }


def _attached(name):
    return {"PolicyName": name, "PolicyArn": f"arn:aws:iam::aws:policy/{name}"}


def test_every_paginated_call_follows_markers_across_pages(iam):
    hook = IamHook(aws_conn_id="aws_default")
    with Stubber(hook.client) as stub:
        stub.add_response(
            "list_users",
            {"Users": [_user(1), _user(2)], "IsTruncated": True, "Marker": "m1"},
            {"MaxItems": 1000},
        )
        stub.add_response(
            "list_users",
            {"Users": [_user(3)], "IsTruncated": True, "Marker": "m2"},
            {"Marker": "m1", "MaxItems": 1000},
        )
        stub.add_response(
            "list_users",
            {"Users": [_user(4)], "IsTruncated": False},
            {"Marker": "m2", "MaxItems": 1000},
        )
        stub.add_response("list_policies", {"Policies": [], "IsTruncated": False})
        stub.add_response(
            "list_groups", {"Groups": [_group("A")], "IsTruncated": True, "Marker": "g1"}
        )
        stub.add_response(
            "list_groups",
            {"Groups": [_group("B")], "IsTruncated": False},
            {"Marker": "g1", "MaxItems": 1000},
        )
        for name in ("A", "B"):
            stub.add_response(
                "list_attached_group_policies",
                {
                    "AttachedPolicies": [_attached("ReadOnlyAccess")],
                    "IsTruncated": True,
                    "Marker": "p1",
                },
                {"GroupName": name},
            )
            stub.add_response(
                "list_attached_group_policies",
                {"AttachedPolicies": [_attached("AdministratorAccess")], "IsTruncated": False},
                {"GroupName": name, "Marker": "p1"},
            )
            stub.add_response(
                "list_group_policies",
                {"PolicyNames": [], "IsTruncated": False},
                {"GroupName": name},
            )
        listing = list_users(hook, "per_user", Window())
        stub.add_response(
            "list_groups_for_user",
            {"Groups": [_group("A")], "IsTruncated": True, "Marker": "u1"},
            {"UserName": "u1"},
        )
        stub.add_response(
            "list_groups_for_user",
            {"Groups": [_group("B")], "IsTruncated": False},
            {"UserName": "u1", "Marker": "u1"},
        )
        stub.add_response(
            "list_attached_user_policies", {"AttachedPolicies": [], "IsTruncated": False}
        )
        stub.add_response("list_user_policies", {"PolicyNames": [], "IsTruncated": False})
        stub.add_response(
            "list_mfa_devices", {"MFADevices": [], "IsTruncated": True, "Marker": "d1"}
        )
        stub.add_response(
            "list_mfa_devices",
            {
                "MFADevices": [
                    {
                        "UserName": "u1",
                        "SerialNumber": "GAHT12345678",
                        "EnableDate": dt.datetime(2024, 1, 1),
                    }
                ],
                "IsTruncated": False,
            },
        )
        [u1] = enrich_users(hook, listing.users[:1], listing.catalog)
        stub.assert_no_pending_responses()
    assert [u.name for u in listing.users] == ["u1", "u2", "u3", "u4"]
    assert listing.catalog.groups["A"].policy_names == ["ReadOnlyAccess", "AdministratorAccess"]
    assert [g.name for g in u1.groups] == ["A", "B"]
    assert u1.is_admin is True and u1.has_mfa is True


def test_account_authorization_details_are_read_across_pages(iam):
    hook = IamHook(aws_conn_id="aws_default")
    detail = {**_user(1), "GroupList": ["A"], "AttachedManagedPolicies": [], "UserPolicyList": []}
    group = {
        **_group("A"),
        "AttachedManagedPolicies": [_attached("AdministratorAccess")],
        "GroupPolicyList": [],
    }
    with Stubber(hook.client) as stub:
        stub.add_response(
            "get_account_authorization_details",
            {"UserDetailList": [detail], "IsTruncated": True, "Marker": "a1"},
        )
        stub.add_response(
            "get_account_authorization_details",
            {"GroupDetailList": [group], "IsTruncated": False},
            {"Filter": ["User", "Group", "LocalManagedPolicy"], "MaxItems": 1000, "Marker": "a1"},
        )
        stub.add_response("generate_credential_report", {"State": "COMPLETE"})
        stub.add_response(
            "get_credential_report",
            {
                "Content": b"user,arn,mfa_active\nu1,arn:aws:iam::123456789012:user/u1,true\n",
                "ReportFormat": "text/csv",
            },
        )
        listing = list_users(hook, "bulk", Window())
        stub.assert_no_pending_responses()
    [u1] = listing.users
    assert u1.is_admin is True and u1.has_mfa is True
