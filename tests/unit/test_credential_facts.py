"""Identity and credential facts: the credential report parser, the facts it and the
IAM payloads give, and their OCSF fields. Pure functions on literal payloads (tests/data)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sekoia_automation_models.ocsf.user import UserOCSFModel

from airflow_provider_awsiam_ocsf.credential_report import (
    attach_report_last_use,
    parse_credential_report,
)
from airflow_provider_awsiam_ocsf.inventory import (
    AccessKeyFacts,
    Degradation,
    IamUser,
    access_key_from_metadata,
    catalog_from_authorization_details,
    identity_facts,
    password_use_facts,
    user_from_authorization_detail,
    user_from_listing,
)
from airflow_provider_awsiam_ocsf.ocsf import to_ocsf_deleted_user, to_ocsf_user_inventory
from tests.data.credential_report import COLUMNS, CREDENTIAL_REPORT, ROWS
from tests.data.iam_users import ACCESS_KEYS, AUTHORIZATION_DETAILS, GET_USER

WINDOW_END = datetime(2024, 12, 2, 10, 0, tzinfo=UTC)
ALICE_ARN = "arn:aws:iam::123456789012:user/eng/alice.keys"
KEY_ONE, KEY_TWO = "AKIAALICEKEYONE00001", "AKIAALICEKEYTWO00002"


def ms(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp()) * 1000


def bulk_users(access_key_ids: bool = True) -> dict[str, IamUser]:
    """What bulk knows after the listing (GAAD + report), and with ids: ListAccessKeys matched to
    the report's key slots (what enrichment does, without the calls)."""
    catalog = catalog_from_authorization_details([AUTHORIZATION_DETAILS])
    report = parse_credential_report(CREDENTIAL_REPORT)
    users = {}
    for detail in AUTHORIZATION_DETAILS["UserDetailList"]:
        user = user_from_authorization_detail(detail, catalog)
        row = report.row_for(user.name, user.arn)
        if row is not None:
            user.learn(row.user_facts())
        if access_key_ids and user.name in ACCESS_KEYS:
            listed = [access_key_from_metadata(k) for k in ACCESS_KEYS[user.name]]
            user.access_keys, unmatched = attach_report_last_use(listed, user.access_keys)
            assert unmatched == []
        users[user.name] = user
    return users


def event_of(user: IamUser, ocsf_validator, access_key_ids: bool = True) -> dict:
    """The event, checked against the OCSF 1.6.0 schema and Sekoia's model."""
    event = to_ocsf_user_inventory(
        user, logged_time=WINDOW_END, access_key_ids=access_key_ids
    ).as_dict()
    ocsf_validator(event)
    sekoia = UserOCSFModel.model_validate(event)
    assert sekoia.enrichments[0].model_dump(exclude_none=True) == event["enrichments"][0]
    return event


# --- the credential report ---------------------------------------------------------------------


def test_report_row_parses_all_22_columns():
    report = parse_credential_report(CREDENTIAL_REPORT)
    alice = report.rows["alice.keys"]
    assert (alice.user, alice.arn) == ("alice.keys", ALICE_ARN)
    assert alice.user_creation_time == datetime(2023, 1, 10, 9, tzinfo=UTC)
    assert alice.password_enabled is True
    assert alice.password_last_used == datetime(2024, 11, 20, 7, 45, 12, tzinfo=UTC)
    assert alice.password_last_changed == datetime(2024, 6, 1, 12, tzinfo=UTC)
    assert alice.password_next_rotation == datetime(2024, 8, 30, 12, tzinfo=UTC)
    assert alice.mfa_active is True
    one, two = alice.access_keys
    assert (one.active, one.last_rotated, one.last_used_date) == (
        True,
        datetime(2023, 1, 10, 9, 5, tzinfo=UTC),
        datetime(2024, 11, 21, 18, 30, 45, tzinfo=UTC),
    )
    assert (one.last_used_region, one.last_used_service) == ("eu-west-1", "s3")
    assert (two.active, two.last_rotated, two.last_used_date, two.last_used_region) == (
        False,
        datetime(2023, 9, 14, 16, 20, 30, tzinfo=UTC),
        None,
        None,
    )
    assert [(c.active, c.last_rotated) for c in alice.certificates] == [(False, None)] * 2


def test_report_skips_the_root_row_and_drops_the_comma_row_whole():
    report = parse_credential_report(CREDENTIAL_REPORT)
    assert set(report.rows) == {"alice.keys", "bob.console", "carol.ci", "erin.idle", "dave"}
    assert report.unusable_rows == 1
    assert report.problems == {"wrong number of fields": 1}
    assert (
        report.row_for("dave,contractor", "arn:aws:iam::123456789012:user/dave,contractor") is None
    )


