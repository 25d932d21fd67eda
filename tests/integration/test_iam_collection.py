"""Collecting users from IAM: moto's server over real HTTP, botocore's Stubber for pagination."""

from __future__ import annotations

import copy
import datetime as dt
import time

import pytest
from botocore.stub import Stubber

from airflow_provider_awsiam_ocsf.collection import enrich_users, list_users
from airflow_provider_awsiam_ocsf.collection_plan import Window
from airflow_provider_awsiam_ocsf.errors import NoAwsCredentialsError
from airflow_provider_awsiam_ocsf.hooks.iam import IamHook
from airflow_provider_awsiam_ocsf.ocsf import to_ocsf_user_inventory
from devtools.demo_org import USERS, seed_demo_organisation
from tests.data.credential_report import COLUMNS
from tests.support.iam_world import add_users, restricted_reader

ADMIN_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
WINDOW_END = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
PASSWORD_USED = dt.datetime(2024, 11, 20, 7, 45, 12, 345678, tzinfo=dt.UTC)
# Users of the credential world (on top of the demo organisation).
CREDENTIAL_USERS = ["pat.console", "quinn.keys", "rita.ci", "comma,name"]


def collect(
    strategy: str,
    conn_id: str = "aws_default",
    window: Window | None = None,
    access_key_ids: bool = True,
):
    """What the DAG does for one run, in one process: list, enrich, map.

    Returns (users by name, events, hook)."""
    hook = IamHook(aws_conn_id=conn_id)
    listing = list_users(hook, strategy, window or Window())
    users = enrich_users(hook, listing.users, listing.catalog, access_key_ids=access_key_ids)
    events = [
        to_ocsf_user_inventory(u, logged_time=WINDOW_END, access_key_ids=access_key_ids).as_dict()
        for u in users
    ]
    return {u.name: u for u in users}, events, hook


def _next_second() -> None:
    """Wait for the clock's next second: keys created in different seconds match the report's
    whole-second ``access_key_N_last_rotated`` exactly."""
    time.sleep(1.001 - time.time() % 1)


