"""What we know about IAM users, as plain pydantic models, and pure transforms into them.

A fact that could not be read is ``None`` (never a guess); the API and error code that failed are
kept in ``degraded`` so the run summary can count them. Nothing here talks to AWS or Airflow.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from airflow_provider_awsiam_ocsf.policies import (
    any_grants_admin,
    is_administrator_access_arn,
)
from airflow_provider_awsiam_ocsf.arn import parse_arn


def as_utc(value: datetime) -> datetime:
    """Timezone-aware UTC; naive values are taken to be UTC already."""
    return (
        value.replace(tzinfo=timezone.utc)
        if value.tzinfo is None
        else value.astimezone(timezone.utc)
    )


class Degradation(BaseModel):
    """One enrichment call that failed: the user is kept, the fact it gives is left out."""

    model_config = ConfigDict(frozen=True)

    api: str
    code: str


class GroupFacts(BaseModel):
    name: str
    arn: str
    policy_names: list[str] | None = None
    grants_admin: bool | None = None


class IamUser(BaseModel):
    name: str
    user_id: str
    arn: str
    created: datetime
    groups: list[GroupFacts] | None = None
    grants_admin: bool | None = Field(
        default=None, description="From the user's own attached and inline policies."
    )
    has_mfa: bool | None = None
    degraded: list[Degradation] = Field(default_factory=list)

    @field_validator("created")
    @classmethod
    def _created_in_utc(cls, value: datetime) -> datetime:
        return as_utc(value)

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


def user_from_authorization_detail(detail: Mapping[str, Any], catalog: AccountCatalog) -> IamUser:
    """An IamUser with groups and own-policy verdict from one ``UserDetailList`` entry."""
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
    )


# --- Credential report -------------------------------------------------------------------------


def mfa_by_user_from_credential_report(content: bytes | str) -> dict[str, bool]:
    """``user name -> mfa_active`` from the credential report CSV (the root account row skipped)."""
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    result = {}
    for row in csv.DictReader(io.StringIO(text)):
        name = row.get("user", "")
        if not name or name == "<root_account>":
            continue
        result[name] = row.get("mfa_active", "").strip().lower() == "true"
    return result
