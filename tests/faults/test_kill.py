"""The worst moment to die: a sink took the events, the state that says so is not written yet."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

from tests.support.dag_runs import DAG_ID, sink_state
from tests.support.faults import lost_and_twice
from tests.support.iam_world import add_users
from tests.support.sekoia_server import sekoia_connection_json

USERS = [f"user{i:02d}" for i in range(30)]
CONN_ID = "sekoia_kill"


def mark_killed_runs_failed() -> int:
    """A SIGKILLed ``dags test`` leaves its run 'running'; a scheduler would fail it later."""
    from tests.support.airflow_compat import DagRun, DagRunState, create_session

    with create_session() as session:
        runs = session.query(DagRun).filter_by(dag_id=DAG_ID, state=DagRunState.RUNNING).all()
        for run in runs:
            run.state = DagRunState.FAILED
        return len(runs)


def test_sigkill_between_delivery_and_state_write_resends_and_loses_nothing(
    iam, sekoia_server, dag_runs, monkeypatch, fault
):
    add_users(iam, USERS)
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        sekoia_connection_json(
            sekoia_server.base_url, sekoia_server.api_key, sekoia_server.connector_uuid
        ),
    )
    conf = {
        "strategy": "bulk",
        "sinks": ["sekoia"],
        "sekoia_conn_id": CONN_ID,
        "batch_size": 10,
        "settle_seconds": 0,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow", "dags", "test", DAG_ID, "-c", json.dumps(conf)],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    killed = threading.Event()

    def kill_once_everything_is_taken(_items: list[dict]) -> None:
        if len(sekoia_server.accepted) == len(USERS) and not killed.is_set():
            killed.set()
            os.killpg(process.pid, signal.SIGKILL)  # before Sekoia even answers

    sekoia_server.on_take = kill_once_everything_is_taken
    try:
        assert process.wait(timeout=300) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert killed.is_set()
    sekoia_server.on_take = None
    assert mark_killed_runs_failed() == 1
    assert sink_state("sekoia") is None  # Sekoia holds every user; the state does not know it
    first = sorted(i["user"]["name"] for i in sekoia_server.accepted)
    assert first == USERS

    run = dag_runs(**conf)
    assert run.state == "success"
    lost, twice = lost_and_twice(USERS, (i["user"]["name"] for i in sekoia_server.accepted))
    assert (lost, twice) == (0, 30)
    assert dag_runs(**conf).state == "success" and len(sekoia_server.accepted) == 60
    fault.record(
        "Worker killed (SIGKILL) after delivery, before the state write",
        did="`airflow dags test` killed the moment Sekoia had taken the run's last event",
        lost=lost,
        duplicates=twice,
        recovery="the next run sent every user again (at-least-once); the run after sent none",
    )
