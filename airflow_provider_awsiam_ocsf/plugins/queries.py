"""The page's reads from the metadata DB, a fixed number of queries whatever the number of
accounts: ONE for every state Variable of every DAG shown, one for the runs those states name,
and per DAG one for its recent failed runs, one for their summaries and failed tasks, one for
its last event-driven run.

Which DAGs: those whose sink Assets (``pipeline.sink_assets``, ``ocsf-inventory://<dag id>/…``)
are active, i.e. DAGs built with ``build_inventory_dag`` that a dag-processor has parsed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from airflow_provider_awsiam_ocsf.plugins.overview import (
    COMMIT_TASK,
    FailedRun,
    InventoryPage,
    Links,
    RunInfo,
    dag_inventory,
    read_states,
)
from airflow_provider_awsiam_ocsf.state_store import state_key_prefixes

ASSET_SCHEME = "ocsf-inventory://"  # pipeline.sink_assets
FAILED_RUNS_SHOWN = 20  # per DAG: how far back "last failed run" looks
SUMMARY_KEY = "summary"  # contracts.XComKey.SUMMARY, pushed by commit_checkpoint


def inventory_dag_ids(session: Session) -> set[str]:
    """DAGs built with ``build_inventory_dag``, parsed and not stale."""
    from airflow.models.asset import AssetActive
    from airflow.models.dag import DagModel

    uris = session.scalars(select(AssetActive.uri).where(AssetActive.uri.like(f"{ASSET_SCHEME}%")))
    dag_ids = {uri[len(ASSET_SCHEME) :].split("/", 1)[0] for uri in uris}
    if not dag_ids:
        return set()
    return set(
        session.scalars(
            select(DagModel.dag_id).where(DagModel.dag_id.in_(dag_ids), ~DagModel.is_stale)
        )
    )


def state_variables(session: Session, dag_ids: Iterable[str]) -> list[tuple[str, str]]:
    """(key, value) of every state Variable of ``dag_ids``, in one query (values decrypted)."""
    from airflow.models.variable import Variable

    prefixes = [p for dag_id in sorted(dag_ids) for p in state_key_prefixes(dag_id).values()]
    if not prefixes:
        return []
    # ``_`` is a LIKE wildcard: a prefix may match a little more; parse_state_key sorts it out.
    rows = session.scalars(
        select(Variable).where(or_(*(Variable.key.like(f"{p}%") for p in prefixes)))
    )
    return [(row.key, row.val) for row in rows if row.val is not None]


def _run_info(run: Any) -> RunInfo:
    return RunInfo(
        run_id=run.run_id,
        run_type=str(getattr(run.run_type, "value", run.run_type)),
        state=str(getattr(run.state, "value", run.state)),
        run_after=run.run_after,
        end_date=run.end_date,
    )


def runs_by_id(
    session: Session, dag_ids: Iterable[str], run_ids: set[str]
) -> dict[tuple[str, str], RunInfo]:
    from airflow.models.dagrun import DagRun

    if not run_ids:
        return {}
    rows = session.scalars(
        select(DagRun).where(DagRun.dag_id.in_(list(dag_ids)), DagRun.run_id.in_(sorted(run_ids)))
    )
    return {(row.dag_id, row.run_id): _run_info(row) for row in rows}


def failed_runs(session: Session, dag_id: str, limit: int = FAILED_RUNS_SHOWN) -> list[FailedRun]:
    """The DAG's last failed runs, newest first, with their summaries and failed tasks."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel

    runs = list(
        session.scalars(
            select(DagRun)
            .where(DagRun.dag_id == dag_id, DagRun.state == "failed")
            .order_by(DagRun.run_after.desc())
            .limit(limit)
        )
    )
    if not runs:
        return []
    run_ids = [run.run_id for run in runs]
    summaries = {
        row.run_id: XComModel.deserialize_value(row)
        for row in session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_id,
                XComModel.run_id.in_(run_ids),
                XComModel.task_id == COMMIT_TASK,
                XComModel.key == SUMMARY_KEY,
            )
        )
    }
    failed_tasks: dict[str, list[str]] = {}
    for run_id, task_id in session.execute(
        select(TaskInstance.run_id, TaskInstance.task_id)
        .where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id.in_(run_ids),
            TaskInstance.state == "failed",
        )
        .order_by(TaskInstance.start_date)
    ):
        tasks = failed_tasks.setdefault(run_id, [])
        if task_id not in tasks:
            tasks.append(task_id)
    return [
        FailedRun(
            run=_run_info(run),
            summary=summaries.get(run.run_id)
            if isinstance(summaries.get(run.run_id), dict)
            else None,
            failed_tasks=tuple(failed_tasks.get(run.run_id, ())),
        )
        for run in runs
    ]


def last_event_run(session: Session, dag_id: str) -> RunInfo | None:
    """The DAG's last run started by an asset event (SPEC §10's event-driven refresh)."""
    from airflow.models.dagrun import DagRun

    run = session.scalars(
        select(DagRun)
        .where(DagRun.dag_id == dag_id, DagRun.run_type == "asset_triggered")
        .order_by(DagRun.run_after.desc())
        .limit(1)
    ).first()
    return None if run is None else _run_info(run)


def inventory_page(
    session: Session, dag_ids: set[str], now: datetime, links: Links
) -> InventoryPage:
    """The page for ``dag_ids`` (those the caller may read)."""
    variables = state_variables(session, dag_ids)
    states = {dag_id: read_states(dag_id, variables) for dag_id in dag_ids}
    run_ids = {
        stored.state.run_id
        for found in states.values()
        for stored in found
        if stored.state is not None and stored.state.run_id
    }
    runs = runs_by_id(session, dag_ids, run_ids)
    sections = []
    for dag_id in sorted(dag_ids):
        mine = {run_id: info for (d, run_id), info in runs.items() if d == dag_id}
        sections.append(
            dag_inventory(
                dag_id,
                states[dag_id],
                mine,
                failed_runs(session, dag_id),
                now,
                links,
                last_event_run(session, dag_id),
            )
        )
    return InventoryPage(generated_at=now, dags=sections)