def test_comma_row_facts_are_never_shifted_onto_another_user():
    dave = parse_credential_report(CREDENTIAL_REPORT).rows["dave"]
    assert dave.user_creation_time == datetime(2023, 5, 2, tzinfo=UTC)
    assert dave.user_facts() == {
        "has_mfa": False,
        "password_enabled": False,
        "password_last_used": None,
        "password_last_used_read": True,
        "password_last_changed": None,
        "access_keys": [],
    }
    users = bulk_users()
    contractor = users["dave,contractor"]  # falls back to per-user calls: nothing known yet
    assert (contractor.has_mfa, contractor.password_enabled, contractor.access_keys) == (
        None,
        None,
        None,
    )
    assert contractor.password_last_used_read is False


def _report(columns, rows) -> str:
    return "".join(",".join(line) + "\n" for line in [columns, *rows])


@pytest.mark.parametrize(
    "columns",
    [
        COLUMNS[:-1],  # a column missing
        (*COLUMNS, "access_key_3_active"),  # an unknown column
        ("username", *COLUMNS[1:]),  # a renamed column
    ],
    ids=["missing", "unknown", "renamed"],
)
def test_a_header_that_is_not_the_22_columns_makes_every_row_unusable(columns):
    rows = [row[: len(columns)] + ("x",) * (len(columns) - len(row)) for row in ROWS]
    report = parse_credential_report(_report(columns, rows))
    assert report.rows == {}
    assert report.unusable_rows == len(ROWS) - 1  # the root row is not a user's


def test_columns_in_another_order_are_read_by_name():
    order = list(reversed(range(len(COLUMNS))))
    text = _report([COLUMNS[i] for i in order], [[row[i] for i in order] for row in ROWS])
    assert parse_credential_report(text) == parse_credential_report(CREDENTIAL_REPORT)


def test_rows_whose_user_and_arn_disagree_or_values_do_not_parse_are_unusable():
    alice = ROWS[1]
    wrong_arn = (alice[0], "arn:aws:iam::123456789012:user/bob.console", *alice[2:])
    bad_bool = (*alice[:7], "yes", *alice[8:])
    bad_time = (*alice[:4], "last tuesday", *alice[5:])
    for broken, problem in [
        (wrong_arn, "user and arn disagree"),
        (bad_bool, "bad value"),
        (bad_time, "bad value"),
    ]:
        report = parse_credential_report(_report(COLUMNS, [broken, ROWS[2]]))
        assert set(report.rows) == {"bob.console"}
        assert report.problems == {problem: 1}


def test_a_user_named_by_two_rows_gets_no_facts_from_either():
    report = parse_credential_report(_report(COLUMNS, [ROWS[2], ROWS[2], ROWS[3]]))
    assert set(report.rows) == {"carol.ci"}
    assert report.unusable_rows == 2


def test_a_row_is_used_only_for_the_user_with_its_arn():
    report = parse_credential_report(CREDENTIAL_REPORT)
    assert report.row_for("bob.console", "arn:aws:iam::123456789012:user/bob.console")
    assert report.row_for("bob.console", "arn:aws:iam::123456789012:user/ops/bob.console") is None


def test_empty_report_has_no_rows():
    assert parse_credential_report(b"").rows == {}


# --- facts -------------------------------------------------------------------------------------


def test_report_facts_of_each_user():
    users = bulk_users(access_key_ids=False)
    alice = users["alice.keys"]
    assert (alice.has_mfa, alice.password_enabled) == (True, True)
    assert alice.password_last_used == datetime(2024, 11, 20, 7, 45, 12, tzinfo=UTC)
    assert alice.password_last_changed == datetime(2024, 6, 1, 12, tzinfo=UTC)
    assert [(k.id, k.status, k.created, k.last_used) for k in alice.access_keys] == [
        (
            None,
            "Active",
            datetime(2023, 1, 10, 9, 5, tzinfo=UTC),
            datetime(2024, 11, 21, 18, 30, 45, tzinfo=UTC),
        ),
        (None, "Inactive", datetime(2023, 9, 14, 16, 20, 30, tzinfo=UTC), None),
    ]
    bob = users["bob.console"]  # password never used: known, and left out
    assert (bob.password_enabled, bob.password_last_used, bob.password_last_used_read) == (
        True,
        None,
        True,
    )
    assert bob.access_keys == []
    carol = users["carol.ci"]  # no password: neither its last use nor its last change
    assert (carol.password_enabled, carol.password_last_changed) == (False, None)
    assert [k.status for k in carol.access_keys] == ["Active"]


