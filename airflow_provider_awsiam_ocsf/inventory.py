"""What we know about IAM users, as plain pydantic models, and pure transforms into them.

A fact that could not be read is ``None`` (never a guess); the API and error code that failed are
kept in ``degraded`` so the run summary can count them. Nothing here talks to AWS or Airflow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from airflow_provider_awsiam_ocsf.arn import parse_arn
from airflow_provider_awsiam_ocsf.policies import (
    any_grants_admin,
    is_administrator_access_arn,
)


def as_utc(value: datetime) -> datetime:
    """Timezone-aware UTC; naive values are taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_the_second(value: datetime | None) -> datetime | None:
    """UTC, truncated to the second: the credential report's resolution, so that a time read from
    the report and the same time read from a per-user call are equal."""
    return None if value is None else as_utc(value).replace(microsecond=0)


class Degradation(BaseModel):
    """One enrichment call that failed: the user is kept, the fact it gives is left out."""

    model_config = ConfigDict(frozen=True)

    api: str
    code: str

    @property
    def label(self) -> str:
        """``"API:Code"``, as the run summary counts it."""
        return f"{self.api}:{self.code}"


class AccessKeyFacts(BaseModel):
    """One access key. ``id`` is None when the key is known from the credential report only
    (the report has no key ids); ``last_used`` is None when never used or unknown."""

    model_config = ConfigDict(validate_assignment=True)

    id: str | None = None
    status: Literal["Active", "Inactive", "Expired"]
    created: datetime
    last_used: datetime | None = None

    @field_validator("created", "last_used")
    @classmethod
    def _to_the_second(cls, value: datetime | None) -> datetime | None:
        return to_the_second(value)

    @property
    def active(self) -> bool:
        return self.status == "Active"


class GroupFacts(BaseModel):
    name: str
    arn: str
    policy_names: list[str] | None = None
    grants_admin: bool | None = None


