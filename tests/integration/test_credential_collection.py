"""Identity and credential facts read from moto's IAM server over real HTTP, by both
strategies, with real denials from moto's permission enforcement."""

from __future__ import annotations

import pytest

from airflow_provider_awsiam_ocsf.collection import count_degradations
from devtools.demo_org import USERS, seed_demo_organisation
from tests.integration.test_iam_collection import (
    CREDENTIAL_USERS,
    PASSWORD_USED,
    WINDOW_END,
    collect,
    seed_credential_world,
)
from tests.support.iam_world import restricted_reader

STRATEGIES = ["per_user", "bulk"]


def ms(value) -> int:
    return int(value.replace(microsecond=0).timestamp()) * 1000


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_tags_path_password_and_keys_are_read(iam, strategy, ocsf_validator):
    keys = seed_credential_world(iam)
    users, events, _ = collect(strategy)
    for e in events:
        ocsf_validator(e)
        assert e["metadata"]["logged_time"] == ms(WINDOW_END)
    by_name = {e["user"]["name"]: e for e in events}

    pat = users["pat.console"]
    assert (pat.path, pat.tags) == ("/people/", {"team": "security", "Owner": "pat"})
    assert (pat.password_enabled, pat.access_keys) == (True, [])
    assert pat.password_last_used == PASSWORD_USED.replace(microsecond=0)
    pat_event = by_name["pat.console"]
    assert pat_event["user"]["ldap_person"]["tags"] == [
        {"name": "Owner", "value": "pat"},
        {"name": "team", "value": "security"},
    ]
    assert pat_event["user"]["ldap_person"]["last_login_time"] == ms(PASSWORD_USED)
    assert pat_event["enrichments"][0]["data"]["is_enabled"] is True
    assert pat_event["enrichments"][0]["data"]["last_logon"] == "2024-11-20T07:45:12+00:00"
    assert pat_event["unmapped"]["aws_iam"]["path"] == "/people/"

    used, idle = keys["quinn.keys"]
    quinn = {k.id: k for k in users["quinn.keys"].access_keys}
    assert (quinn[used].status, quinn[idle].status) == ("Active", "Inactive")
    assert quinn[used].last_used is not None and quinn[idle].last_used is None
    credentials = by_name["quinn.keys"]["user"]["programmatic_credentials"]
    assert [c["uid"] for c in credentials] == sorted([used, idle])
    assert {c["uid"]: "last_used_time" in c for c in credentials} == {used: True, idle: False}
    assert users["quinn.keys"].password_enabled is False

    rita = by_name["rita.ci"]
    assert rita["enrichments"][0]["data"] == {"is_enabled": True}  # an active key, no password
    assert rita["unmapped"]["aws_iam"]["password_enabled"] is False

    odd = users["comma,name"]
    assert (odd.password_enabled, odd.tags, [k.id for k in odd.access_keys]) == (
        True,
        {"kind": "odd"},
        keys["comma,name"],
    )
    for user in users.values():
        assert user.degraded == [] and user.complete
        assert user.permissions_boundary is None  # moto implements no user boundaries


def test_user_with_no_password_and_no_key_is_not_enabled(iam, ocsf_validator):
    seed_demo_organisation(iam)
    for strategy in STRATEGIES:
        _, events, _ = collect(strategy)
        for e in events:
            ocsf_validator(e)
            assert e["enrichments"][0]["data"] == {"is_enabled": False}
            assert e["user"]["programmatic_credentials"] == []


def test_bulk_reads_key_ids_with_one_list_access_keys_per_key_holder(iam):
    seed_credential_world(iam)
    users, _, hook = collect("bulk", access_key_ids=True)
    # quinn.keys and rita.ci: ListAccessKeys, last use from the report (matched to the second).
    # comma,name: its report row is unusable, so its report facts are read per user.
    assert hook.calls == {
        "GetAccountAuthorizationDetails": 1,
        "GenerateCredentialReport": 2,
        "GetCredentialReport": 1,
        "ListAccessKeys": 3,
        "GetAccessKeyLastUsed": 1,
        "ListMFADevices": 1,
        "GetUser": 1,
        "GetLoginProfile": 1,
    }
    assert users["quinn.keys"].access_keys[0].last_used is not None


