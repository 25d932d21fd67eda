"""A real Airflow stack for end-to-end tests: scheduler (LocalExecutor) and api-server (REST, UI and
execution API) on 127.0.0.1, over a SQLite metadata DB in a temporary AIRFLOW_HOME of its own.

The stack's environment is built explicitly (it does not inherit the conftest's AIRFLOW_HOME nor any
``AIRFLOW*``/``AWS*`` variable of the calling shell). The DAGs come from ``dags/``, serialized once
with ``airflow dags reserialize`` (no dag-processor: the DAG file does not change during a test)
and unpaused through the REST API.

``start_stack(settings=..., components=...)`` builds other deployments from the same parts: the
Celery e2e test passes CeleryExecutor settings (PostgreSQL, Redis) and adds a dag-processor and
Celery workers as ``Component``s; ``triggerer=True`` adds a triggerer (event runs: it polls the
SQS queue of an ``AssetWatcher``).
The scheduler creates no scheduled runs (``use_job_schedule=False``): only backfills and triggered
runs execute, so a test knows every run there is. LocalExecutor works on SQLite in Airflow 3 (tasks
reach the DB through the execution API only; SequentialExecutor is gone).

Every process is started in its own session and stopped with its whole process group
(SIGTERM → wait → SIGKILL); stdout/stderr go to ``<home>/logs/<name>.log``.

The fixtures are registered for every test module by ``pytest_plugins`` in ``tests/conftest.py``;
``airflow_stack`` is one stack per pytest session, started only when an e2e test asks for it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO, aws_connection_uri

DAG_ID = "aws_iam_users_ocsf"  # pipeline.DAG_ID, without importing Airflow at plugin load

ADMIN_USER = "admin"
TERMINAL_RUN_STATES = ("success", "failed")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no file)"
    return "\n".join(text[-lines:])


def sqlite_local_executor_settings(home: Path) -> dict[str, str]:
    """The default stack's database and executor: SQLite in ``home``, LocalExecutor."""
    return {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": (
            "tests.support.sqlite_busy_timeout.CONNECT_ARGS"
        ),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    }


