"""OCSF 1.6.0 User Inventory Info (class 5003) events and the mapping from IAM facts.

``to_ocsf_user_inventory`` (a user) and ``to_ocsf_deleted_user`` (a user found missing) are pure
functions: facts in, event out. Fields whose fact is unknown are left out (``exclude_none``),
never guessed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict

from airflow_provider_awsiam_ocsf import __version__
from airflow_provider_awsiam_ocsf.arn import account_id_of
from airflow_provider_awsiam_ocsf.inventory import IamUser, as_utc

OCSF_VERSION = "1.6.0"
PRODUCT_NAME = "AWS IAM Asset Connector"

CLASS_UID: Final = 5003
ACTIVITY_COLLECT: Final = 2
AWS_ACCOUNT_TYPE_ID: Final = 10
UserType = Literal["User", "Admin"]
USER_TYPE_IDS: dict[UserType, Literal[1, 2]] = {"User": 1, "Admin": 2}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ms(value: datetime) -> int:
    """OCSF ``timestamp_t``: integer milliseconds since the epoch (exact, no float rounding)."""
    return (as_utc(value) - _EPOCH) // timedelta(milliseconds=1)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Product(_Strict):
    name: str = PRODUCT_NAME
    version: str = __version__


class Metadata(_Strict):
    product: Product = Product()
    version: str = OCSF_VERSION
    logged_time: int | None = None


class Account(_Strict):
    name: str  # the user's name; "root" for the root user
    uid: str
    # Identity Center users: "Other" 99 (Sekoia's model accepts nothing else with 99)
    type: Literal["AWS Account", "Other"] = "AWS Account"
    type_id: Literal[10, 99] = AWS_ACCOUNT_TYPE_ID


class Group(_Strict):
    name: str
    uid: str | None = None
    privileges: list[str] | None = None


class Organization(_Strict):
    name: str
    uid: str


class KeyValue(_Strict):
    name: str
    value: str


class LdapPerson(_Strict):
    created_time: int | None = None
    last_login_time: int | None = None
    modified_time: int | None = None
    deleted_time: int | None = None
    tags: list[KeyValue] | None = None


class ProgrammaticCredential(_Strict):
    uid: str
    type: Literal["AWS Access Key"] = "AWS Access Key"
    last_used_time: int | None = None


class User(_Strict):
    name: str
    uid: str
    uid_alt: str | None = None
    display_name: str | None = None
    email_addr: str | None = None
    type: Literal["User", "Admin"] | None = None
    type_id: Literal[1, 2] | None = None
    has_mfa: bool | None = None
    account: Account
    groups: list[Group] | None = None
    org: Organization | None = None
    ldap_person: LdapPerson | None = None
    programmatic_credentials: list[ProgrammaticCredential] | None = None


class AccountStatus(_Strict):
    """The ``data`` of the enrichment Sekoia's user connectors send (Entra ID, Okta, AD)."""

    is_enabled: bool | None = None
    last_logon: str | None = None
    last_time_password_change: int | None = None


class AccountStatusEnrichment(_Strict):
    name: Literal["account"] = "account"
    value: Literal["status"] = "status"
    data: AccountStatus


class AwsIamAccessKey(_Strict):
    uid: str | None = None
    status: Literal["Active", "Inactive", "Expired"]
    created_time: int


class AwsIamFacts(_Strict):
    """IAM facts OCSF 1.6.0 has no field for (``unmapped.aws_iam``)."""

    password_enabled: bool | None = None
    password_last_changed_time: int | None = None
    access_keys: list[AwsIamAccessKey] | None = None
    path: str | None = None
    permissions_boundary: str | None = None
    access_keys_active: int | None = None  # root only: its key ids are not listable
    access_keys_present: bool | None = None  # root only: GetAccountSummary, live


class IdentityCenterAssignment(_Strict):
    account: str
    permission_set: str  # its name