def test_bulk_without_key_ids_stays_at_its_handful_of_calls(iam):
    seed_credential_world(iam)
    iam.delete_login_profile(UserName="comma,name")
    iam.delete_access_key(
        UserName="comma,name",
        AccessKeyId=iam.list_access_keys(UserName="comma,name")["AccessKeyMetadata"][0][
            "AccessKeyId"
        ],
    )
    iam.delete_user(UserName="comma,name")
    users, events, hook = collect("bulk", access_key_ids=False)
    assert hook.calls == {
        "GetAccountAuthorizationDetails": 1,
        "GenerateCredentialReport": 2,
        "GetCredentialReport": 1,
    }
    assert all(u.complete for u in users.values())
    assert all("programmatic_credentials" not in e["user"] for e in events)


def test_an_unusable_report_row_is_counted_and_its_user_read_per_user(iam):
    from airflow_provider_awsiam_ocsf.collection import list_users
    from airflow_provider_awsiam_ocsf.collection_plan import Window
    from airflow_provider_awsiam_ocsf.hooks.iam import IamHook

    seed_credential_world(iam)
    listing = list_users(IamHook(aws_conn_id="aws_default"), "bulk", Window())
    assert (listing.report_unusable_rows, listing.report_fallback_users) == (1, 1)
    odd = next(u for u in listing.users if u.name == "comma,name")
    assert (odd.has_mfa, odd.password_enabled, odd.access_keys) == (None, None, None)
    pat = next(u for u in listing.users if u.name == "pat.console")
    assert (pat.has_mfa, pat.password_enabled, pat.access_keys) == (False, True, [])


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_denied_login_profile_leaves_password_facts_out_and_keeps_the_user(
    iam, iam_endpoint, monkeypatch, strategy, ocsf_validator
):
    seed_credential_world(iam)
    denied = ["iam:GetLoginProfile"]
    if strategy == "bulk":  # bulk reads passwords per user only without the report
        denied += ["iam:GenerateCredentialReport", "iam:GetCredentialReport"]
    with restricted_reader(iam, iam_endpoint, monkeypatch, denied) as conn:
        users, events, _ = collect(strategy, conn)
    assert set(CREDENTIAL_USERS) <= set(users)
    by_name = {e["user"]["name"]: e for e in events}
    for e in events:
        ocsf_validator(e)
        assert "password_enabled" not in e["unmapped"]["aws_iam"]
    pat = users["pat.console"]
    assert pat.password_enabled is None
    assert [d.label for d in pat.degraded] == ["GetLoginProfile:AccessDenied"]
    assert not pat.complete
    # No key and an unknown password: whether pat can act is undecidable, so left out; the
    # password's last use (GetUser) is still known.
    assert by_name["pat.console"]["enrichments"][0]["data"] == {
        "last_logon": "2024-11-20T07:45:12+00:00"
    }
    assert by_name["quinn.keys"]["enrichments"][0]["data"] == {"is_enabled": True}
    assert count_degradations(users.values())["GetLoginProfile:AccessDenied"] == len(users)


def test_denied_key_last_use_keeps_the_key_ids(iam, iam_endpoint, monkeypatch, ocsf_validator):
    keys = seed_credential_world(iam)
    with restricted_reader(iam, iam_endpoint, monkeypatch, ["iam:GetAccessKeyLastUsed"]) as conn:
        users, events, _ = collect("per_user", conn)
    quinn = next(e for e in events if e["user"]["name"] == "quinn.keys")
    ocsf_validator(quinn)
    assert quinn["user"]["programmatic_credentials"] == [
        {"uid": uid, "type": "AWS Access Key"} for uid in sorted(keys["quinn.keys"])
    ]
    assert {d.label for d in users["quinn.keys"].degraded} == {"GetAccessKeyLastUsed:AccessDenied"}
    assert users["quinn.keys"].complete  # last use is not a posture fact


def test_demo_users_are_all_there_with_their_tags(iam):
    seed_demo_organisation(iam)
    for strategy in STRATEGIES:
        users, _, _ = collect(strategy)
        assert set(users) == set(USERS)
        assert users["alice.admin"].tags == {"team": "admin"}
