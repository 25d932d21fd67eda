"""IAM Identity Center users (SPEC §11): what is known of them, who is admin, their OCSF event
and what each sink needs of them (pure: plain data in, plain data out; no boto3, no Airflow).

``identity_center_collection`` reads an :class:`IdentityCenterSnapshot` (the instance's users,
groups, memberships, permission sets and account assignments); :func:`assess` turns it into one
:class:`IdentityCenterUser` per user; :func:`to_ocsf_identity_center_user` maps one;
:func:`plan_identity_center` says what a sink is sent and what it then holds.

Identity Center has its own state per sink (``state_store.identity_center_state_key``): its users
are never tombstoned by an IAM listing, nor IAM users by an Identity Center read. Every read is
complete (any failed page fails the task), so every run detects changes and deletions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_awsiam_ocsf import __version__
from airflow_provider_awsiam_ocsf.inventory import as_utc
from airflow_provider_awsiam_ocsf.ocsf import (
    USER_TYPE_IDS,
    Account,
    AccountStatus,
    AccountStatusEnrichment,
    Group,
    IdentityCenterAssignment,
    IdentityCenterFacts,
    LdapPerson,
    Metadata,
    Organization,
    Product,
    Unmapped,
    User,
    UserInventoryEvent,
    epoch_ms,
)
from airflow_provider_awsiam_ocsf.policies import (
    document_grants_admin,
    is_administrator_access_arn,
)
from airflow_provider_awsiam_ocsf.state import HeldUser, SinkState, fingerprint

PRODUCT_NAME = "AWS IAM Identity Center Asset Connector"
OTHER_ACCOUNT_TYPE_ID: Literal[99] = 99


class PermissionSet(BaseModel):
    """A permission set as far as the admin rule needs it."""

    arn: str
    name: str
    grants_admin: bool = Field(
        description="AWS-managed AdministratorAccess, or an inline policy granting * on *."
    )
    customer_policies: list[str] = Field(
        default_factory=list,
        description="Customer-managed policy references, as path + name (e.g. /ops/Admin).",
    )


class Assignment(BaseModel):
    model_config = ConfigDict(frozen=True)

    account: str
    permission_set_arn: str
    principal_type: Literal["USER", "GROUP"]
    principal_id: str


class IdentityCenterSnapshot(BaseModel):
    """Everything one read of the instance gave."""

    instance_arn: str
    identity_store_id: str
    owner: str  # the account holding the instance
    partition: str
    users: list[dict[str, Any]]  # identitystore ListUsers entries, as the API gives them
    groups: dict[str, str]  # GroupId -> DisplayName
    memberships: dict[str, list[str]]  # UserId -> GroupIds
    permission_sets: dict[str, PermissionSet]  # by ARN
    assignments: list[Assignment]
    customer_verdicts: dict[str, bool | None] = Field(
        default_factory=dict,
        description="'<account> <permission set ARN>' -> whether its customer-managed policies "
        "grant * on * in that account (None: unreadable).",
    )


def permission_set_grants_admin(managed_policy_arns: Iterable[str], inline_policy: str) -> bool:
    """AWS-managed AdministratorAccess, or an inline policy with ``*`` on ``*``."""
    if any(is_administrator_access_arn(arn) for arn in managed_policy_arns):
        return True
    return bool(inline_policy) and document_grants_admin(inline_policy)


def verdict_key(account: str, permission_set_arn: str) -> str:
    return f"{account} {permission_set_arn}"


def assignment_grants_admin(snapshot: IdentityCenterSnapshot, a: Assignment) -> bool | None:
    """Does this assignment make its principal admin of its account (None: undecidable)."""
    permission_set = snapshot.permission_sets.get(a.permission_set_arn)
    if permission_set is None:
        return None
    if permission_set.grants_admin:
        return True
    if not permission_set.customer_policies:
        return False
    return snapshot.customer_verdicts.get(verdict_key(a.account, a.permission_set_arn))


class IdentityCenterUser(BaseModel):
    """One user as assessed: what its event says and its fingerprint covers."""

    uid: str
    user_id: str
    name: str
    display_name: str | None = None
    email: str | None = None
    created: datetime | None = None
    modified: datetime | None = None
    status: str | None = None
    groups: list[dict[str, Any]]  # {uid, name, privileges}, sorted by name then uid
    assignments: list[tuple[str, str]]  # (account, permission set name), sorted
    is_admin: bool | None

    def posture(self) -> dict[str, Any]:
        """The facts whose change re-sends the user (times left out: they are not posture)."""
        return {
            "name": self.name,
            "display_name": self.display_name,
            "email": self.email,
            "status": self.status,
            "groups": [[g["uid"], g["name"], g["privileges"]] for g in self.groups],
            "assignments": [list(a) for a in self.assignments],
            "is_admin": self.is_admin,
        }

    def held(self) -> HeldUser:
        """As a sink holds it: complete when the admin type was decided."""
        return HeldUser(
            fingerprint=fingerprint(self.posture()),
            complete=self.is_admin is not None,
            tail=f"{self.uid} {self.name}",
        )


def user_uid(snapshot: IdentityCenterSnapshot, user: Mapping[str, Any]) -> str:
    """UserArn when the API gives it, else ``arn:<partition>:identitystore::<owner>:user/<id>``."""
    return user.get("UserArn") or (
        f"arn:{snapshot.partition}:identitystore::{snapshot.owner}:user/{user['UserId']}"
    )


def primary_email(user: Mapping[str, Any]) -> str | None:
    """The email flagged primary, else the first."""
    emails = [e for e in user.get("Emails") or [] if e.get("Value")]
    primary = [e for e in emails if e.get("Primary")]
    return (primary or emails or [{}])[0].get("Value")


def assess(snapshot: IdentityCenterSnapshot) -> list[IdentityCenterUser]:
    """One :class:`IdentityCenterUser` per user of the snapshot, sorted by name."""
    names = {arn: ps.name for arn, ps in snapshot.permission_sets.items()}
    by_principal: dict[tuple[str, str], list[Assignment]] = {}
    for a in snapshot.assignments:
        by_principal.setdefault((a.principal_type, a.principal_id), []).append(a)
    assessed = []
    for raw in snapshot.users:
        user_id = raw["UserId"]
        group_ids = snapshot.memberships.get(user_id, [])
        mine = list(by_principal.get(("USER", user_id), []))
        groups = []
        for group_id in group_ids:
            granted = by_principal.get(("GROUP", group_id), [])
            mine.extend(granted)
            privileges = sorted(
                {names.get(a.permission_set_arn, a.permission_set_arn) for a in granted}
            )
            groups.append(
                {
                    "uid": group_id,
                    "name": snapshot.groups.get(group_id, group_id),
                    "privileges": privileges,
                }
            )
        verdicts = [assignment_grants_admin(snapshot, a) for a in mine]
        is_admin: bool | None
        if any(v is True for v in verdicts):
            is_admin = True
        elif any(v is None for v in verdicts):
            is_admin = None
        else:
            is_admin = False
        assessed.append(
            IdentityCenterUser(
                uid=user_uid(snapshot, raw),
                user_id=user_id,
                name=raw["UserName"],
                display_name=raw.get("DisplayName") or None,
                email=primary_email(raw),
                created=raw.get("CreatedAt"),
                modified=raw.get("UpdatedAt"),
                status=raw.get("UserStatus"),
                groups=sorted(groups, key=lambda g: (g["name"], g["uid"])),
                assignments=sorted(
                    {
                        (a.account, names.get(a.permission_set_arn, a.permission_set_arn))
                        for a in mine
                    }
                ),
                is_admin=is_admin,
            )
        )
    return sorted(assessed, key=lambda u: (u.name, u.user_id))


def _metadata(logged_time: datetime) -> Metadata:
    return Metadata(
        product=Product(name=PRODUCT_NAME, version=__version__), logged_time=epoch_ms(logged_time)
    )


def _org(owner: str) -> Organization:
    return Organization(uid=owner, name=f"AWS Account {owner}")


def _account(name: str, uid: str) -> Account:
    return Account(name=name, uid=uid, type="Other", type_id=OTHER_ACCOUNT_TYPE_ID)


def to_ocsf_identity_center_user(
    user: IdentityCenterUser,
    snapshot: IdentityCenterSnapshot,
    *,
    window_end: datetime,
) -> UserInventoryEvent:
    """The OCSF event of one Identity Center user (README, "IAM Identity Center users").

    ``time`` is ``CreatedAt`` when the API gives it, else ``window_end`` (also
    ``metadata.logged_time``). MFA and sign-in facts do not exist in the API: left out.
    """
    type_name: Literal["User", "Admin"] | None = None
    if user.is_admin is not None:
        type_name = "Admin" if user.is_admin else "User"
    created = None if user.created is None else epoch_ms(as_utc(user.created))
    modified = None if user.modified is None else epoch_ms(as_utc(user.modified))
    enrichments = None
    if user.status is not None:
        status = AccountStatus(is_enabled=user.status == "ENABLED")
        enrichments = [AccountStatusEnrichment(data=status)]
    return UserInventoryEvent(
        time=created if created is not None else epoch_ms(window_end),
        metadata=_metadata(window_end),
        user=User(
            name=user.name,
            uid=user.uid,
            uid_alt=user.user_id,
            display_name=user.display_name,
            email_addr=user.email,
            type=type_name,
            type_id=None if type_name is None else USER_TYPE_IDS[type_name],
            account=_account(user.name, user.uid),
            groups=[
                Group(uid=g["uid"], name=g["name"], privileges=g["privileges"]) for g in user.groups
            ],
            org=_org(snapshot.owner),
            ldap_person=LdapPerson(created_time=created, modified_time=modified)
            if created is not None or modified is not None
            else None,
        ),
        enrichments=enrichments,
        unmapped=Unmapped(
            aws_identity_center=IdentityCenterFacts(
                instance_arn=snapshot.instance_arn,
                identity_store_id=snapshot.identity_store_id,
                user_status=user.status,
                assignments=[
                    IdentityCenterAssignment(account=account, permission_set=name)
                    for account, name in user.assignments
                ],
            )
        ),
    )


def to_ocsf_deleted_identity_center_user(
    *, user_id: str, held: HeldUser, owner: str, deleted_at: datetime
) -> UserInventoryEvent:
    """The tombstone of a user the sink holds and the instance no longer has (§5's shape)."""
    uid, _, name = held.tail.rpartition(" ")
    moment = epoch_ms(deleted_at)
    return UserInventoryEvent(
        time=moment,
        metadata=_metadata(deleted_at),
        user=User(
            name=name,
            uid=uid,
            uid_alt=user_id,
            account=_account(name, uid),
            org=_org(owner),
            ldap_person=LdapPerson(deleted_time=moment),
        ),
        enrichments=[AccountStatusEnrichment(data=AccountStatus(is_enabled=False))],
    )


class IdentityCenterPlan(BaseModel):
    """What one sink is sent this run, and what it holds once it accepted it."""

    send: list[str]  # user ids to send, in the order of the users
    deleted: list[str]  # user ids held and no longer in the instance
    counts: dict[str, int]  # state.Reason -> users
    users: dict[str, str]  # the state's users once the sink accepted everything


def plan_identity_center(
    users: Iterable[IdentityCenterUser], state: SinkState, *, full: bool
) -> IdentityCenterPlan:
    """New, changed, incomplete-before and (on ``full`` runs) every user are sent; users the
    sink holds that the instance no longer has are deleted (their tombstone is sent)."""
    users = list(users)
    send, counts = [], {"new": 0, "changed": 0, "incomplete_retried": 0, "unchanged": 0}
    recorded = {}
    for user in users:
        now = user.held()
        recorded[user.user_id] = now.encode()
        before = state.held(user.user_id)
        if before is None:
            reason = "new"
        elif not before.complete and now.complete:
            reason = "incomplete_retried"
        elif before != now:
            reason = "changed"
        else:
            reason = "unchanged"
        counts[reason] += 1
        if full or reason != "unchanged":
            send.append(user.user_id)
    listed = set(recorded)
    deleted = sorted(uid for uid in state.users if uid not in listed)
    counts["deleted"] = len(deleted)
    return IdentityCenterPlan(
        send=send,
        deleted=deleted,
        counts={k: v for k, v in counts.items() if v},
        users=dict(sorted(recorded.items())),
    )