def test_identity_facts_from_gaad_and_from_get_user_are_the_same():
    users = bulk_users()
    alice = users["alice.keys"]
    assert alice.path == "/eng/"
    assert alice.tags == {"team": "platform", "Owner": "alice@example.com", "cost-center": ""}
    assert alice.permissions_boundary == "arn:aws:iam::123456789012:policy/DeveloperBoundary"
    assert alice.identity_read
    from_get_user = identity_facts(GET_USER)
    assert from_get_user == {
        k: getattr(alice, k) for k in ("path", "tags", "permissions_boundary", "identity_read")
    }
    assert password_use_facts(GET_USER)["password_last_used"] == GET_USER["PasswordLastUsed"]
    bob = users["bob.console"]  # no Tags, no boundary in GAAD: none, not unknown
    assert (bob.tags, bob.permissions_boundary, bob.identity_read) == ({}, None, True)


def test_list_users_gives_path_and_password_use_but_not_tags_or_boundary():
    listed = user_from_listing({**GET_USER, "Tags": None, "PermissionsBoundary": None})
    assert listed.path == "/eng/"
    assert listed.password_last_used == datetime(2024, 11, 20, 7, 45, 12, tzinfo=UTC)
    assert listed.password_last_used_read
    assert (listed.tags, listed.identity_read) == (None, False)


def test_listed_keys_take_last_use_of_the_report_slot_created_in_the_same_second():
    alice = bulk_users()["alice.keys"]
    assert [(k.id, k.status, k.last_used) for k in alice.access_keys] == [
        (KEY_TWO, "Inactive", None),
        (KEY_ONE, "Active", datetime(2024, 11, 21, 18, 30, 45, tzinfo=UTC)),
    ]


def test_keys_without_an_exact_one_to_one_match_are_left_for_get_access_key_last_used():
    created = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    used = datetime(2024, 2, 1, tzinfo=UTC)
    slot = AccessKeyFacts(status="Active", created=created, last_used=used)
    same_second = [
        AccessKeyFacts(id="AKIA1", status="Active", created=created.replace(microsecond=10)),
        AccessKeyFacts(id="AKIA2", status="Active", created=created.replace(microsecond=900)),
    ]
    keys, unmatched = attach_report_last_use(same_second, [slot, slot.model_copy()])
    assert [k.id for k in unmatched] == ["AKIA1", "AKIA2"]
    assert all(k.last_used is None for k in keys)
    later = [AccessKeyFacts(id="AKIA3", status="Active", created=created.replace(second=1))]
    keys, unmatched = attach_report_last_use(later, [slot])
    assert [k.id for k in unmatched] == ["AKIA3"] and keys[0].last_used is None


def test_posture_is_the_same_from_the_report_as_from_list_access_keys():
    with_ids, report_only = bulk_users(True)["alice.keys"], bulk_users(False)["alice.keys"]
    assert with_ids.posture() == report_only.posture()
    assert with_ids.posture() == {
        "groups": [{"name": "Developers", "privileges": ["PowerUserAccess"]}],
        "is_admin": False,
        "has_mfa": True,
        "password_enabled": True,
        "access_keys": [
            ["2023-01-10T09:05:00+00:00", "Active"],
            ["2023-09-14T16:20:30+00:00", "Inactive"],
        ],
        "tags": {"Owner": "alice@example.com", "cost-center": "", "team": "platform"},
        "path": "/eng/",
        "permissions_boundary": "arn:aws:iam::123456789012:policy/DeveloperBoundary",
    }
    assert with_ids.complete


def test_posture_ignores_last_use_and_tells_none_from_unknown():
    users = bulk_users()
    erin = users["erin.idle"]
    used = erin.model_copy(update={"password_last_used": datetime(2024, 1, 1, tzinfo=UTC)})
    assert used.posture() == erin.posture()
    assert erin.posture()["permissions_boundary"] == "" and erin.posture()["tags"] == {}
    assert erin.complete
    unknown = users["dave,contractor"].posture()
    assert [k for k, v in unknown.items() if v is None] == [
        "has_mfa",
        "password_enabled",
        "access_keys",
    ]
    assert not users["dave,contractor"].complete
    listed = user_from_listing(GET_USER)
    assert listed.posture()["permissions_boundary"] is None and listed.posture()["tags"] is None


