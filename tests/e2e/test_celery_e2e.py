"""CeleryExecutor for real: PostgreSQL and Redis from Debian's packages, an api-server, a scheduler,
a dag-processor and two Celery workers, all on 127.0.0.1, with the settings
``docker-compose.airflow.yml`` ships (``devtools/celery_executor.py``).

moto's IAM is seeded with 2,000 users (the benchmark organisation); the sample DAG runs once with
``dag.test()`` (in-process, as ``airflow dags test``; the reference) and once through the Celery
stack, both with the same logical date and ``run_after``, so run folder and ``logged_time`` agree.
The Celery run must succeed, spread its mapped task instances over both workers (read from
``task_instance.hostname`` in PostgreSQL), write byte-identical files, and keep its state Variable
in PostgreSQL, equal to the reference run's.

Both wall times and which worker ran what go to ``test-artifacts/celery_e2e.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.util import find_spec
from pathlib import Path

import pytest

from airflow_provider_awsiam_ocsf.state_store import state_key, state_key_prefix
from devtools.celery_executor import CELERY_APP, COMPONENT_COMMANDS, celery_executor_settings
from tests.conftest import REPO, aws_connection_uri
from tests.support.airflow_stack import (
    DAG_ID,
    AirflowStack,
    Component,
    reset_moto,
    start_stack,
)
from tests.support.backing_services import (
    PostgresServer,
    RedisServer,
    require_postgres_and_redis,
)
from tests.support.dag_runs import forget_state, run_and_summarize, sink_state

pytestmark = pytest.mark.e2e

CONN_ID = "aws_celery"  # its own state Variables, in the session's SQLite DB too
ACCOUNT = "123456789012"  # moto's default account
STATE_VARIABLE = state_key(DAG_ID, CONN_ID, ACCOUNT, "file")
USERS = 2000
BATCH_SIZE = 250
BATCHES = USERS // BATCH_SIZE
WORKERS = ("worker1", "worker2")
MAPPED_TASKS = ("enrich_users", "to_ocsf", "write_files")
ARTIFACT = REPO / "test-artifacts" / "celery_e2e.json"


def run_conf(output_dir: Path) -> dict:
    return {
        "aws_conn_id": CONN_ID,
        "batch_size": BATCH_SIZE,
        "sinks": ["file"],
        "output_uri": f"file://{output_dir}",
        "settle_seconds": 0,
    }


def files_below(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (hidden temporaries included): relative path -> bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@dataclass
class Reference:
    run_after: datetime
    files: dict[str, bytes]
    state: dict
    seconds: float


@pytest.fixture(scope="module")
def reference_run(iam_endpoint, airflow_home, tmp_path_factory) -> Reference:
    """2,000 users in an emptied moto, and the sample DAG's ``dag.test()`` run over them (before
    the Celery stack starts, so the two timings do not share the CPU)."""
    from moto.iam.models import iam_backends

    from benchmarks.seed import Organisation

    reset_moto(iam_endpoint)
    assert Organisation(iam_backends[ACCOUNT]["aws"]).grow_to(USERS).users == USERS
    # After every CreateDate, so the incremental window (until run_after) holds everyone.
    run_after = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)
    output = tmp_path_factory.mktemp("dag-test-output")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", aws_connection_uri(iam_endpoint))
        forget_state(CONN_ID)
        try:
            started = time.monotonic()
            state, tasks, _ = run_and_summarize(run_conf(output), logical_date=run_after)
            seconds = time.monotonic() - started
            assert state == "success", tasks
            sink = sink_state("file", CONN_ID)
        finally:
            forget_state(CONN_ID)
    assert sink is not None
    return Reference(run_after=run_after, files=files_below(output), state=sink, seconds=seconds)


@dataclass
class CeleryStack:
    airflow: AirflowStack
    postgres: PostgresServer
    redis: RedisServer


def workers_answering(stack: AirflowStack) -> set[str]:
    """The workers that answer Celery's ping (the compose file's worker health check)."""
    result = subprocess.run(
        [sys.executable, "-m", "celery", "--app", CELERY_APP, "inspect", "ping", "--timeout", "5"],
        env=stack.env,
        cwd=stack.home,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return {name for name in WORKERS if f"{name}@" in result.stdout}


@pytest.fixture(scope="module")
def celery_stack(iam_endpoint, tmp_path_factory) -> Iterator[CeleryStack]:
    """PostgreSQL, Redis, api-server, scheduler, dag-processor and two Celery workers (2 slots
    each). Everything is stopped when the module ends, whatever happened: Airflow's process
    groups first, then Redis (SHUTDOWN), then PostgreSQL (pg_ctl stop)."""
    require_postgres_and_redis()
    missing = [m for m in ("airflow.providers.celery", "psycopg2", "asyncpg") if not find_spec(m)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: install the celery extra (pip install '.[celery]')"
        )
    with ExitStack() as cleanup:
        postgres = PostgresServer.start()
        cleanup.callback(postgres.stop)
        redis = RedisServer.start()
        cleanup.callback(redis.stop)
        workers = [
            Component(
                name,
                (
                    *COMPONENT_COMMANDS["celery-worker"],
                    "--celery-hostname",
                    f"{name}@%h",
                    "--concurrency",
                    "2",
                    # One log server per machine would collide on its port; the api-server reads
                    # the task logs from the shared AIRFLOW_HOME instead.
                    "--skip-serve-logs",
                ),
                env={
                    "AIRFLOW__CORE__HOSTNAME_CALLABLE": (
                        "tests.support.worker_hostname.worker_hostname"
                    ),
                    "AWSIAM_OCSF_WORKER_HOSTNAME": name,
                },
            )
            for name in WORKERS
        ]
        stack = start_stack(
            tmp_path_factory.mktemp("celery-stack"),
            {CONN_ID: aws_connection_uri(iam_endpoint)},
            timeout=240,
            settings=celery_executor_settings(
                postgres=postgres.address,
                redis=redis.address,
                user=postgres.user,
                password=postgres.password,
                database=postgres.database,
            ),
            components=[
                Component("dag-processor", COMPONENT_COMMANDS["dag-processor"]),
                *workers,
            ],
        )
        cleanup.callback(stack.stop)
        stack.wait_until(
            "both Celery workers to answer a ping",
            lambda: workers_answering(stack) == set(WORKERS),
            timeout=180,
            interval=3,
        )
        yield CeleryStack(airflow=stack, postgres=postgres, redis=redis)


def variable_value(stack: AirflowStack, postgres: PostgresServer, key: str) -> str:
    """A Variable's value read from the ``variable`` table, decrypted with the stack's Fernet key
    when it is encrypted. (The REST API is no help here: its secrets masker shows "***" for any
    entry whose key, a user id, contains a sensitive word such as "dsn" or "token".)"""
    ((value, encrypted),) = postgres.query(
        "SELECT val, is_encrypted FROM variable WHERE key = %s", key
    )
    if not encrypted:
        return value
    from cryptography.fernet import Fernet

    fernet_key = stack.cli("config", "get-value", "core", "fernet_key").stdout.split()[-1]
    return Fernet(fernet_key.encode()).decrypt(value.encode()).decode()


def test_celery_run_spreads_over_both_workers_and_writes_what_dag_test_writes(
    reference_run, celery_stack, tmp_path, ocsf_validator
):
    stack, postgres = celery_stack.airflow, celery_stack.postgres
    output = tmp_path / "celery-output"
    when = reference_run.run_after

    started = time.monotonic()
    run_id = stack.trigger(run_conf(output), logical_date=when, run_after=when)
    (run,) = stack.wait_for_dag_runs(lambda r: r["dag_run_id"] == run_id, 1, timeout=600)
    wall_seconds = time.monotonic() - started
    assert run["state"] == "success"

    # Which worker ran what, as the metadata DB (PostgreSQL) recorded it.
    rows = postgres.query(
        "SELECT task_id, map_index, hostname, state FROM task_instance"
        " WHERE dag_id = %s AND run_id = %s ORDER BY task_id, map_index",
        DAG_ID,
        run_id,
    )
    assert rows, "no task instances in PostgreSQL"
    # The Sekoia sink is off and Identity Center not selected: those tasks skip themselves;
    # everything else succeeded, on one of the two workers (the scheduler runs nothing itself).
    assert {(task, state) for task, _, _, state in rows if state != "success"} <= {
        ("push_to_sekoia", "skipped"),
        ("inventory_identity_center", "skipped"),
    }, rows
    assert {hostname for _, _, hostname, state in rows if state == "success"} <= set(WORKERS), rows
    mapped = [(task, index, host) for task, index, host, _ in rows if task in MAPPED_TASKS]
    for task in MAPPED_TASKS:
        assert sorted(i for t, i, _ in mapped if t == task) == list(range(BATCHES)), task
    assert {host for *_, host in mapped} == set(WORKERS), f"mapped tasks not spread: {mapped}"

    # The same files, byte for byte, as dag.test() wrote for the same IAM world and instant.
    files = files_below(output)
    assert sorted(files) == sorted(reference_run.files)
    assert len(files) == BATCHES
    for path, data in files.items():
        assert data == reference_run.files[path], f"{path} differs from the dag.test() run"
    events = [json.loads(line) for data in files.values() for line in data.splitlines()]
    assert len(events) == USERS
    assert len({e["user"]["uid"] for e in events}) == USERS
    for event in events:
        ocsf_validator(event)

    # The state Variable lives in PostgreSQL, and says what the reference run's says.
    keys = postgres.query(
        "SELECT key FROM variable WHERE key LIKE %s ORDER BY key", f"{state_key_prefix(DAG_ID)}%"
    )
    assert keys == [(STATE_VARIABLE,)]
    state = json.loads(variable_value(stack, postgres, STATE_VARIABLE))
    differing = {
        uid: (held, reference_run.state["users"].get(uid))
        for uid, held in state["users"].items()
        if held != reference_run.state["users"].get(uid)
    }
    assert len(state["users"]) == USERS and not differing, list(differing.items())[:5]
    assert state == reference_run.state

    by_worker = {
        name: sorted(f"{task}[{index}]" for task, index, host in mapped if host == name)
        for name in WORKERS
    }
    figures = {
        "users": USERS,
        "batch_size": BATCH_SIZE,
        "celery": {
            "workers": len(WORKERS),
            "concurrency_per_worker": 2,
            "wall_seconds_trigger_to_success": round(wall_seconds, 1),
            "run_seconds_start_to_end": round(
                (
                    datetime.fromisoformat(run["end_date"])
                    - datetime.fromisoformat(run["start_date"])
                ).total_seconds(),
                1,
            ),
        },
        "dag_test_wall_seconds": round(reference_run.seconds, 1),
        "mapped_task_instances_by_worker": by_worker,
        "all_task_instances_by_worker": {
            name: sum(1 for *_, host, _ in rows if host == name) for name in WORKERS
        },
    }
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