def airflow_env(
    home: Path,
    port: int,
    connections: dict[str, str],
    password_file: Path,
    settings: dict[str, str] | None = None,
) -> dict:
    """The whole environment of the stack's processes: nothing ``AIRFLOW*``/``AWS*`` leaks in.

    ``settings`` (database, executor, broker…) default to ``sqlite_local_executor_settings``.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "AWS_", "MOTO_", "_AIRFLOW"))
    }
    env.update(
        AIRFLOW_HOME=str(home),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW__CORE__PARALLELISM="6",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__API__SECRET_KEY=secrets.token_hex(16),
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(32),
        # 3.0.6 with the pinned PyJWT refuses tokens without an issuer (SPEC §10).
        AIRFLOW__API_AUTH__JWT_ISSUER="awsiam-ocsf-tests",
        AIRFLOW__CORE__AUTH_MANAGER=(
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{ADMIN_USER}:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(password_file),
        # Only backfills and triggered runs: no scheduled run moves the checkpoint behind a test.
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
        AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        AWS_EC2_METADATA_DISABLED="true",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.update(settings if settings is not None else sqlite_local_executor_settings(home))
    env.update({f"AIRFLOW_CONN_{conn_id.upper()}": uri for conn_id, uri in connections.items()})
    return env


@dataclass(frozen=True)
class Component:
    """One more long-running ``airflow <args>`` of a stack, with variables of its own."""

    name: str
    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


DAG_PROCESSOR = Component("dag-processor", ("dag-processor",))
TRIGGERER = Component("triggerer", ("triggerer", "--skip-serve-logs"))


@dataclass
class AirflowStack:
    home: Path
    port: int
    env: dict = field(repr=False)
    password: str = field(repr=False)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    _token: str | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    # -- processes -------------------------------------------------------------------------------

    def cli(
        self, *args: str, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess:
        """``airflow <args>`` in the stack's environment; output kept for the assertion message."""
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.home,
        )
        if check and result.returncode:
            raise AssertionError(
                f"airflow {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout[-4000:]}\n"
                f"stderr:\n{result.stderr[-4000:]}"
            )
        return result

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """A long-running ``airflow <args>`` in its own session; output to ``logs/<name>.log``.
        ``env`` adds variables for this process only."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "airflow", *args],
                env={**self.env, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.home,
                start_new_session=True,
            )
        self.processes[name] = proc
        return proc

    def stop(self, grace: float = 20) -> None:
        """SIGTERM every process group, wait, then SIGKILL what is left. Safe to call twice."""
        for proc in self.processes.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.processes.values():
            # Also the children (executor workers, task supervisors) of a leader that already left.
            _signal_group(proc, signal.SIGKILL)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def assert_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise AssertionError(
                    f"airflow {name} exited with {proc.returncode}\n" + self.diagnostics()
                )

    def diagnostics(self, lines: int = 40) -> str:
        """Tails of the processes' logs and of the task logs that mention an error."""
        parts = [
            f"--- {name} (pid {proc.pid}, exit {proc.poll()}): {self.log_dir / name}.log ---\n"
            + tail(self.log_dir / f"{name}.log", lines)
            for name, proc in self.processes.items()
        ]
        task_logs = sorted(self.log_dir.glob("dag_id=*/**/*.log"))
        for path in task_logs:
            text = path.read_text(errors="replace")
            if '"level":"error"' in text or "ERROR" in text or "Traceback" in text:
                parts.append(
                    f"--- task log {path.relative_to(self.log_dir)} ---\n" + tail(path, lines)
                )
        return "\n".join(parts)

    def wait_until(
        self, what: str, check: Callable[[], object], timeout: float, interval: float = 1.0
    ):
        """Poll ``check`` until it returns something truthy; fail with the log tails on timeout."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            self.assert_alive()
            try:
                value = check()
                if value:
                    return value
            except (requests.RequestException, AssertionError) as error:
                last_error = error
            time.sleep(interval)
        raise AssertionError(
            f"timed out after {timeout:.0f}s waiting for {what}"
            f" (last error: {last_error!r})\n{self.diagnostics()}"
        )

    # -- REST API ----------------------------------------------------------------------------------

    def token(self, refresh: bool = False) -> str:
        """A JWT from SimpleAuthManager's ``POST /auth/token``."""
        if self._token is None or refresh:
            response = requests.post(
                f"{self.base_url}/auth/token",
                timeout=10,
                json={"username": ADMIN_USER, "password": self.password},
            )
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        """A call to ``/api/v2<path>`` with the bearer token."""
        kwargs.setdefault("timeout", 15)
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.base_url}/api/v2{path}", headers=headers, **kwargs)

    def dag_runs(self, dag_id: str = DAG_ID) -> list[dict]:
        response = self.api(
            "GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100, "order_by": "logical_date"}
        )
        response.raise_for_status()
        return list(response.json()["dag_runs"])

    def task_instances(self, run_id: str, dag_id: str = DAG_ID) -> list[dict]:
        response = self.api(
            "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100}
        )
        response.raise_for_status()
        return list(response.json()["task_instances"])

    def wait_for_dag_runs(
        self, select: Callable[[dict], bool], count: int, timeout: float, dag_id: str = DAG_ID
    ) -> list[dict]:
        """The ``count`` runs that ``select`` picks, once all of them are finished (success/failed).

        Fails at once, with each failed task's state, when a selected run failed.
        """

        def finished() -> list[dict] | None:
            runs = [r for r in self.dag_runs(dag_id) if select(r)]
            if len(runs) < count or any(r["state"] not in TERMINAL_RUN_STATES for r in runs):
                return None
            return runs

        runs = self.wait_until(f"{count} finished runs of {dag_id}", finished, timeout)
        failed = [r for r in runs if r["state"] != "success"]
        if failed:
            details = []
            for run in failed:
                tis = self.task_instances(run["dag_run_id"], dag_id)
                details.append(
                    f"{run['dag_run_id']}: "
                    + ", ".join(f"{ti['task_id']}[{ti['map_index']}]={ti['state']}" for ti in tis)
                )
            raise AssertionError("runs failed:\n" + "\n".join(details) + "\n" + self.diagnostics())
        return runs

    def wait_for_backfill_completed(self, backfill_id: int, timeout: float = 75) -> dict:
        """Wait for the scheduler to mark the backfill completed (it checks every 30 s).

        Only then may another backfill of the same DAG be created.
        """

        def completed() -> dict | None:
            response = self.api("GET", f"/backfills/{backfill_id}")
            response.raise_for_status()
            backfill = response.json()
            return backfill if backfill.get("completed_at") else None

        return self.wait_until(f"backfill {backfill_id} to be marked completed", completed, timeout)

    def variables(self) -> dict[str, str]:
        response = self.api("GET", "/variables", params={"limit": 100})
        response.raise_for_status()
        return {v["key"]: v["value"] for v in response.json()["variables"]}

    def latest_backfill(self, dag_id: str = DAG_ID) -> dict | None:
        """The DAG's newest backfill, None when it has none."""
        response = self.api("GET", "/backfills", params={"dag_id": dag_id, "limit": 100})
        response.raise_for_status()
        return max(response.json()["backfills"], key=lambda b: b["id"], default=None)

    def trigger(
        self,
        conf: dict,
        dag_id: str = DAG_ID,
        logical_date: datetime | None = None,
        run_after: datetime | None = None,
    ) -> str:
        """A manual run through ``POST /dags/{dag_id}/dagRuns``; returns its run id.
        ``run_after`` defaults to now (the API's default), whatever the logical date."""
        body = {"conf": conf, "logical_date": logical_date.isoformat() if logical_date else None}
        if run_after is not None:
            body["run_after"] = run_after.isoformat()
        response = self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)
        assert response.status_code == 200, response.text
        return response.json()["dag_run_id"]


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # the process was started as the leader of its own session
    except (ProcessLookupError, PermissionError):
        pass


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before port {port} opened")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f}s")


