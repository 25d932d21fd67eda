"""IAM Identity Center users (SPEC §11): the admin rule for permission sets, the mapping and
what each sink is sent, from literal API data; every event validated against OCSF 1.6.0 and
Sekoia's model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sekoia_automation_models.ocsf.user import UserOCSFModel

from airflow_provider_awsiam_ocsf import __version__
from airflow_provider_awsiam_ocsf.identity_center import (
    Assignment,
    IdentityCenterSnapshot,
    PermissionSet,
    assess,
    permission_set_grants_admin,
    plan_identity_center,
    to_ocsf_deleted_identity_center_user,
    to_ocsf_identity_center_user,
    verdict_key,
)
from airflow_provider_awsiam_ocsf.state import SinkState

OWNER = "123456789012"
MEMBER = "222222222222"
INSTANCE = "arn:aws:sso:::instance/ssoins-1111111111111111"
WINDOW_END = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
CREATED = datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)
STAR = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'
)
READ = '{"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}'


def ps(name: str, admin: bool = False, customer: tuple[str, ...] = ()) -> PermissionSet:
    return PermissionSet(
        arn=f"{INSTANCE}/ps-{name}", name=name, grants_admin=admin, customer_policies=list(customer)
    )


def assign(principal: str, permission_set: str, account: str = OWNER, kind: str = "USER"):
    return Assignment(
        account=account,
        permission_set_arn=f"{INSTANCE}/ps-{permission_set}",
        principal_type=kind,
        principal_id=principal,
    )


def user(user_id: str, **fields) -> dict:
    return {"UserId": user_id, "UserName": user_id.lower(), **fields}


def snapshot(users, assignments=(), memberships=None, verdicts=None) -> IdentityCenterSnapshot:
    return IdentityCenterSnapshot(
        instance_arn=INSTANCE,
        identity_store_id="d-1234567890",
        owner=OWNER,
        partition="aws",
        users=list(users),
        groups={"g-admins": "Platform Admins", "g-eng": "Engineers"},
        memberships=memberships or {},
        permission_sets={
            p.arn: p
            for p in [
                ps("AdministratorAccess", admin=True),
                ps("Developer"),
                ps("Custom", customer=("/ops/AuditAdmin",)),
            ]
        },
        assignments=list(assignments),
        customer_verdicts=verdicts or {},
    )


def types(snap: IdentityCenterSnapshot) -> dict[str, bool | None]:
    return {u.user_id: u.is_admin for u in assess(snap)}


def event(snap: IdentityCenterSnapshot, ocsf_validator, index: int = 0) -> dict:
    e = to_ocsf_identity_center_user(assess(snap)[index], snap, window_end=WINDOW_END).as_dict()
    ocsf_validator(e)
    UserOCSFModel.model_validate(e)
    return e


def test_permission_set_admin_is_administrator_access_or_inline_star():
    admin_arn = "arn:aws:iam::aws:policy/AdministratorAccess"
    assert permission_set_grants_admin([admin_arn], "") is True
    assert permission_set_grants_admin(["arn:aws-us-gov:iam::aws:policy/AdministratorAccess"], "")
    assert permission_set_grants_admin([], STAR) is True
    assert permission_set_grants_admin(["arn:aws:iam::aws:policy/ReadOnlyAccess"], READ) is False
    assert permission_set_grants_admin(["arn:aws:iam::aws:policy/AdminNotes"], "") is False


def test_admin_directly_through_a_group_or_not_at_all():
    snap = snapshot(
        [user("DIRECT"), user("GROUPED"), user("DEV"), user("NOBODY")],
        [
            assign("DIRECT", "AdministratorAccess", account=MEMBER),
            assign("g-admins", "AdministratorAccess", kind="GROUP"),
            assign("DEV", "Developer"),
        ],
        memberships={"GROUPED": ["g-admins", "g-eng"]},
    )
    assert types(snap) == {"DIRECT": True, "GROUPED": True, "DEV": False, "NOBODY": False}


@pytest.mark.parametrize("verdict, expected", [(True, True), (False, False), (None, None)])
def test_customer_managed_reference_decides_in_the_assignments_account(verdict, expected):
    snap = snapshot(
        [user("CUSTOM")],
        [assign("CUSTOM", "Custom", account=MEMBER)],
        verdicts={verdict_key(MEMBER, f"{INSTANCE}/ps-Custom"): verdict},
    )
    assert types(snap) == {"CUSTOM": expected}


def test_an_undecided_assignment_gives_way_to_any_admin_one():
    snap = snapshot(
        [user("BOTH")],
        [assign("BOTH", "Custom", account=MEMBER), assign("BOTH", "AdministratorAccess")],
        verdicts={verdict_key(MEMBER, f"{INSTANCE}/ps-Custom"): None},
    )
    assert types(snap) == {"BOTH": True}


def test_every_line_of_the_identity_center_mapping(ocsf_validator):
    snap = snapshot(
        [
            user(
                "U1",
                UserArn="arn:aws:identitystore::123456789012:identitystore/d-1234567890/user/U1",
                DisplayName="Ann Lead",
                Emails=[
                    {"Value": "ann@home.example", "Primary": False},
                    {"Value": "ann@example.com", "Primary": True},
                ],
                CreatedAt=CREATED,
                UpdatedAt=datetime(2025, 6, 1, tzinfo=UTC),
                UserStatus="ENABLED",
            )
        ],
        [assign("g-admins", "AdministratorAccess", kind="GROUP", account=MEMBER)],
        memberships={"U1": ["g-admins"]},
    )
    e = event(snap, ocsf_validator)
    arn = "arn:aws:identitystore::123456789012:identitystore/d-1234567890/user/U1"
    assert e["time"] == int(CREATED.timestamp()) * 1000
    assert e["metadata"] == {
        "product": {"name": "AWS IAM Identity Center Asset Connector", "version": __version__},
        "version": "1.6.0",
        "logged_time": int(WINDOW_END.timestamp()) * 1000,
    }
    assert e["user"] == {
        "name": "u1",
        "uid": arn,
        "uid_alt": "U1",
        "display_name": "Ann Lead",
        "email_addr": "ann@example.com",
        "type": "Admin",
        "type_id": 2,
        "account": {"name": "u1", "uid": arn, "type": "Other", "type_id": 99},
        "groups": [
            {"name": "Platform Admins", "uid": "g-admins", "privileges": ["AdministratorAccess"]}
        ],
        "org": {"name": f"AWS Account {OWNER}", "uid": OWNER},
        "ldap_person": {
            "created_time": int(CREATED.timestamp()) * 1000,
            "modified_time": int(datetime(2025, 6, 1, tzinfo=UTC).timestamp()) * 1000,
        },
    }
    assert "has_mfa" not in e["user"]  # the API has no MFA facts: never guessed
    assert e["enrichments"] == [
        {"name": "account", "value": "status", "data": {"is_enabled": True}}
    ]
    assert e["unmapped"] == {
        "aws_identity_center": {
            "instance_arn": INSTANCE,
            "identity_store_id": "d-1234567890",
            "user_status": "ENABLED",
            "assignments": [{"account": MEMBER, "permission_set": "AdministratorAccess"}],
        }
    }


def test_what_the_api_does_not_give_is_left_out_or_falls_back(ocsf_validator):
    snap = snapshot([user("U2", Emails=[{"Value": "first@example.com"}, {"Value": "b@x.io"}])])
    e = event(snap, ocsf_validator)
    assert e["user"]["uid"] == f"arn:aws:identitystore::{OWNER}:user/U2"
    assert e["user"]["email_addr"] == "first@example.com"
    assert e["time"] == int(WINDOW_END.timestamp()) * 1000  # no CreatedAt: the window end
    assert "enrichments" not in e and "ldap_person" not in e["user"]  # no UserStatus, no times
    assert e["user"]["type"] == "User" and e["user"]["groups"] == []


def test_undecided_admin_type_is_left_out(ocsf_validator):
    snap = snapshot([user("U3")], [assign("U3", "Custom", account=MEMBER)])  # verdict unknown
    e = event(snap, ocsf_validator)
    assert "type_id" not in e["user"] and "type" not in e["user"]


def test_a_disabled_user_is_not_enabled(ocsf_validator):
    e = event(snapshot([user("U4", UserStatus="DISABLED")]), ocsf_validator)
    assert e["enrichments"][0]["data"] == {"is_enabled": False}


# --- what each sink is sent ----------------------------------------------------------------------


def held_state(snap: IdentityCenterSnapshot) -> SinkState:
    return SinkState(users={u.user_id: u.held().encode() for u in assess(snap)})


def test_sink_gets_new_and_changed_users_and_a_tombstone_for_a_removed_one(ocsf_validator):
    before = snapshot([user("A"), user("B"), user("GONE")])
    after = snapshot(
        [user("A"), user("B"), user("NEW")],
        [assign("g-admins", "AdministratorAccess", kind="GROUP")],
        memberships={"B": ["g-admins"]},  # B became admin through a group
    )
    plan = plan_identity_center(assess(after), held_state(before), full=False)
    assert plan.send == ["B", "NEW"] and plan.deleted == ["GONE"]
    assert plan.counts == {"changed": 1, "new": 1, "unchanged": 1, "deleted": 1}
    assert set(plan.users) == {"A", "B", "NEW"}
    held = held_state(before).held("GONE")
    tombstone = to_ocsf_deleted_identity_center_user(
        user_id="GONE", held=held, owner=OWNER, deleted_at=WINDOW_END
    ).as_dict()
    ocsf_validator(tombstone)
    UserOCSFModel.model_validate(tombstone)
    assert tombstone["user"]["name"] == "gone"
    assert tombstone["user"]["uid"] == f"arn:aws:identitystore::{OWNER}:user/GONE"
    assert tombstone["user"]["account"]["type_id"] == 99
    assert tombstone["user"]["ldap_person"] == {"deleted_time": tombstone["time"]}
    assert tombstone["enrichments"][0]["data"] == {"is_enabled": False}


def test_full_runs_send_everyone_and_unchanged_runs_nothing():
    snap = snapshot([user("A"), user("B")])
    assert plan_identity_center(assess(snap), held_state(snap), full=True).send == ["A", "B"]
    again = plan_identity_center(assess(snap), held_state(snap), full=False)
    assert again.send == [] and again.deleted == [] and again.counts == {"unchanged": 2}


def test_the_readme_identity_center_event_is_what_the_mapping_makes(ocsf_validator):
    import json
    import re

    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### IAM Identity Center users") :]
    shown = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))
    shown["metadata"]["product"]["version"] = __version__
    owner, store = OWNER, "d-9067a1b2c3"
    user_id = "94482488-3041-7026-18f3-be45837cd0e4"
    admins, engineers = (
        "c4f8d4a8-7061-70d4-2b9e-1f6a2f0e5d11",
        "a1b2c3d4-5061-70d4-2b9e-1f6a2f0e5d22",
    )
    prefix = "arn:aws:sso:::permissionSet/ssoins-7223a1b2c3d4e5f6"
    snap = IdentityCenterSnapshot(
        instance_arn="arn:aws:sso:::instance/ssoins-7223a1b2c3d4e5f6",
        identity_store_id=store,
        owner=owner,
        partition="aws",
        users=[
            {
                "UserId": user_id,
                "UserName": "ann.lead",
                "UserArn": f"arn:aws:identitystore::{owner}:identitystore/{store}/user/{user_id}",
                "DisplayName": "Ann Lead",
                "Emails": [{"Value": "ann.lead@example.com", "Type": "work", "Primary": True}],
                "CreatedAt": datetime(2025, 3, 4, 9, 15, tzinfo=UTC),
                "UpdatedAt": datetime(2026, 10, 2, 14, 0, tzinfo=UTC),
                "UserStatus": "ENABLED",
            }
        ],
        groups={admins: "Platform Admins", engineers: "Engineers"},
        memberships={user_id: [admins, engineers]},
        permission_sets={
            f"{prefix}/ps-1": PermissionSet(
                arn=f"{prefix}/ps-1", name="AdministratorAccess", grants_admin=True
            ),
            f"{prefix}/ps-2": PermissionSet(
                arn=f"{prefix}/ps-2", name="Developer", grants_admin=False
            ),
        },
        assignments=[
            Assignment(
                account="111111111111",
                permission_set_arn=f"{prefix}/ps-1",
                principal_type="GROUP",
                principal_id=admins,
            ),
            Assignment(
                account="222222222222",
                permission_set_arn=f"{prefix}/ps-2",
                principal_type="GROUP",
                principal_id=engineers,
            ),
        ],
    )
    made = to_ocsf_identity_center_user(
        assess(snap)[0], snap, window_end=datetime.fromtimestamp(1795881600, tz=UTC)
    ).as_dict()
    ocsf_validator(made)
    assert shown == made
