"""What collection reads, decided from plain data (pure): the run's window, the listing's shape
and summary, and the facts each user still lacks once listed.

``collection`` does the reading (IAM calls through the hook); everything it decides before or
after a call is here, so it can be tested with literal users and datetimes. No boto3, no Airflow.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from airflow_provider_awsiam_ocsf.contracts import ListingSummary
from airflow_provider_awsiam_ocsf.inventory import AccountCatalog, Degradation, IamUser, as_utc

MODES = ("incremental", "full")


class Strategy(StrEnum):
    AUTO = "auto"
    BULK = "bulk"
    PER_USER = "per_user"


class Window(BaseModel):
    """Users created in ``[since, until)``; an open end is ``None``."""

    since: datetime | None = None
    until: datetime | None = None

    def contains(self, created: datetime) -> bool:
        created = as_utc(created)
        return (self.since is None or created >= self.since) and (
            self.until is None or created < self.until
        )


def listing_window(
    *,
    interval: tuple[datetime, datetime] | None,
    run_after: datetime,
    settle_seconds: int,
) -> Window:
    """A backfill run's data ``interval`` as it is; otherwise every user created before the run's
    own instant minus ``settle_seconds`` (not the clock's: a re-run lists the same window and
    writes the same bytes; IAM is eventually consistent, so the last moments wait a run)."""
    if interval is not None:
        since, until = interval
        return Window(since=since, until=until)
    return Window(until=as_utc(run_after) - timedelta(seconds=settle_seconds))


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")


def as_sinks(sinks: str | Sequence[str]) -> list[str]:
    """A templated ``sinks`` argument as a list (a single sink may render as a bare string)."""
    return [sinks] if isinstance(sinks, str) else list(sinks)


class Listing(BaseModel):
    strategy: Strategy
    users: list[IamUser]
    catalog: AccountCatalog
    degraded: list[Degradation] = Field(default_factory=list)
    report_unusable_rows: int = Field(
        default=0, description="Credential report rows that could not be parsed cleanly."
    )
    report_fallback_users: int = Field(
        default=0,
        description="bulk: users that got no facts from the credential report (denied, missing "
        "from it, or an unusable row) and are read per user in enrichment instead.",
    )
    identities: list[str] = Field(
        default_factory=lambda: ["iam_users"], description="The identity kinds this listing read."
    )
    root_calls: dict[str, int] = Field(
        default_factory=dict,
        description="API action -> calls made for the root user alone (GetAccountSummary; with "
        "per_user, the credential report too). The rest of the listing's calls are IAM users'.",
    )


def summarize_listing(
    listing: Listing, *, account: str, batches: int, calls: Mapping[str, int]
) -> ListingSummary:
    """The listing's part of the run summary (``calls``: API action -> calls it took)."""
    root_calls = sum(listing.root_calls.values())
    roots = sum(1 for u in listing.users if u.kind == "root")
    listed = {"iam_users": len(listing.users) - roots}
    if "root" in listing.identities:
        listed["root"] = roots
    return ListingSummary(
        account=account,
        strategy=listing.strategy.value,
        users_listed=len(listing.users),
        batches=batches,
        iam_calls=dict(calls),
        degraded=dict(Counter(d.label for d in listing.degraded)),
        report_unusable_rows=listing.report_unusable_rows,
        report_fallback_users=listing.report_fallback_users,
        identities_listed={k: v for k, v in listed.items() if k in listing.identities},
        identity_calls={
            k: v
            for k, v in {
                "iam_users": sum(calls.values()) - root_calls,
                "root": root_calls,
            }.items()
            if k in listing.identities
        },
    )


class Fact(StrEnum):
    """What one per-user read fills in (each has one reader in ``collection.READERS``)."""

    GROUPS = "groups"  # ListGroupsForUser
    OWN_POLICIES = "own_policies"  # ListAttachedUserPolicies, ListUserPolicies (+ GetUserPolicy)
    MFA = "mfa"  # ListMFADevices
    IDENTITY = "identity"  # GetUser: path, tags, boundary, password last use
    LOGIN_PROFILE = "login_profile"  # GetLoginProfile
    ACCESS_KEYS = "access_keys"  # ListAccessKeys (+ GetAccessKeyLastUsed per key, with key ids)
    ACCESS_KEY_IDS = "access_key_ids"  # ListAccessKeys for keys known from the report only


def facts_to_read(user: IamUser, *, access_key_ids: bool) -> list[Fact]:
    """The per-user reads ``user`` still needs, in the order they are made: every fact the
    listing left unknown, and with ``access_key_ids`` the ids of keys the report gave without."""
    if user.kind == "root":
        return []  # the listing read all there is: root has no groups, policies or key ids
    keys = user.access_keys
    needed = {
        Fact.GROUPS: user.groups is None,
        Fact.OWN_POLICIES: user.grants_admin is None,
        Fact.MFA: user.has_mfa is None,
        Fact.IDENTITY: not (user.identity_read and user.password_last_used_read),
        Fact.LOGIN_PROFILE: user.password_enabled is None,
        Fact.ACCESS_KEYS: keys is None,
        Fact.ACCESS_KEY_IDS: keys is not None
        and access_key_ids
        and any(k.id is None for k in keys),
    }
    return [fact for fact, unknown in needed.items() if unknown]