def seed_credential_world(iam) -> dict[str, list[str]]:
    """Users with tags, a path, console passwords and access keys; returns key ids by user.

    * pat.console: path /people/, two tags, a console password last used at PASSWORD_USED (moto
      records no console sign-in; its backend's ``password_last_used`` is the documented way to
      set one), no key.
    * quinn.keys: two keys in different seconds, the first Active and used (a real call signed
      with it), the second Inactive.
    * rita.ci: no password, one Active key never used.
    * comma,name: a name with a comma, which moto writes unquoted in the credential report (an
      unusable row: bulk reads this user per user); a password and a key.
    """
    import boto3
    from moto.iam.models import iam_backends

    from devtools.demo_org import DEMO_ACCOUNT

    iam.create_user(
        UserName="pat.console",
        Path="/people/",
        Tags=[{"Key": "team", "Value": "security"}, {"Key": "Owner", "Value": "pat"}],
    )
    iam.create_login_profile(UserName="pat.console", Password="Correct-Horse-42")
    iam_backends[DEMO_ACCOUNT]["aws"].users["pat.console"].password_last_used = PASSWORD_USED
    keys: dict[str, list[str]] = {}
    iam.create_user(UserName="quinn.keys", Tags=[{"Key": "team", "Value": "data"}])
    _next_second()
    used = iam.create_access_key(UserName="quinn.keys")["AccessKey"]
    _next_second()
    idle = iam.create_access_key(UserName="quinn.keys")["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName="quinn.keys", AccessKeyId=idle, Status="Inactive")
    boto3.client(
        "iam",
        endpoint_url=iam.meta.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=used["AccessKeyId"],
        aws_secret_access_key=used["SecretAccessKey"],
    ).list_users()  # moto records the key's last use
    keys["quinn.keys"] = [used["AccessKeyId"], idle]
    iam.create_user(UserName="rita.ci")
    keys["rita.ci"] = [iam.create_access_key(UserName="rita.ci")["AccessKey"]["AccessKeyId"]]
    iam.create_user(UserName="comma,name", Tags=[{"Key": "kind", "Value": "odd"}])
    iam.create_login_profile(UserName="comma,name", Password="Correct-Horse-42")
    keys["comma,name"] = [iam.create_access_key(UserName="comma,name")["AccessKey"]["AccessKeyId"]]
    return keys


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


def without_password_change(events: list[dict]) -> list[dict]:
    """The events without the password's last change, which only the credential report knows
    (GetLoginProfile's CreateDate is the first password's creation, not its last change)."""
    stripped = copy.deepcopy(events)
    for e in stripped:
        e.get("unmapped", {}).get("aws_iam", {}).pop("password_last_changed_time", None)
        e["enrichments"][0]["data"].pop("last_time_password_change", None)
    return stripped


@pytest.mark.parametrize("access_key_ids", [True, False], ids=["key-ids", "no-key-ids"])
def test_bulk_and_per_user_produce_identical_events(iam, access_key_ids):
    seed_demo_organisation(iam)
    seed_credential_world(iam)
    per_user_users, per_user, _ = collect("per_user", access_key_ids=access_key_ids)
    bulk_users, bulk, _ = collect("bulk", access_key_ids=access_key_ids)
    assert without_password_change(bulk) == per_user
    changed = {
        e["user"]["name"] for e in bulk if "password_last_changed_time" in e["unmapped"]["aws_iam"]
    }
    assert changed == {"pat.console"}  # comma,name's report row is unusable: read per user
    assert {n: u.posture() for n, u in bulk_users.items()} == {
        n: u.posture() for n, u in per_user_users.items()
    }
    assert all(u.complete for u in bulk_users.values())


def test_bulk_costs_a_handful_of_calls_and_per_user_seven_per_user(iam):
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
    for api in ("GetUser", "GetLoginProfile", "ListAccessKeys"):
        assert per_user.calls[api] == n
    assert "GetAccessKeyLastUsed" not in per_user.calls  # the demo users hold no key


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

    with (
        restricted_reader(
            iam, iam_endpoint, monkeypatch, ["iam:GetAccountAuthorizationDetails"]
        ) as conn,
        pytest.raises(ClientError, match="AccessDenied"),
    ):
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
    with pytest.raises(NoAwsCredentialsError, match=r"'aws_empty'.*access key"):
        collect("per_user", "aws_empty")


# --- pagination (moto ignores MaxItems/Marker, so botocore's Stubber plays IAM) ----------------


def _user(i):
    return {
        "UserName": f"u{i}",
        "UserId": f"AIDAEXAMPLEUSER{i:05d}",
        "Arn": f"arn:aws:iam::123456789012:user/u{i}",
        "Path": "/",
        "CreateDate": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    }


def _group(name):
    return {
        "GroupName": name,
        "GroupId": "AGPAEXAMPLEGROUP" + name,
        "Path": "/",
        "Arn": f"arn:aws:iam::123456789012:group/{name}",
        "CreateDate": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    }


def _attached(name):
    return {"PolicyName": name, "PolicyArn": f"arn:aws:iam::aws:policy/{name}"}


def _key(key_id, status="Active"):
    return {
        "UserName": "u1",
        "AccessKeyId": key_id,
        "Status": status,
        "CreateDate": dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
    }


def _report(*rows: tuple[str, ...]) -> bytes:
    return "".join(",".join(line) + "\n" for line in [COLUMNS, *rows]).encode()


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
        stub.add_response(
            "get_user",
            {"User": {**_user(1), "Tags": [{"Key": "team", "Value": "a"}]}},
            {"UserName": "u1"},
        )
        stub.add_client_error(
            "get_login_profile",
            service_error_code="NoSuchEntity",
            http_status_code=404,
            expected_params={"UserName": "u1"},
        )
        stub.add_response(
            "list_access_keys",
            {
                "AccessKeyMetadata": [_key("AKIAU1FIRST000000001")],
                "IsTruncated": True,
                "Marker": "k1",
            },
            {"UserName": "u1"},
        )
        stub.add_response(
            "list_access_keys",
            {"AccessKeyMetadata": [_key("AKIAU1SECOND00000002", "Inactive")], "IsTruncated": False},
            {"UserName": "u1", "Marker": "k1"},
        )
        for key_id in ("AKIAU1FIRST000000001", "AKIAU1SECOND00000002"):
            stub.add_response(
                "get_access_key_last_used",
                {"UserName": "u1", "AccessKeyLastUsed": {"Region": "N/A", "ServiceName": "N/A"}},
                {"AccessKeyId": key_id},
            )
        [u1] = enrich_users(hook, listing.users[:1], listing.catalog)
        stub.assert_no_pending_responses()
    assert [u.name for u in listing.users] == ["u1", "u2", "u3", "u4"]
    assert listing.catalog.groups["A"].policy_names == ["ReadOnlyAccess", "AdministratorAccess"]
    assert [g.name for g in u1.groups] == ["A", "B"]
    assert u1.is_admin is True and u1.has_mfa is True
    assert (u1.tags, u1.password_enabled) == ({"team": "a"}, False)
    assert sorted((k.id, k.status) for k in u1.access_keys) == [
        ("AKIAU1FIRST000000001", "Active"),
        ("AKIAU1SECOND00000002", "Inactive"),
    ]


def test_account_authorization_details_are_read_across_pages(iam):
    hook = IamHook(aws_conn_id="aws_default")
    detail = {**_user(1), "GroupList": ["A"], "AttachedManagedPolicies": [], "UserPolicyList": []}
    group = {
        **_group("A"),
        "AttachedManagedPolicies": [_attached("AdministratorAccess")],
        "GroupPolicyList": [],
    }
    with Stubber(hook.client) as stub:
        # Asked before the details are paged (AWS builds it meanwhile); ready, so asked once.
        stub.add_response("generate_credential_report", {"State": "COMPLETE"})
        stub.add_response(
            "get_account_authorization_details",
            {"UserDetailList": [detail], "IsTruncated": True, "Marker": "a1"},
        )
        stub.add_response(
            "get_account_authorization_details",
            {"GroupDetailList": [group], "IsTruncated": False},
            {"Filter": ["User", "Group", "LocalManagedPolicy"], "MaxItems": 1000, "Marker": "a1"},
        )
        row = ("u1", "arn:aws:iam::123456789012:user/u1", "2024-01-01T00:00:00+00:00", "false")
        row += ("N/A",) * 3 + ("true",) + ("false", "N/A", "N/A", "N/A", "N/A") * 2
        row += ("false", "N/A") * 2
        stub.add_response(
            "get_credential_report", {"Content": _report(row), "ReportFormat": "text/csv"}
        )
        listing = list_users(hook, "bulk", Window())
        stub.assert_no_pending_responses()
    [u1] = listing.users
    assert u1.is_admin is True and u1.has_mfa is True
    assert (u1.password_enabled, u1.access_keys, u1.path) == (False, [], "/")
    assert listing.report_fallback_users == 0


def test_the_report_is_asked_for_before_the_details_and_not_waited_for_after_them(iam, monkeypatch):
    """AWS builds the report while the details are paged: no wait once they are read, and the
    same three calls as asking after them (STARTED, then COMPLETE, then the report)."""
    sleeps: list[float] = []
    monkeypatch.setattr("airflow_provider_awsiam_ocsf.hooks.iam.time.sleep", sleeps.append)
    hook = IamHook(aws_conn_id="aws_default")
    detail = {**_user(1), "GroupList": [], "AttachedManagedPolicies": [], "UserPolicyList": []}
    row = ("u1", "arn:aws:iam::123456789012:user/u1", "2024-01-01T00:00:00+00:00", "false")
    row += ("N/A",) * 3 + ("true",) + ("false", "N/A", "N/A", "N/A", "N/A") * 2
    row += ("false", "N/A") * 2
    with Stubber(hook.client) as stub:
        stub.add_response("generate_credential_report", {"State": "STARTED"})
        stub.add_response(
            "get_account_authorization_details", {"UserDetailList": [detail], "IsTruncated": False}
        )
        stub.add_response("generate_credential_report", {"State": "COMPLETE"})
        stub.add_response(
            "get_credential_report", {"Content": _report(row), "ReportFormat": "text/csv"}
        )
        listing = list_users(hook, "bulk", Window())
        stub.assert_no_pending_responses()
    assert sleeps == []
    assert [u.name for u in listing.users] == ["u1"] and listing.users[0].has_mfa is True
    assert dict(hook.calls) == {
        "GenerateCredentialReport": 2,
        "GetAccountAuthorizationDetails": 1,
        "GetCredentialReport": 1,
    }
