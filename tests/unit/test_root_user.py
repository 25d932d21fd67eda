"""The root user and the ``identities`` Param (SPEC §11): pure functions of literal data, the
credential report as AWS writes it (tests/data/credential_report.py starts with its
``<root_account>`` row), every event validated against OCSF 1.6.0 and Sekoia's model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sekoia_automation_models.ocsf.user import UserOCSFModel

from airflow_provider_awsiam_ocsf.credential_report import parse_credential_report
from airflow_provider_awsiam_ocsf.identities import check_identities, root_user
from airflow_provider_awsiam_ocsf.inventory import IamUser
from airflow_provider_awsiam_ocsf.ocsf import to_ocsf_user_inventory
from airflow_provider_awsiam_ocsf.state import HeldUser, SinkState, plan_sink
from tests.data.credential_report import ARN, COLUMNS, CREDENTIAL_REPORT, NO_CERTS, NO_KEY

ACCOUNT = "123456789012"
ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"
CREATED = datetime(2019, 3, 1, 8, 0, tzinfo=UTC)
WINDOW_END = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
SUMMARY = {"AccountMFAEnabled": 1, "AccountAccessKeysPresent": 0, "Users": 5}


def ms(value: datetime) -> int:
    return int(value.timestamp()) * 1000


def report_with_root(*root_fields: str) -> bytes:
    row = ("<root_account>", ARN + "root", "2019-03-01T08:00:00+00:00", *root_fields)
    assert len(row) == len(COLUMNS)
    return ("\n".join([",".join(COLUMNS), ",".join(row)]) + "\n").encode()


def root_event(user: IamUser, ocsf_validator) -> dict:
    event = to_ocsf_user_inventory(user, logged_time=WINDOW_END).as_dict()
    ocsf_validator(event)
    sekoia = UserOCSFModel.model_validate(event)
    assert sekoia.enrichments[0].model_dump(exclude_none=True) == event["enrichments"][0]
    return event


def test_the_report_keeps_the_root_row_apart_from_the_users():
    report = parse_credential_report(CREDENTIAL_REPORT)
    assert "<root_account>" not in report.rows and report.unusable_rows == 1  # dave,contractor
    assert report.root is not None and report.root.arn == ROOT_ARN
    assert report.root.user_creation_time == CREATED and report.root.mfa_active is True


def test_a_root_row_without_the_root_arn_is_not_used():
    text = CREDENTIAL_REPORT.decode().replace(ARN + "root,", ARN + "user/root,", 1)
    assert parse_credential_report(text).root is None


def test_root_event_is_every_line_of_the_spec(ocsf_validator):
    root = root_user(parse_credential_report(CREDENTIAL_REPORT).root, SUMMARY)
    e = root_event(root, ocsf_validator)
    assert e["time"] == ms(CREATED)
    assert e["metadata"]["product"]["name"] == "AWS IAM Asset Connector"
    assert e["user"] == {
        "name": "root",
        "uid": ROOT_ARN,
        "uid_alt": ACCOUNT,
        "type": "Admin",
        "type_id": 2,
        "has_mfa": True,
        "account": {"name": "root", "uid": ROOT_ARN, "type": "AWS Account", "type_id": 10},
        "org": {"name": f"AWS Account {ACCOUNT}", "uid": ACCOUNT},
        "ldap_person": {
            "created_time": ms(CREATED),
            "last_login_time": ms(datetime(2024, 11, 2, 10, tzinfo=UTC)),
        },
    }
    assert "programmatic_credentials" not in e["user"]  # root key ids are not listable
    # not_supported, what AWS reports for root's password, counts as a password
    assert e["enrichments"][0]["data"] == {
        "is_enabled": True,
        "last_logon": "2024-11-02T10:00:00+00:00",
    }
    assert e["unmapped"] == {"aws_iam": {"access_keys_active": 0, "access_keys_present": False}}


def test_account_summary_mfa_is_live_and_wins_over_the_report():
    row = parse_credential_report(CREDENTIAL_REPORT).root
    assert root_user(row, {"AccountMFAEnabled": 0, "AccountAccessKeysPresent": 0}).has_mfa is False
    assert root_user(row, None).has_mfa is True  # summary unread: the report's mfa_active


def test_root_active_keys_are_counted_and_enable_it_without_a_password(ocsf_validator):
    key_used = ("true", "2020-01-01T00:00:00+00:00", "2024-01-01T00:00:00+00:00", "us-east-1", "s3")
    key_off = ("false", "2021-01-01T00:00:00+00:00", "N/A", "N/A", "N/A")
    text = report_with_root("false", "N/A", "N/A", "N/A", "false", *key_used, *key_off, *NO_CERTS)
    root = root_user(parse_credential_report(text).root, {"AccountAccessKeysPresent": 1})
    e = root_event(root, ocsf_validator)
    assert e["unmapped"]["aws_iam"] == {"access_keys_active": 1, "access_keys_present": True}
    assert e["enrichments"][0]["data"] == {"is_enabled": True}
    assert e["user"]["has_mfa"] is False


def test_root_without_password_and_active_key_is_not_enabled(ocsf_validator):
    text = report_with_root("false", "N/A", "N/A", "N/A", "false", *NO_KEY, *NO_KEY, *NO_CERTS)
    root = root_user(parse_credential_report(text).root, SUMMARY)
    e = root_event(root, ocsf_validator)
    assert e["enrichments"][0]["data"] == {"is_enabled": False}
    assert "last_login_time" not in e["user"]["ldap_person"]


def test_a_root_read_without_account_summary_is_incomplete_and_sent_again_later():
    row = parse_credential_report(CREDENTIAL_REPORT).root
    partial, whole = root_user(row, None), root_user(row, SUMMARY)
    assert not partial.complete and whole.complete
    assert HeldUser.of(partial) != HeldUser.of(whole)


def test_root_fingerprint_follows_mfa():
    row = parse_credential_report(CREDENTIAL_REPORT).root
    with_mfa = root_user(row, {"AccountMFAEnabled": 1, "AccountAccessKeysPresent": 0})
    without = root_user(row, {"AccountMFAEnabled": 0, "AccountAccessKeysPresent": 0})
    assert HeldUser.of(with_mfa).fingerprint != HeldUser.of(without).fingerprint


# --- state: root is never concluded deleted ------------------------------------------------------


def iam_user(name: str, user_id: str) -> IamUser:
    return IamUser(
        name=name,
        user_id=user_id,
        arn=f"arn:aws:iam::{ACCOUNT}:user/{name}",
        created=CREATED,
        groups=[],
        grants_admin=False,
    )


def held_state(*users: IamUser) -> SinkState:
    return SinkState(users={u.user_id: HeldUser.of(u).encode() for u in users})


@pytest.mark.parametrize("full", [False, True])
def test_a_listing_without_root_never_tombstones_it_and_keeps_it_held(full):
    root = root_user(parse_credential_report(CREDENTIAL_REPORT).root, SUMMARY)
    alice, bob = iam_user("alice", "AIDAALICE"), iam_user("bob", "AIDABOB")
    plan = plan_sink([alice], held_state(root, alice, bob), full=full, detect_changes=True)
    assert [uid for uid, _ in plan.deleted] == ["AIDABOB"]
    assert ACCOUNT in plan.base.users  # root deselected or unreadable: still held


def test_an_iam_user_named_root_is_an_iam_user():
    named_root = iam_user("root", "AIDAROOTNAMED")
    plan = plan_sink([], held_state(named_root), full=False, detect_changes=True)
    assert [uid for uid, _ in plan.deleted] == ["AIDAROOTNAMED"]


def test_without_iam_users_selected_their_state_is_kept_and_nobody_is_tombstoned():
    root = root_user(parse_credential_report(CREDENTIAL_REPORT).root, SUMMARY)
    alice = iam_user("alice", "AIDAALICE")
    for full in (False, True):
        plan = plan_sink(
            [root], held_state(alice), full=full, detect_changes=True, iam_users_listed=False
        )
        assert plan.deleted == [] and "AIDAALICE" in plan.base.users


def test_root_changes_are_detected_even_when_the_listing_detects_no_others():
    row = parse_credential_report(CREDENTIAL_REPORT).root
    before = root_user(row, {"AccountMFAEnabled": 1, "AccountAccessKeysPresent": 0})
    after = root_user(row, {"AccountMFAEnabled": 0, "AccountAccessKeysPresent": 0})
    plan = plan_sink([after], held_state(before), full=False, detect_changes=False)  # per_user
    assert plan.actions == {ACCOUNT: "if_changed"}


# --- the Param ---------------------------------------------------------------------------------


def test_identities_refuse_unknown_kinds_and_an_empty_list_with_the_known_ones():
    assert check_identities(["root"]) == {"root"}
    assert check_identities("iam_users") == {"iam_users"}
    with pytest.raises(
        ValueError, match=r"\['iam_users', 'root', 'identity_center'\].*unknown: \['roots'\]"
    ):
        check_identities(["iam_users", "roots"])
    with pytest.raises(ValueError, match="non-empty"):
        check_identities([])


def test_identities_param_defaults_to_iam_users_and_root_and_validates():
    from airflow_provider_awsiam_ocsf.pipeline import inventory_params

    param = inventory_params()["identities"]
    assert param.resolve() == ["iam_users", "root"]
    assert param.schema["items"]["enum"] == ["iam_users", "root", "identity_center"]
    for bad in (["roots"], [], ["root", "root"], "root"):
        with pytest.raises(Exception, match="Failed validating"):
            param.resolve(bad)


def test_the_readme_root_event_is_what_the_mapping_makes(ocsf_validator):
    import json
    import re

    from airflow_provider_awsiam_ocsf import __version__
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### The root user") :]
    shown = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))
    shown["metadata"]["product"]["version"] = __version__
    root = root_user(parse_credential_report(CREDENTIAL_REPORT).root, SUMMARY)
    made = to_ocsf_user_inventory(
        root, logged_time=datetime.fromtimestamp(1795881600, tz=UTC)
    ).as_dict()
    ocsf_validator(made)
    assert shown == made


def test_an_upgrade_sends_root_which_the_previous_release_never_delivered():
    root = root_user(parse_credential_report(CREDENTIAL_REPORT).root, SUMMARY)
    alice = iam_user("alice", "AIDAALICE")
    upgraded = SinkState(checkpoint=WINDOW_END, adopt_before=WINDOW_END)  # legacy checkpoint
    plan = plan_sink([root, alice], upgraded, full=False, detect_changes=True)
    assert plan.actions == {ACCOUNT: "send", "AIDAALICE": "adopt"}
