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
    ERROR = "error"  # list_users[account]: why it failed (AccountError), pushed before raising
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


class AccountError(TypedDict):
    account: str
    code: str  # the AWS error code, or the exception's class
    message: str  # what failed and what to fix


class BatchRef(TypedDict):
    """One batch of one account, as the mapped per-batch tasks are handed it (operators.base)."""

    account: str
    role_arn: str | None  # how the account is read (AccountRef.role_arn)
    index: int  # position of the batch in its account, from 0
    label: str  # e.g. "123456789012 · users 1–500": names the mapped task instance in the UI
    payload: dict[str, Any]  # XComRef as JSON: the batch's payload, from the task that made it
    catalog: dict[str, Any]  # XComRef as JSON: the account's AccountCatalog, from list_users


class AccountListing(TypedDict):
    """What list_users[account] returns: the account's batches and its listing summary."""

    account: str
    label: str
    batches: list[BatchRef]
    summary: ListingSummary
    window_end: str  # ISO 8601: every event's metadata.logged_time
    plan: dict[str, Any] | None  # XComRef as JSON of the DeliveryPlan; None on backfill runs


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
    index: int  # the batch's index in its account
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