def start_stack(
    home: Path,
    connections: dict[str, str],
    dags: Iterable[str] = (DAG_ID,),
    timeout: float = 90,
    settings: dict[str, str] | None = None,
    components: Iterable[Component] = (),
    extra_env: dict[str, str] | None = None,
    triggerer: bool = False,
) -> AirflowStack:
    """Migrate the DB, start api-server, scheduler and ``components``, serialize and unpause the
    DAGs. ``settings`` replace the SQLite/LocalExecutor ones (see ``airflow_env``); ``extra_env``
    adds more ``AIRFLOW__*`` variables (e.g. log levels); ``triggerer`` starts ``airflow
    triggerer`` too (no log server, as the scheduler).

    With a ``dag-processor`` among the components, it serializes the DAGs (the stack waits for
    them); without one, ``airflow dags reserialize`` does it once.

    Returns once the REST API hands out a token, the scheduler heartbeats and the DAGs are
    unpaused. On any failure the processes already started are stopped before the error propagates.
    """
    components = list(components)
    if triggerer:
        components.append(TRIGGERER)
    dag_processor = any(c.args[:1] == ("dag-processor",) for c in components)
    home.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    password_file = home / "simple_auth_manager_passwords.json"
    password_file.write_text(json.dumps({ADMIN_USER: password}))
    port = free_port()
    stack = AirflowStack(
        home=home,
        port=port,
        password=password,
        env={**airflow_env(home, port, connections, password_file, settings), **(extra_env or {})},
    )
    try:
        stack.cli("db", "migrate")
        stack.start(
            "api-server", "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"
        )
        # No log server (it would listen on every interface at a fixed port): the api-server
        # reads the task logs from this AIRFLOW_HOME directly.
        stack.start("scheduler", "scheduler", "--skip-serve-logs")
        for component in components:
            stack.start(component.name, *component.args, env=component.env)
        if not dag_processor:
            stack.cli("dags", "reserialize")  # while the servers start up
        try:
            wait_for_port(port, timeout, stack.processes["api-server"])
        except AssertionError as error:
            raise AssertionError(f"{error}\n{stack.diagnostics()}") from None
        stack.wait_until(
            "the REST API to hand out a token", lambda: stack.token(refresh=True), timeout
        )
        for dag_id in dags:

            def unpaused(dag_id: str = dag_id) -> bool:
                response = stack.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
                # 404 until the dag-processor has serialized the DAG.
                if response.status_code == 404 and dag_processor:
                    return False
                assert response.status_code == 200, f"unpausing {dag_id}: {response.text}"
                return True

            stack.wait_until(f"{dag_id} to be serialized and unpaused", unpaused, timeout)

        def scheduler_healthy() -> bool:
            health = requests.get(f"{stack.base_url}/api/v2/monitor/health", timeout=5).json()
            return health["scheduler"]["status"] == "healthy"

        stack.wait_until("a scheduler heartbeat", scheduler_healthy, timeout)
    except BaseException:
        stack.stop()
        raise
    return stack


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def airflow_stack(iam_endpoint, tmp_path_factory) -> AirflowStack:
    """One stack per session. Connections ``aws_default`` and ``aws_demo`` point at the session's
    moto IAM server (``iam_endpoint``, from the conftest)."""
    stack = start_stack(
        tmp_path_factory.mktemp("airflow-stack"),
        {
            "aws_default": aws_connection_uri(iam_endpoint),
            "aws_demo": aws_connection_uri(iam_endpoint),
        },
    )
    try:
        yield stack
    finally:
        stack.stop()


def reset_moto(iam_endpoint: str) -> None:
    requests.post(f"{iam_endpoint}/moto-api/reset", timeout=120).raise_for_status()


@dataclass
class FinishedRun:
    run_id: str
    output_dir: Path
    run: dict


@pytest.fixture(scope="session")
def demo_dag_run(airflow_stack, iam_endpoint, tmp_path_factory) -> FinishedRun:
    """One manual run of the sample DAG, finished with success, over moto's demo organisation
    (20 users; ``batch_size`` 10, so two batches "users 1–10" and "users 11–20").

    moto is reset first (it is shared with the session). The run uses the connection id
    ``aws_demo`` (same moto server), so its checkpoint is
    ``aws_iam_users_ocsf__checkpoint__aws_demo`` and the ``aws_default`` one stays untouched.
    """
    from devtools.demo_org import seed_demo_organisation
    from devtools.local import iam_client

    reset_moto(iam_endpoint)
    seed_demo_organisation(iam_client(iam_endpoint))
    output_dir = tmp_path_factory.mktemp("demo-output")
    run_id = airflow_stack.trigger(
        {
            "aws_conn_id": "aws_demo",
            "batch_size": 10,
            "output_uri": f"file://{output_dir}",
            "settle_seconds": 0,
        }
    )
    (run,) = airflow_stack.wait_for_dag_runs(lambda r: r["dag_run_id"] == run_id, 1, timeout=120)
    return FinishedRun(run_id=run_id, output_dir=output_dir, run=run)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