class IamUser(BaseModel):
    """What is known about one user; ``None`` is unknown (see the flags for the exceptions)."""

    model_config = ConfigDict(validate_assignment=True)

    kind: Literal["iam_user", "root"] = Field(
        default="iam_user",
        description="root: the account's root user (identities.root_user), whose user_id is the "
        "account id; it has no groups or policies and needs no per-user read.",
    )
    name: str
    user_id: str
    arn: str
    created: datetime
    groups: list[GroupFacts] | None = None
    grants_admin: bool | None = Field(
        default=None, description="From the user's own attached and inline policies."
    )
    has_mfa: bool | None = None
    path: str | None = None
    tags: dict[str, str] | None = Field(default=None, description="{} = no tags.")
    permissions_boundary: str | None = Field(
        default=None, description="ARN of the boundary policy; None = none or unknown."
    )
    identity_read: bool = Field(
        default=False,
        description="GAAD or GetUser was read: tags, path and boundary are facts, and a None "
        "permissions_boundary means the user has none.",
    )
    password_enabled: bool | None = None
    password_last_used: datetime | None = None
    password_last_used_read: bool = Field(
        default=False,
        description="A source of password last use was read: a None password_last_used then "
        "means never used (or too long ago for AWS to know), no longer unknown.",
    )
    password_last_changed: datetime | None = Field(
        default=None, description="None = no password, or unknown (no per-user API gives it)."
    )
    access_keys: list[AccessKeyFacts] | None = None
    access_keys_present: bool | None = Field(
        default=None, description="root only: GetAccountSummary's AccountAccessKeysPresent."
    )
    degraded: list[Degradation] = Field(default_factory=list)

    @field_validator("created")
    @classmethod
    def _created_in_utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    @field_validator("password_last_used", "password_last_changed")
    @classmethod
    def _to_the_second(cls, value: datetime | None) -> datetime | None:
        return to_the_second(value)

    def learn(self, facts: Mapping[str, Any]) -> None:
        """Set facts read from a source (validated like the constructor's arguments)."""
        for name, value in facts.items():
            setattr(self, name, value)

    @property
    def is_enabled(self) -> bool | None:
        """Can the user act at all: a console password or any active access key. True on any
        evidence, False only when both are known and neither holds, None otherwise."""
        keys = None if self.access_keys is None else any(k.active for k in self.access_keys)
        if self.password_enabled or keys:
            return True
        if self.password_enabled is False and keys is False:
            return False
        return None

    def posture(self) -> dict[str, Any]:
        """The facts whose change is worth re-sending the user, as plain JSON-able data.

        Unknown facts are None. Access keys are (created, status) pairs: no ids (the report has
        none) and no last-used times (they change all the time); a key that is not Active counts
        as "Inactive" (the report cannot tell Inactive from Expired). No permissions boundary is
        ``""``, no tags ``{}``.
        """
        groups = None
        if self.groups is not None:
            groups = [
                {
                    "name": g.name,
                    "privileges": None if g.policy_names is None else sorted(g.policy_names),
                }
                for g in sorted(self.groups, key=lambda g: g.name)
            ]
        keys = None
        if self.access_keys is not None:
            keys = sorted(
                [k.created.isoformat(), "Active" if k.active else "Inactive"]
                for k in self.access_keys
            )
        if self.kind == "root":
            # Root has no groups, policies, tags, path or boundary: its own short posture.
            return {
                "kind": "root",
                "has_mfa": self.has_mfa,
                "password_enabled": self.password_enabled,
                "access_keys": keys,
                "access_keys_present": self.access_keys_present,
            }
        return {
            "groups": groups,
            "is_admin": self.is_admin,
            "has_mfa": self.has_mfa,
            "password_enabled": self.password_enabled,
            "access_keys": keys,
            "tags": None if self.tags is None else dict(sorted(self.tags.items())),
            "path": self.path,
            "permissions_boundary": (self.permissions_boundary or "")
            if self.identity_read
            else None,
        }

    @property
    def complete(self) -> bool:
        """Every posture fact is known."""
        return posture_is_complete(self.posture())

    @property
    def is_admin(self) -> bool | None:
        """True on any evidence, False only when every source was read, None when undecidable."""
        sources = [self.grants_admin, *(g.grants_admin for g in self.groups or [])]
        if any(s is True for s in sources):
            return True
        if self.groups is None or any(s is None for s in sources):
            return None
        return False

    @property
    def sort_key(self) -> tuple[datetime, str]:
        return (self.created, self.name)


def posture_is_complete(posture: Mapping[str, Any]) -> bool:
    """Every fact of an ``IamUser.posture()`` is known."""
    return all(v is not None for v in posture.values()) and all(
        g["privileges"] is not None for g in posture.get("groups", [])
    )


class PolicyCatalog(BaseModel):
    """Customer-managed policies of the account: which ones grant admin.

    ``readable`` is False when the policies could not be listed; then only AdministratorAccess is
    recognised and a user holding another customer-managed policy has an undecided admin status.
    """

    readable: bool = True
    admin_arns: set[str] = Field(default_factory=set)

    def grants_admin(self, policy_arn: str) -> bool | None:
        if is_administrator_access_arn(policy_arn) or policy_arn in self.admin_arns:
            return True
        try:
            aws_managed = parse_arn(policy_arn).account_id == "aws"
        except ValueError:
            return None
        return False if (aws_managed or self.readable) else None


class AccountCatalog(BaseModel):
    """Account-wide facts read once per run and shared by every enrichment batch."""

    groups: dict[str, GroupFacts] = Field(default_factory=dict)
    policies: PolicyCatalog = Field(default_factory=PolicyCatalog)

    def group(self, name: str, arn: str | None = None) -> GroupFacts:
        """The catalog's facts for a group, or a bare group whose policies are unknown."""
        known = self.groups.get(name)
        return known if known is not None else GroupFacts(name=name, arn=arn or "")


def combine_admin(verdicts: Iterable[bool | None]) -> bool | None:
    verdicts = list(verdicts)
    if any(v is True for v in verdicts):
        return True
    return None if any(v is None for v in verdicts) else False


