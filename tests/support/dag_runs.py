"""Running the sample DAG for real (``dag.test()`` on the session SQLite DB), reading its output."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import pytest

DAG_ID = "aws_iam_users_ocsf"  # pipeline.DAG_ID, without importing Airflow at plugin load


def sample_dag(task_retries: int | None = None, retry_delay: float = 1.0):
    """The sample DAG as its file defines it; ``task_retries`` replaces every task's retries (and
    ``retry_delay``, in seconds), since ``dag.test()`` waits out real retry delays."""
    from tests.conftest import REPO
    from tests.support.airflow_compat import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / f"{DAG_ID}.py"))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(DAG_ID)
    if task_retries is not None:
        for task in dag.tasks:
            task.retries = task_retries
            task.retry_delay = timedelta(seconds=retry_delay)
    return dag


def run_sample_dag(conf: dict, logical_date: datetime | None = None):
    """One run of the sample DAG; returns (state, {task_id: [states]})."""
    state, states, _ = run_and_summarize(conf, logical_date)
    return state, states


def run_and_summarize(conf: dict, logical_date: datetime | None = None, *, task_retries: int = 0):
    """One run of the sample DAG; returns (state, {task_id: [states]}, run summary or None).

    Tasks are not retried unless ``task_retries`` says so (then 1 s apart): a failure a test
    provokes would otherwise be retried minutes apart, as the DAG does in production."""
    from tests.support.airflow_compat import XComModel, create_session

    kwargs = {"run_conf": conf}
    if logical_date is not None:
        kwargs.update(logical_date=logical_date, run_after=logical_date)
    dag_run = sample_dag(task_retries=task_retries).test(**kwargs)
    states: dict[str, list[str]] = {}
    for ti in dag_run.get_task_instances():
        states.setdefault(ti.task_id, []).append(str(ti.state))
    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(
                dag_id=DAG_ID, run_id=dag_run.run_id, task_id="commit_checkpoint", key="summary"
            )
            .one_or_none()
        )
        summary = None if row is None else XComModel.deserialize_value(row)
    return str(dag_run.state), states, summary


class Run(NamedTuple):
    state: str
    tasks: dict[str, list[str]]
    summary: dict | None
    events: list[dict]


@pytest.fixture
def dag_runs(iam, airflow_home, tmp_path):
    """Runs the sample DAG with run conf (batches of 10, no settling) into a fresh output folder
    each time; the ``aws_default`` state is forgotten before and after."""
    forget_state()
    count = 0

    def run(*, task_retries: int = 0, **conf) -> Run:
        nonlocal count
        count += 1
        out = tmp_path / f"run{count}"
        conf = {"batch_size": 10, "settle_seconds": 0, "output_uri": f"file://{out}", **conf}
        state, tasks, summary = run_and_summarize(conf, task_retries=task_retries)
        return Run(state, tasks, summary, read_events(out) if out.exists() else [])

    yield run
    forget_state()


def read_events(folder: Path) -> list[dict]:
    """Every event of every NDJSON file below ``folder``."""
    return [
        json.loads(line)
        for f in sorted(folder.rglob("*.ndjson"))
        for line in f.read_text().splitlines()
    ]


ACCOUNT = "123456789012"  # moto's default account


def sink_state(sink: str = "file", aws_conn_id: str = "aws_default", account: str = ACCOUNT):
    """The sink's state Variable as a dict, or None when there is none."""
    from airflow_provider_awsiam_ocsf.state_store import state_key
    from tests.support.airflow_compat import Variable

    value = Variable.get(state_key(DAG_ID, aws_conn_id, account, sink), default_var=None)
    return None if value is None else json.loads(value)


def checkpoint_value(sink: str = "file", aws_conn_id: str = "aws_default") -> str | None:
    """The sink's checkpoint (ISO 8601), or None when it has no state."""
    state = sink_state(sink, aws_conn_id)
    return None if state is None else state.get("checkpoint")


def forget_state(aws_conn_id: str = "aws_default") -> None:
    """Delete every state Variable of the connection (Identity Center's too), and the previous
    release's checkpoint."""
    from airflow_provider_awsiam_ocsf.state_store import legacy_checkpoint_key, state_key_prefix
    from tests.support.airflow_compat import Variable, create_session

    with create_session() as session:
        keys = [
            v.key
            for prefix in (
                state_key_prefix(DAG_ID, aws_conn_id),
                f"{DAG_ID}__identity_center__{aws_conn_id}__",
            )
            for v in session.query(Variable).filter(Variable.key.like(f"{prefix}%"))
        ]
    for key in [*keys, legacy_checkpoint_key(DAG_ID, aws_conn_id)]:
        Variable.delete(key)