class IdentityCenterFacts(_Strict):
    """Identity Center facts OCSF 1.6.0 has no field for (``unmapped.aws_identity_center``)."""

    instance_arn: str | None = None
    identity_store_id: str | None = None
    user_status: str | None = None
    assignments: list[IdentityCenterAssignment] | None = None


class Unmapped(_Strict):
    aws_iam: AwsIamFacts | None = None
    aws_identity_center: IdentityCenterFacts | None = None


class UserInventoryEvent(_Strict):
    activity_id: Literal[2] = ACTIVITY_COLLECT
    activity_name: Literal["Collect"] = "Collect"
    category_uid: Literal[5] = 5
    category_name: Literal["Discovery"] = "Discovery"
    class_uid: Literal[5003] = CLASS_UID
    class_name: Literal["User Inventory Info"] = "User Inventory Info"
    type_uid: Literal[500302] = 500302  # CLASS_UID * 100 + ACTIVITY_COLLECT
    type_name: Literal["User Inventory Info: Collect"] = "User Inventory Info: Collect"
    severity_id: Literal[1] = 1
    severity: Literal["Informational"] = "Informational"
    time: int
    metadata: Metadata = Metadata()
    user: User
    enrichments: list[AccountStatusEnrichment] | None = None
    unmapped: Unmapped | None = None

    def as_dict(self) -> dict:
        return self.model_dump(mode="json", exclude_none=True)


def _user_type(is_admin: bool | None) -> tuple[UserType | None, Literal[1, 2] | None]:
    if is_admin is None:
        return None, None
    name: UserType = "Admin" if is_admin else "User"
    return name, USER_TYPE_IDS[name]


def _org(arn: str) -> Organization | None:
    account_id = account_id_of(arn)
    return Organization(uid=account_id, name=f"AWS Account {account_id}") if account_id else None


def _metadata(logged_time: datetime | None) -> Metadata:
    return Metadata(logged_time=None if logged_time is None else epoch_ms(logged_time))


def _ms(value: datetime | None) -> int | None:
    return None if value is None else epoch_ms(value)


def _programmatic_credentials(
    user: IamUser, access_key_ids: bool
) -> list[ProgrammaticCredential] | None:
    """Only with ids on and every key's id read (keys known from the credential report only have
    none); ``[]`` for a user known to hold no key."""
    if not access_key_ids or user.access_keys is None:
        return None
    by_id = {k.id: k for k in user.access_keys if k.id is not None}
    if len(by_id) != len(user.access_keys):
        return None
    return [
        ProgrammaticCredential(uid=uid, last_used_time=_ms(by_id[uid].last_used))
        for uid in sorted(by_id)
    ]


def _aws_iam(user: IamUser, access_key_ids: bool) -> AwsIamFacts | None:
    keys = None
    if user.access_keys is not None:
        # Sorted by what is sent (creation first): the report's key slots are no order AWS
        # promises, and with ids off the same keys must give the same bytes from either source.
        keys = sorted(
            (
                AwsIamAccessKey(
                    uid=k.id if access_key_ids else None,
                    status=k.status,
                    created_time=epoch_ms(k.created),
                )
                for k in user.access_keys
            ),
            key=lambda k: (k.created_time, k.uid or "", k.status),
        )
    facts = AwsIamFacts(
        password_enabled=user.password_enabled,
        password_last_changed_time=_ms(user.password_last_changed),
        access_keys=keys,
        path=user.path,
        permissions_boundary=user.permissions_boundary if user.identity_read else None,
    )
    return facts if facts.model_dump(exclude_none=True) else None


def _account_status(user: IamUser) -> AccountStatusEnrichment:
    last_used, last_changed = user.password_last_used, user.password_last_changed
    return AccountStatusEnrichment(
        data=AccountStatus(
            is_enabled=user.is_enabled,
            last_logon=None if last_used is None else last_used.isoformat(),
            last_time_password_change=None
            if last_changed is None
            else int(last_changed.timestamp()),
        )
    )


