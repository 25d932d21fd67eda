"""Running the sample DAG for real (``dag.test()`` on the session SQLite DB), reading its output."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

DAG_ID = "aws_iam_users_ocsf"


def sample_dag():
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import REPO

    bag = DagBag(dag_folder=str(REPO / "dags" / f"{DAG_ID}.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(DAG_ID)


def run_sample_dag(conf: dict, logical_date: datetime | None = None):
    """One run of the sample DAG; returns (state, {task_id: [states]})."""
    kwargs = {"run_conf": conf}
    if logical_date is not None:
        kwargs.update(logical_date=logical_date, run_after=logical_date)
    dag_run = sample_dag().test(**kwargs)
    states: dict[str, list[str]] = {}
    for ti in dag_run.get_task_instances():
        states.setdefault(ti.task_id, []).append(str(ti.state))
    return str(dag_run.state), states


def read_events(folder: Path) -> list[dict]:
    """Every event of every NDJSON file below ``folder``."""
    return [
        json.loads(line)
        for f in sorted(folder.rglob("*.ndjson"))
        for line in f.read_text().splitlines()
    ]


def checkpoint_value(aws_conn_id: str = "aws_default") -> str | None:
    from airflow.models.variable import Variable

    return Variable.get(f"{DAG_ID}__checkpoint__{aws_conn_id}", default_var=None)


def delete_checkpoint(aws_conn_id: str = "aws_default") -> None:
    from airflow.models.variable import Variable

    Variable.delete(f"{DAG_ID}__checkpoint__{aws_conn_id}")