def policy_verdict(
    attached_arns: Iterable[str], inline_documents: Iterable[Any], policies: PolicyCatalog
) -> bool | None:
    """Admin verdict for a holder (user or group) of attached policies and inline documents."""
    return combine_admin(
        [any_grants_admin(inline_documents), *(policies.grants_admin(a) for a in attached_arns)]
    )


# --- GetAccountAuthorizationDetails ------------------------------------------------------------


def catalog_from_authorization_details(pages: Iterable[Mapping[str, Any]]) -> AccountCatalog:
    """Groups and customer-managed policies from GetAccountAuthorizationDetails pages."""
    pages = list(pages)
    admin_arns = set()
    for page in pages:
        for policy in page.get("Policies", []):
            default = next(
                (v for v in policy.get("PolicyVersionList", []) if v.get("IsDefaultVersion")), None
            )
            if default and any_grants_admin([default["Document"]]):
                admin_arns.add(policy["Arn"])
    policies = PolicyCatalog(admin_arns=admin_arns)
    groups = {}
    for page in pages:
        for group in page.get("GroupDetailList", []):
            attached = group.get("AttachedManagedPolicies", [])
            groups[group["GroupName"]] = GroupFacts(
                name=group["GroupName"],
                arn=group["Arn"],
                policy_names=[p["PolicyName"] for p in attached],
                grants_admin=policy_verdict(
                    (p["PolicyArn"] for p in attached),
                    (p["PolicyDocument"] for p in group.get("GroupPolicyList", [])),
                    policies,
                ),
            )
    return AccountCatalog(groups=groups, policies=policies)


def identity_facts(user: Mapping[str, Any]) -> dict[str, Any]:
    """Path, tags and permissions boundary of a GAAD ``UserDetailList`` entry or a GetUser
    ``User``: both carry all three, so absent Tags or boundary mean none."""
    boundary = user.get("PermissionsBoundary") or {}
    return {
        "path": user.get("Path"),
        "tags": {t["Key"]: t.get("Value", "") for t in user.get("Tags") or []},
        "permissions_boundary": boundary.get("PermissionsBoundaryArn"),
        "identity_read": True,
    }


def password_use_facts(user: Mapping[str, Any]) -> dict[str, Any]:
    """Password last use from a ListUsers or GetUser ``User`` (absent: never used, or before AWS
    started recording it)."""
    return {"password_last_used": user.get("PasswordLastUsed"), "password_last_used_read": True}


def user_from_listing(user: Mapping[str, Any]) -> IamUser:
    """An IamUser from one ListUsers entry: Path and PasswordLastUsed, no tags or boundary."""
    return IamUser(
        name=user["UserName"],
        user_id=user["UserId"],
        arn=user["Arn"],
        created=user["CreateDate"],
        path=user.get("Path"),
        **password_use_facts(user),
    )


def user_from_authorization_detail(detail: Mapping[str, Any], catalog: AccountCatalog) -> IamUser:
    """An IamUser with groups, own-policy verdict, path, tags and boundary from one
    ``UserDetailList`` entry."""
    return IamUser(
        name=detail["UserName"],
        user_id=detail["UserId"],
        arn=detail["Arn"],
        created=detail["CreateDate"],
        groups=[catalog.group(name) for name in detail.get("GroupList", [])],
        grants_admin=policy_verdict(
            (p["PolicyArn"] for p in detail.get("AttachedManagedPolicies", [])),
            (p["PolicyDocument"] for p in detail.get("UserPolicyList", [])),
            catalog.policies,
        ),
        **identity_facts(detail),
    )


# --- Access keys -------------------------------------------------------------------------------


def access_key_from_metadata(key: Mapping[str, Any]) -> AccessKeyFacts:
    """An AccessKeyFacts from one ListAccessKeys ``AccessKeyMetadata`` entry (last use unread)."""
    return AccessKeyFacts(id=key["AccessKeyId"], status=key["Status"], created=key["CreateDate"])