def to_ocsf_user_inventory(
    user: IamUser, *, logged_time: datetime | None = None, access_key_ids: bool = True
) -> UserInventoryEvent:
    """The OCSF event for one IAM user (mapping table: README, "What is sent").

    ``logged_time`` is when the run collected the user (its window end); None leaves
    ``metadata.logged_time`` out. ``access_key_ids`` false leaves key ids out everywhere.
    """
    if user.kind == "root":
        return _root_event(user, logged_time)
    type_name, type_id = _user_type(user.is_admin)
    groups = None
    if user.groups is not None:
        # Sorted: IAM returns lists in no promised order, and re-runs must write identical bytes.
        groups = [
            Group(
                name=g.name,
                uid=g.arn or None,
                privileges=None if g.policy_names is None else sorted(g.policy_names),
            )
            for g in sorted(user.groups, key=lambda g: g.name)
        ]
    tags = None
    if user.tags:
        tags = [KeyValue(name=name, value=value) for name, value in sorted(user.tags.items())]
    aws_iam = _aws_iam(user, access_key_ids)
    return UserInventoryEvent(
        time=epoch_ms(user.created),
        metadata=_metadata(logged_time),
        user=User(
            name=user.name,
            uid=user.arn,
            uid_alt=user.user_id or None,
            type=type_name,
            type_id=type_id,
            has_mfa=user.has_mfa,
            account=Account(name=user.name, uid=user.arn),
            groups=groups,
            org=_org(user.arn),
            ldap_person=LdapPerson(
                created_time=epoch_ms(user.created),
                last_login_time=_ms(user.password_last_used),
                tags=tags,
            ),
            programmatic_credentials=_programmatic_credentials(user, access_key_ids),
        ),
        enrichments=[_account_status(user)],
        unmapped=None if aws_iam is None else Unmapped(aws_iam=aws_iam),
    )


def _root_event(user: IamUser, logged_time: datetime | None) -> UserInventoryEvent:
    """The root user (README, "The root user"): Admin, no groups, no key ids; its active keys
    counted in ``unmapped.aws_iam``."""
    active = None if user.access_keys is None else sum(k.active for k in user.access_keys)
    aws_iam = AwsIamFacts(access_keys_active=active, access_keys_present=user.access_keys_present)
    return UserInventoryEvent(
        time=epoch_ms(user.created),
        metadata=_metadata(logged_time),
        user=User(
            name=user.name,
            uid=user.arn,
            uid_alt=user.user_id,
            type="Admin",
            type_id=USER_TYPE_IDS["Admin"],
            has_mfa=user.has_mfa,
            account=Account(name=user.name, uid=user.arn),
            org=_org(user.arn),
            ldap_person=LdapPerson(
                created_time=epoch_ms(user.created), last_login_time=_ms(user.password_last_used)
            ),
        ),
        enrichments=[_account_status(user)],
        unmapped=Unmapped(aws_iam=aws_iam) if aws_iam.model_dump(exclude_none=True) else None,
    )


def to_ocsf_deleted_user(
    *, name: str, arn: str, user_id: str | None, deleted_at: datetime
) -> UserInventoryEvent:
    """The tombstone of a user found missing from a complete listing (IAM keeps no deletion
    time: ``deleted_at`` is the run's window end, used for ``time`` and ``logged_time`` too)."""
    return UserInventoryEvent(
        time=epoch_ms(deleted_at),
        metadata=_metadata(deleted_at),
        user=User(
            name=name,
            uid=arn,
            uid_alt=user_id or None,
            account=Account(name=name, uid=arn),
            org=_org(arn),
            ldap_person=LdapPerson(deleted_time=epoch_ms(deleted_at)),
        ),
        enrichments=[AccountStatusEnrichment(data=AccountStatus(is_enabled=False))],
    )