def test_expired_keys_count_as_inactive_in_the_posture():
    created = datetime(2024, 1, 1, tzinfo=UTC)
    expired = IamUser(
        name="x",
        user_id="AIDAX",
        arn="arn:aws:iam::123456789012:user/x",
        created=created,
        access_keys=[AccessKeyFacts(id="AKIAX", status="Expired", created=created)],
    )
    assert expired.posture()["access_keys"] == [["2024-01-01T00:00:00+00:00", "Inactive"]]


def test_degradation_label_is_api_colon_code():
    assert Degradation(api="GetLoginProfile", code="AccessDenied").label == (
        "GetLoginProfile:AccessDenied"
    )


# --- the OCSF fields ---------------------------------------------------------------------------


def test_every_identity_and_credential_field_of_a_user_with_two_keys(ocsf_validator):
    e = event_of(bulk_users()["alice.keys"], ocsf_validator)
    assert e["time"] == ms(2023, 1, 10, 9) + 250
    assert e["metadata"]["logged_time"] == ms(2024, 12, 2, 10)
    assert e["user"]["ldap_person"] == {
        "created_time": ms(2023, 1, 10, 9) + 250,
        "last_login_time": ms(2024, 11, 20, 7, 45, 12),
        "tags": [  # code-point order: upper case first
            {"name": "Owner", "value": "alice@example.com"},
            {"name": "cost-center", "value": ""},
            {"name": "team", "value": "platform"},
        ],
    }
    assert e["user"]["programmatic_credentials"] == [
        {"uid": KEY_ONE, "type": "AWS Access Key", "last_used_time": ms(2024, 11, 21, 18, 30, 45)},
        {"uid": KEY_TWO, "type": "AWS Access Key"},
    ]
    assert e["unmapped"] == {
        "aws_iam": {
            "password_enabled": True,
            "password_last_changed_time": ms(2024, 6, 1, 12),
            "access_keys": [
                {"uid": KEY_ONE, "status": "Active", "created_time": ms(2023, 1, 10, 9, 5)},
                {"uid": KEY_TWO, "status": "Inactive", "created_time": ms(2023, 9, 14, 16, 20, 30)},
            ],
            "path": "/eng/",
            "permissions_boundary": "arn:aws:iam::123456789012:policy/DeveloperBoundary",
        }
    }
    assert e["enrichments"] == [
        {
            "name": "account",
            "value": "status",
            "data": {
                "is_enabled": True,
                "last_logon": "2024-11-20T07:45:12+00:00",
                "last_time_password_change": int(datetime(2024, 6, 1, 12, tzinfo=UTC).timestamp()),
            },
        }
    ]


def test_access_key_ids_off_leaves_every_key_id_out(ocsf_validator):
    report_only = event_of(bulk_users(False)["alice.keys"], ocsf_validator, access_key_ids=False)
    listed = event_of(bulk_users(True)["alice.keys"], ocsf_validator, access_key_ids=False)
    assert report_only == listed
    assert "programmatic_credentials" not in listed["user"]
    assert [k.get("uid") for k in listed["unmapped"]["aws_iam"]["access_keys"]] == [None, None]


def test_keys_known_from_the_report_only_give_no_programmatic_credentials(ocsf_validator):
    e = event_of(bulk_users(False)["alice.keys"], ocsf_validator, access_key_ids=True)
    assert "programmatic_credentials" not in e["user"]
    assert [k["status"] for k in e["unmapped"]["aws_iam"]["access_keys"]] == ["Active", "Inactive"]


def test_a_user_known_to_hold_no_key_has_an_empty_credential_list(ocsf_validator):
    e = event_of(bulk_users()["bob.console"], ocsf_validator)
    assert e["user"]["programmatic_credentials"] == []
    assert e["unmapped"]["aws_iam"]["access_keys"] == []


def test_never_used_password_and_no_tags_are_left_out(ocsf_validator):
    e = event_of(bulk_users()["bob.console"], ocsf_validator)
    assert e["user"]["ldap_person"] == {"created_time": ms(2023, 2, 1, 10)}
    assert e["enrichments"][0]["data"] == {
        "is_enabled": True,
        "last_time_password_change": int(datetime(2023, 2, 1, 10, 0, 5, tzinfo=UTC).timestamp()),
    }
    assert e["unmapped"]["aws_iam"] == {
        "password_enabled": True,
        "password_last_changed_time": ms(2023, 2, 1, 10, 0, 5),
        "access_keys": [],
        "path": "/",
    }


