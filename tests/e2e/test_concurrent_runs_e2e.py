"""Two runs at once on a real scheduler: the second waits (``max_active_runs=1``), so the state
is never written by two runs, and the second sends only what the first did not."""

from __future__ import annotations

import time

import pytest

from airflow_provider_awsiam_ocsf.pipeline import DAG_ID
from airflow_provider_awsiam_ocsf.state_store import state_key
from devtools.local import iam_client
from tests.conftest import aws_connection_uri
from tests.support.airflow_stack import TERMINAL_RUN_STATES, reset_moto
from tests.support.dag_runs import read_events
from tests.support.iam_world import add_users

pytestmark = pytest.mark.e2e

CONN = "aws_concurrent"  # a connection of its own: its state Variables are this test's
USERS = [f"user{i:02d}" for i in range(40)]


def test_a_run_triggered_while_one_runs_waits_and_sends_only_the_rest(
    airflow_stack, iam_endpoint, tmp_path, fault
):
    reset_moto(iam_endpoint)
    add_users(iam_client(iam_endpoint), USERS)
    airflow_stack.cli("connections", "add", CONN, "--conn-json", aws_connection_uri(iam_endpoint))
    out = tmp_path / "out"
    conf = {
        "aws_conn_id": CONN,
        "strategy": "per_user",
        "batch_size": 10,
        "settle_seconds": 0,
        "output_uri": f"file://{out}",
    }
    first = airflow_stack.trigger(conf)
    second = airflow_stack.trigger(conf)

    seen: list[tuple[str, str]] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        states = {r["dag_run_id"]: r["state"] for r in airflow_stack.dag_runs()}
        seen.append((states[first], states[second]))
        if all(s in TERMINAL_RUN_STATES for s in seen[-1]):
            break
        time.sleep(0.25)
    assert seen[-1] == ("success", "success"), airflow_stack.diagnostics()
    assert ("running", "queued") in seen  # the second waited for the first
    assert not any(a == b == "running" for a, b in seen)

    def folder(run_id: str) -> str:  # as write_files names a run's folder
        return "run=" + "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)

    assert {p.parent.name for p in out.rglob("*.ndjson")} == {folder(first)}
    delivered = sorted(e["user"]["name"] for e in read_events(out))
    assert delivered == USERS  # each once, all from the first run
    variables = airflow_stack.variables()
    assert any(k.endswith(state_key(DAG_ID, CONN, "123456789012", "file")) for k in variables)
    fault.record(
        "Concurrent runs: a manual run triggered while one runs",
        did="two runs triggered back to back on a real scheduler (LocalExecutor)",
        lost=0,
        duplicates=0,
        recovery="the second stayed queued until the first finished (max_active_runs=1), then "
        "found nothing left to send",
    )
