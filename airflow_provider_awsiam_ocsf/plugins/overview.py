"""What the IAM inventory page shows, built from plain data (pure: no database, no Airflow).

Per DAG built with ``build_inventory_dag``, one row per account and sink: what the sink holds
(from its state Variable, decoded by :mod:`~airflow_provider_awsiam_ocsf.state_store`), the run
that last committed it, and the last failed run that left it as it was, with the reason. Counts
and times only: a reason is scrubbed of ARNs and key ids before it is shown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel

from airflow_provider_awsiam_ocsf.errors import CorruptStateError
from airflow_provider_awsiam_ocsf.state import TOMBSTONE_DAYS, SinkState
from airflow_provider_awsiam_ocsf.state_store import (
    IAM_STATE,
    IDENTITY_CENTER_STATE,
    StateKey,
    StateKind,
    decode_sink_state,
    parse_state_key,
)

# The pipeline's task ids (pipeline._wire_tasks): where a row's success or failure is seen.
COMMIT_TASK = "commit_checkpoint"
LISTING_TASK = "list_users"
SINK_TASKS = {"file": "write_files", "sekoia": "push_to_sekoia"}
IDENTITY_CENTER_TASK = "inventory_identity_center"  # reads, delivers and commits on its own
MAPPED_TASKS = {LISTING_TASK, "enrich_users", "to_ocsf", *SINK_TASKS.values()}
ANY_SINK = "*"  # a failure that concerns every sink of the account (it could not be read)
REASON_LENGTH = 240

# What a reason must never show: ARNs beyond the account, AWS key and principal ids.
_ARN = re.compile(r"\barn:(aws[\w-]*):([\w-]*):([\w-]*):(\d{12})?:[^\s'\",;)]+")
_AWS_ID = re.compile(
    r"\b(?:AKIA|ASIA|AIDA|AROA|AGPA|ANPA|ANVA|AIPA|APKA|ASCA|ABIA|ACCA)[A-Z0-9]{8,}"
)


def scrub(text: str) -> str:
    """A failure reason fit for the page: ARNs cut to their account, key and user ids hidden,
    shortened to :data:`REASON_LENGTH`."""
    text = _ARN.sub(lambda m: f"arn:{m[1]}:{m[2]}::{m[4] or ''}:…", text)
    text = _AWS_ID.sub("…", text)
    return text if len(text) <= REASON_LENGTH else text[: REASON_LENGTH - 1] + "…"


@dataclass(frozen=True)
class StoredState:
    """A state Variable, decoded (``state``) or not (``error`` says why)."""

    key: StateKey
    state: SinkState | None
    error: str | None = None


def read_states(dag_id: str, variables: Iterable[tuple[str, str]]) -> list[StoredState]:
    """The state Variables of ``dag_id`` among ``variables`` (key, value), decoded."""
    found = []
    for key, value in variables:
        parts = parse_state_key(key, dag_id)
        if parts is None:
            continue
        try:
            found.append(StoredState(parts, decode_sink_state(key, value)))
        except CorruptStateError as error:
            found.append(StoredState(parts, None, str(error)))
    return found


@dataclass(frozen=True)
class RunInfo:
    """A DAG run as the page needs it (a row of ``dag_run``)."""

    run_id: str
    run_type: str
    state: str
    run_after: datetime
    end_date: datetime | None = None


@dataclass(frozen=True)
class FailedRun:
    """A failed run, its ``commit_checkpoint`` summary (None when that task did not push one)
    and the tasks that failed in it."""

    run: RunInfo
    summary: Mapping[str, Any] | None
    failed_tasks: tuple[str, ...] = ()


class RunLink(BaseModel):
    run_id: str
    run_type: str | None = None
    state: str | None = None
    when: datetime | None = None  # the run's end, else when it was due
    url: str  # the run in the grid
    task_id: str | None = None
    task_url: str | None = None  # the task that says why, in the grid


class FailureLink(RunLink):
    reason: str


RowKey = tuple[str, StateKind, str]  # (account, kind of state, sink)


class SinkRow(BaseModel):
    account: str
    # IAM users and the root user of the account, or the Identity Center users of its instance
    identities: StateKind = IAM_STATE
    aws_conn_id: str | None = None
    sink: str  # "*": a failure that concerns every sink of the account
    users_held: int | None = None
    incomplete_users: int | None = None
    tombstones_7d: int | None = None
    checkpoint: datetime | None = None
    last_success: RunLink | None = None
    last_failure: FailureLink | None = None
    status: Literal["ok", "failing", "unreadable state"]
    state_error: str | None = None


class DagInventory(BaseModel):
    dag_id: str
    url: str
    accounts: int
    users_held: dict[str, int]  # sink -> users held over every account
    failing: int  # rows whose last failure is newer than their last success
    last_event_run: RunLink | None = None
    rows: list[SinkRow]


class InventoryPage(BaseModel):
    generated_at: datetime
    tombstone_days: int = TOMBSTONE_DAYS
    dags: list[DagInventory]


class Links:
    """Grid links under the UI's base path (``[api] base_url``'s path, e.g. ``/airflow``)."""

    def __init__(self, base_path: str = "") -> None:
        self.base = base_path.rstrip("/")

    def dag(self, dag_id: str) -> str:
        return f"{self.base}/dags/{quote(dag_id, safe='')}"

    def run(self, dag_id: str, run_id: str) -> str:
        return f"{self.dag(dag_id)}/runs/{quote(run_id, safe='')}"

    def task(self, dag_id: str, run_id: str, task_id: str) -> str:
        url = f"{self.run(dag_id, run_id)}/tasks/{quote(task_id, safe='')}"
        return f"{url}/mapped" if task_id in MAPPED_TASKS else url

    def run_link(self, dag_id: str, run: RunInfo, task_id: str | None = None) -> RunLink:
        return RunLink(
            run_id=run.run_id,
            run_type=run.run_type,
            state=run.state,
            when=run.end_date or run.run_after,
            url=self.run(dag_id, run.run_id),
            task_id=task_id,
            task_url=self.task(dag_id, run.run_id, task_id) if task_id else None,
        )


def _failures_of(
    failed: FailedRun, known_accounts: Iterable[str]
) -> dict[tuple[str, str], tuple[str, str]]:
    """(account, sink) -> (task id, reason) for the rows a failed run left as they were."""
    found: dict[tuple[str, str], tuple[str, str]] = {}
    summary = failed.summary
    if summary is None:  # failed before commit_checkpoint could say which account: all of them
        task = failed.failed_tasks[0] if failed.failed_tasks else COMMIT_TASK
        tasks = ", ".join(failed.failed_tasks) or "unknown"
        for account in known_accounts:
            found[account, ANY_SINK] = (task, f"run failed before the commit (failed: {tasks})")
        return found
    for account, figures in (summary.get("accounts") or {}).items():
        if figures.get("error"):
            found[account, ANY_SINK] = (LISTING_TASK, f"not read: {figures['error']}")
            continue
        for sink, outcome in (figures.get("state") or {}).items():
            if isinstance(outcome, str) and outcome.startswith("left as it was"):
                reason = outcome.split(";", 1)[0].replace("left as it was: ", "not delivered: ")
                found[account, sink] = (SINK_TASKS.get(sink, COMMIT_TASK), reason)
    return found


def dag_inventory(
    dag_id: str,
    states: Iterable[StoredState],
    runs: Mapping[str, RunInfo],
    failed_runs: Iterable[FailedRun],
    now: datetime,
    links: Links,
    last_event_run: RunInfo | None = None,
) -> DagInventory:
    """One DAG's section of the page.

    ``states``: the DAG's state Variables (:func:`read_states`); ``runs``: the runs those states
    name (``run_id``), by id; ``failed_runs``: its recent failed runs, newest first.
    """
    rows: dict[RowKey, SinkRow] = {}  # (account, kind of state, sink) -> row
    since = now - timedelta(days=TOMBSTONE_DAYS)
    for stored in states:
        parts, state = stored.key, stored.state
        row_key = (parts.account, parts.kind, parts.sink)
        if state is None:
            rows[row_key] = SinkRow(
                account=parts.account,
                identities=parts.kind,
                aws_conn_id=parts.aws_conn_id,
                sink=parts.sink,
                status="unreadable state",
                state_error=stored.error,
            )
            continue
        success = None
        if state.run_id:
            run = runs.get(state.run_id)
            if run is None:  # the run was cleaned from the metadata DB: its checkpoint says when
                success = RunLink(
                    run_id=state.run_id,
                    when=state.checkpoint,
                    url=links.run(dag_id, state.run_id),
                )
            else:
                committer = COMMIT_TASK if parts.kind == IAM_STATE else IDENTITY_CENTER_TASK
                success = links.run_link(dag_id, run, committer)
        rows[row_key] = SinkRow(
            account=parts.account,
            identities=parts.kind,
            aws_conn_id=parts.aws_conn_id,
            sink=parts.sink,
            users_held=len(state.users),
            incomplete_users=state.incomplete_users(),
            tombstones_7d=state.tombstones_since(since),
            checkpoint=state.checkpoint,
            last_success=success,
            status="ok",
        )

    seen: set[RowKey] = set()  # rows whose last failure is set
    for failed in failed_runs:
        accounts = sorted({account for account, kind, _ in rows if kind == IAM_STATE})
        failures = [
            (
                [k for k in rows if k[:2] == (account, IAM_STATE) and sink in (ANY_SINK, k[2])],
                (account, IAM_STATE, sink),
                task,
                reason,
            )
            for (account, sink), (task, reason) in _failures_of(failed, accounts).items()
        ]
        if IDENTITY_CENTER_TASK in failed.failed_tasks:  # its rows, whatever the summary says
            failures += [
                ([k], k, IDENTITY_CENTER_TASK, "Identity Center not delivered: the task failed")
                for k in rows
                if k[1] == IDENTITY_CENTER_STATE
            ]
        for targets, new_row, task, reason in failures:
            if not targets:  # an account (or sink) that never committed anything
                targets = [new_row]
                rows[new_row] = SinkRow(account=new_row[0], sink=new_row[2], status="failing")
            link = links.run_link(dag_id, failed.run, task)
            for target in targets:
                if target in seen:
                    continue
                seen.add(target)
                rows[target].last_failure = FailureLink(**link.model_dump(), reason=scrub(reason))

    for row in rows.values():
        if row.status == "unreadable state" or row.last_failure is None:
            continue
        success_when = row.last_success.when if row.last_success else None
        failure_when = row.last_failure.when
        if success_when is None or (failure_when is not None and failure_when > success_when):
            row.status = "failing"

    ordered = [rows[k] for k in sorted(rows)]
    held: dict[str, int] = {}
    for row in ordered:
        if row.users_held is not None:
            held[row.sink] = held.get(row.sink, 0) + row.users_held
    return DagInventory(
        dag_id=dag_id,
        url=links.dag(dag_id),
        accounts=len({row.account for row in ordered}),
        users_held=dict(sorted(held.items())),
        failing=sum(1 for row in ordered if row.status != "ok"),
        last_event_run=links.run_link(dag_id, last_event_run) if last_event_run else None,
        rows=ordered,
    )