def test_user_without_password_has_no_password_dates(ocsf_validator):
    e = event_of(bulk_users()["carol.ci"], ocsf_validator)
    assert "last_login_time" not in e["user"]["ldap_person"]
    assert e["enrichments"][0]["data"] == {"is_enabled": True}  # through its active key
    assert e["unmapped"]["aws_iam"]["password_enabled"] is False
    assert "password_last_changed_time" not in e["unmapped"]["aws_iam"]


def test_user_with_unknown_credential_facts_leaves_them_out(ocsf_validator):
    e = event_of(bulk_users()["dave,contractor"], ocsf_validator)
    assert e["enrichments"][0]["data"] == {}
    assert e["unmapped"]["aws_iam"] == {"path": "/"}
    assert "has_mfa" not in e["user"] and "programmatic_credentials" not in e["user"]


def test_a_user_with_nothing_but_its_listing_has_no_unmapped_object(ocsf_validator):
    bare = IamUser(
        name="x", user_id="AIDAX", arn="arn:aws:iam::123456789012:user/x", created=WINDOW_END
    )
    e = event_of(bare, ocsf_validator)
    assert "unmapped" not in e and e["enrichments"] == [
        {"name": "account", "value": "status", "data": {}}
    ]


def test_without_a_logged_time_metadata_has_none():
    e = to_ocsf_user_inventory(bulk_users()["erin.idle"]).as_dict()
    assert "logged_time" not in e["metadata"]


@pytest.mark.parametrize(
    ("password", "keys", "enabled"),
    [
        (True, [], True),
        (False, ["Active"], True),
        (False, ["Inactive", "Active"], True),
        (True, None, True),  # any evidence is enough
        (None, ["Active"], True),
        (False, [], False),
        (False, ["Inactive"], False),
        (False, None, None),  # undecidable: keys unknown
        (None, ["Inactive"], None),  # undecidable: password unknown
        (None, None, None),
    ],
)
def test_is_enabled_is_a_password_or_an_active_key(password, keys, enabled, ocsf_validator):
    created = datetime(2024, 1, 1, tzinfo=UTC)
    user = IamUser(
        name="x",
        user_id="AIDAX",
        arn="arn:aws:iam::123456789012:user/x",
        created=created,
        password_enabled=password,
        access_keys=None
        if keys is None
        else [AccessKeyFacts(id=f"AKIA{n}", status=s, created=created) for n, s in enumerate(keys)],
    )
    assert user.is_enabled is enabled
    data = event_of(user, ocsf_validator)["enrichments"][0]["data"]
    assert data.get("is_enabled") is enabled


def test_deleted_user_tombstone(ocsf_validator):
    gone = datetime(2024, 12, 2, 10, tzinfo=UTC)
    e = to_ocsf_deleted_user(
        name="mallory",
        arn="arn:aws:iam::123456789012:user/mallory",
        user_id="AIDAMALLORY",
        deleted_at=gone,
    ).as_dict()
    ocsf_validator(e)
    UserOCSFModel.model_validate(e)
    assert (e["class_uid"], e["activity_id"], e["type_uid"]) == (5003, 2, 500302)
    assert e["time"] == e["metadata"]["logged_time"] == ms(2024, 12, 2, 10)
    assert e["user"] == {
        "name": "mallory",
        "uid": "arn:aws:iam::123456789012:user/mallory",
        "uid_alt": "AIDAMALLORY",
        "account": {
            "name": "mallory",
            "uid": "arn:aws:iam::123456789012:user/mallory",
            "type": "AWS Account",
            "type_id": 10,
        },
        "org": {"uid": "123456789012", "name": "AWS Account 123456789012"},
        "ldap_person": {"deleted_time": ms(2024, 12, 2, 10)},
    }
    assert e["enrichments"] == [
        {"name": "account", "value": "status", "data": {"is_enabled": False}}
    ]
    assert "unmapped" not in e


def test_tombstone_without_a_user_id_leaves_uid_alt_out(ocsf_validator):
    e = to_ocsf_deleted_user(
        name="x", arn="arn:aws:iam::123456789012:user/x", user_id=None, deleted_at=WINDOW_END
    ).as_dict()
    ocsf_validator(e)
    assert "uid_alt" not in e["user"]


def test_enrichments_survive_sekoia_model(ocsf_validator):
    e = event_of(bulk_users()["alice.keys"], ocsf_validator)
    data = UserOCSFModel.model_validate(e).enrichments[0].data
    assert (data.is_enabled, data.last_logon) == (True, "2024-11-20T07:45:12+00:00")
    assert (
        data.last_time_password_change == e["enrichments"][0]["data"]["last_time_password_change"]
    )
