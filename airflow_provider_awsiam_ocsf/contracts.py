"""What the pipeline's tasks hand each other, named and typed.

Every value crossing a task boundary (through XCom) is one of these TypedDicts, and every XCom key
is a constant of :class:`XComKey`, so a misspelt key or a missing member is a type error, not a
``KeyError`` in a worker at 3 a.m. They are plain dicts at run time: XCom stores JSON.

Large values are claim-checked: the task that makes one pushes it under its own key and hands on
an :class:`XComRef` to it, carried by the small values that travel (a batch carries its payload's
and its account's catalog's; a listing its plan's). No task ever names another task's id to find
what it reads, so a renamed task, a task group, or two pipelines in one DAG read the right data.
"""

from __future__ import annotations

from typing import Any, TypedDict

from pydantic import BaseModel, ConfigDict


class XComKey:
    """XCom keys pushed besides a task's return value."""

    SKIPPED = "skipped"  # resolve_accounts: accounts of the organisation not read (not ACTIVE)
    CATALOG = "catalog"  # list_users[account]: account-wide facts (AccountCatalog as JSON)
    PLAN = "plan"  # list_users[account]: its DeliveryPlan (what each sink holds, minus deletions)
    BATCH = "batch_{index}"  # each task of a batch: its payload (UsersBatch, EventsBatch)
    # list_users, enrich_users, the sinks: the accounts they could not do (AccountError list),
    # pushed before the task fails or while it goes on with the others
    ERROR = "error"
    LISTINGS = "listings"  # list_users[group]: the GroupListing, also pushed when the task fails
    SUMMARY = "summary"  # enrich_users: its part of the run summary; commit_checkpoint: the run's
    STATE_UPDATES = "state_updates"  # to_ocsf: per sink, the users of the batch as now known


class XComRef(BaseModel):
    """Where one XCom value is: the task instance that pushed it (task id, map index) and its key.

    Travels as JSON (:meth:`as_json`) inside the values that point at others."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: str  # as the task instance has it, task group prefix included
    key: str
    map_index: int = -1  # -1: the task is not mapped

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class AccountRef(TypedDict):
    """One account to read, from resolve_accounts."""

    account: str  # 12 digits
    name: str | None  # from organizations:ListAccounts
    role_arn: str | None  # the member role to assume; None: the connection's own account
    label: str  # names the account's task instances; never the bare id (native rendering)


class AccountGroup(TypedDict):
    """The accounts one list_users task instance reads, from resolve_accounts."""

    first: int  # the run's number of the group's first account, from 1 (labels)
    label: str  # e.g. "accounts 1–25 · Prod … Sandbox-17"; one account: its own label
    accounts: list[AccountRef]


class AccountError(TypedDict, total=False):
    account: str  # required
    code: str  # required: the AWS error code, or the exception's class
    message: str  # required: what failed and what to fix
    stage: str  # "listing", "enrichment", "delivery to <sink>"


class ChunkRef(TypedDict):
    """At most batch_size candidate users of one account, as list_users stashed them."""

    account: str
    role_arn: str | None  # how the account is read (AccountRef.role_arn)
    name: str | None  # the account's name (Organizations), for labels
    number: int  # the account's number in the run, from 1 (labels)
    index: int  # position of the chunk in its account, from 0
    users: int  # candidate users in the chunk
    tombstones: bool  # the chunk carries the account's deleted users
    payload: dict[str, Any]  # XComRef as JSON: the chunk's UsersBatch
    catalog: dict[str, Any]  # XComRef as JSON: the account's AccountCatalog, from list_users


class PartRef(TypedDict):
    """One account's share of a batch: users ``[start, end)`` of one of its chunks."""

    account: str
    role_arn: str | None
    name: str | None
    number: int  # the account's number in the run, from 1
    first_user: int  # the part's first user's position among its account's candidates, from 1
    index: int  # the part's position in its account, from 0: its file is part-<index>
    start: int
    end: int
    tombstones: bool  # this part carries its chunk's deleted users
    payload: dict[str, Any]  # XComRef as JSON: the chunk
    catalog: dict[str, Any]  # XComRef as JSON: the account's AccountCatalog


class BatchRef(TypedDict):
    """One batch of the run, as the mapped per-batch tasks are handed it (operators.base): up to
    batch_size users of one or several accounts. The account and part identity travels here,
    never in the map index (Airflow renumbers mapped instances after a failed upstream one)."""

    index: int  # position of the batch in the run, from 0
    label: str  # e.g. "123456789012 · users 1–500" or "accounts 3–40 · Dev … Test · 212 users"
    parts: list[PartRef]
    # XComRef as JSON of the batch's payload (a SharedPayload) from the task that made it;
    # None as the batches task hands it out (each part names its chunk)
    payload: dict[str, Any] | None


class PartPayload(TypedDict):
    account: str
    index: int  # PartRef.index
    batch: Any  # UsersBatch (enrich_users) or EventsBatch (to_ocsf)


class SharedPayload(TypedDict):
    """What enrich_users and to_ocsf stash for a batch: one entry per account part they did."""

    parts: list[PartPayload]


class AccountListing(TypedDict):
    """One account of what list_users[group] returns: its chunks and its listing summary."""

    account: str
    label: str
    number: int  # the account's number in the run, from 1
    batches: list[ChunkRef]
    summary: ListingSummary
    window_end: str  # ISO 8601: every event's metadata.logged_time
    plan: dict[str, Any] | None  # XComRef as JSON of the DeliveryPlan; None on backfill runs


class GroupListing(TypedDict):
    """What list_users[group] returns (and pushes under XComKey.LISTINGS, failed or not)."""

    label: str
    listings: list[AccountListing]  # the accounts read
    errors: list[AccountError]  # the accounts that could not be read


class TombstoneRef(TypedDict):
    """A user a sink holds that a complete listing no longer has."""

    user_id: str
    name: str
    arn: str


class UsersBatch(TypedDict):
    """The payload of a batch of users, from list_users through enrich_users to to_ocsf."""

    users: list[dict]  # IamUser as JSON
    # sink -> user id -> state.Action: what the sink needs once the user's facts are final
    actions: dict[str, dict[str, str]]
    # sink -> user id -> state.HeldUser encoded: what the sink holds of the candidates
    held: dict[str, dict[str, str]]
    tombstones: dict[str, list[TombstoneRef]]  # sink -> deleted users (in the last batch)
    logged_time: str  # ISO 8601: the run's window end


class EventsBatch(TypedDict):
    """The payload of a batch of OCSF events, from to_ocsf to the sinks."""

    events: list[dict]
    send: dict[str, list[int]]  # sink -> indexes into ``events`` that this sink is sent


class SinkUpdate(TypedDict):
    """What one batch changes in one sink's state, once the sink accepted it."""

    recorded: dict[str, str]  # user id -> state.HeldUser encoded
    counts: dict[str, int]  # state.Reason -> users


class BatchUpdate(TypedDict):
    """What to_ocsf pushes for its batch (XComKey.STATE_UPDATES)."""

    account: str
    sinks: dict[str, SinkUpdate]


class SinkPlanInfo(TypedDict):
    base: str  # state.SinkState JSON: the state before this run's candidates, deletions removed
    deleted: list[str]  # user ids this run found deleted (tombstoned)
    counts: dict[str, int]  # state.Reason -> users settled at listing time (unchanged, deleted)


class DeliveryPlan(TypedDict):
    """Pushed by list_users of a scheduled or manual run (backfill runs have none)."""

    account: str
    partition: str
    sinks: dict[str, SinkPlanInfo]


class ListingSummary(TypedDict):
    account: str
    strategy: str
    users_listed: int
    batches: int
    iam_calls: dict[str, int]  # API action -> calls
    degraded: dict[str, int]  # "API:ErrorCode" -> occurrences
    report_unusable_rows: int  # credential report rows that did not parse cleanly
    report_fallback_users: int  # users the report did not cover, read per user instead
    identities_listed: dict[str, int]  # identity kind (selected) -> identities listed
    identity_calls: dict[str, int]  # identity kind -> AWS calls of this listing made for it


class EnrichmentSummary(TypedDict):
    account: str
    users: int
    degraded_users: int
    degraded: dict[str, int]  # "API:ErrorCode" -> users affected
    iam_calls: dict[str, int]


class SinkReport(TypedDict, total=False):
    sink: str  # required in practice: "file" or "sekoia"
    account: str  # required in practice
    index: int  # the part's index in its account
    events: int
    uri: str  # file sink: the part written
    requests: int  # sekoia sink: POSTs made
    retries: int  # sekoia sink: POSTs retried


class AccountSummary(TypedDict, total=False):
    label: str
    error: str  # "<code>: <message>" when the account could not be read
    users_listed: int
    # sink -> state.Reason -> users (scheduled and manual runs)
    users_per_sink: dict[str, dict[str, int]]
    # sink -> "committed <Variable> …" or why the state was left as it was
    state: dict[str, str]


class RunSummary(TypedDict, total=False):
    accounts_read: int
    accounts_failed: int
    accounts_skipped: list[str]  # "<id> <name> (<State>)"
    strategy: str | None
    users_listed: int
    report_unusable_rows: int
    report_fallback_users: int
    users_enriched: int
    users_degraded: int
    degraded: dict[str, int]
    events_per_sink: dict[str, int]
    iam_calls: dict[str, int]
    iam_calls_total: int
    identities_listed: dict[str, int]  # identity kind -> listed, over every account
    calls_per_identity: dict[str, int]  # identity kind -> AWS calls (enrichment: IAM users')
    identity_center: dict[str, Any]  # inventory_identity_center's figures (owner, calls, sinks)
    accounts: dict[str, AccountSummary]
