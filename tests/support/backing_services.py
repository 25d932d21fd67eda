"""PostgreSQL and Redis from Debian's packages (``postgresql``, ``redis-server``), each run by a
test from a temporary directory of its own on a free loopback port, and stopped by it.

PostgreSQL refuses to run as root: when the tests run as root, the cluster belongs to the
``postgres`` user the Debian package creates, and lives outside pytest's temporary folders (those
are private to root). Nothing here touches the machine's own clusters or services.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.airflow_stack import free_port, tail, wait_for_port

PACKAGES = ("postgresql", "redis-server")


def postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL's ``bin`` (Debian: ``/usr/lib/postgresql/<major>/bin``)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _missing() -> list[str]:
    missing = []
    if postgres_bindir() is None:
        missing.append("postgresql")
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        missing.append("redis-server")
    return missing


def require_postgres_and_redis() -> None:
    """Install the Debian packages if they are missing and this is root with apt-get (as
    ``.ci/run`` does); skip the test, saying why, only if they still cannot be had. Under CI
    (``CI`` set) a missing package fails instead: there ``.ci/run`` installs them."""
    missing = _missing()
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", *missing],
        ):
            subprocess.run(command, env=env, capture_output=True, timeout=600, check=False)
        missing = _missing()
    if missing:
        reason = (
            f"{' and '.join(missing)} not installed and could not be installed "
            f"(run: apt-get install {' '.join(PACKAGES)})"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


@dataclass
class PostgresServer:
    """A throwaway cluster: superuser ``user`` with ``password`` (scram-sha-256 over TCP), one
    database ``database``, listening on 127.0.0.1 only, its socket in its own directory."""

    root: Path
    port: int
    user: str = "airflow"
    password: str = field(default="airflow", repr=False)
    database: str = "airflow"
    owner: str | None = None  # the OS user running the cluster when we are root

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _as_owner(self) -> dict:
        if self.owner is None:
            return {}
        entry = pwd.getpwnam(self.owner)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        bindir = postgres_bindir()
        assert bindir is not None
        result = subprocess.run(
            [str(bindir / args[0]), *args[1:]],
            cwd=self.root,
            **self._as_owner(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"},
        )
        if result.returncode:
            raise AssertionError(
                f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}\n"
                f"--- {self.log_file} ---\n{tail(self.log_file)}"
            )
        return result

    @classmethod
    def start(cls) -> PostgresServer:
        owner = "postgres" if os.geteuid() == 0 else None
        root = Path(tempfile.mkdtemp(prefix="awsiam-ocsf-postgres-"))
        if owner:
            entry = pwd.getpwnam(owner)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        server = cls(root=root, port=free_port(), owner=owner)
        try:
            (root / "pwfile").write_text(server.password + "\n")
            if owner:
                os.chown(root / "pwfile", entry.pw_uid, entry.pw_gid)
            server._run(
                "initdb",
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                f"--username={server.user}",
                f"--pwfile={root / 'pwfile'}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                str(server.data_dir),
            )
            options = " ".join(
                [
                    f"-p {server.port}",
                    "-c listen_addresses=127.0.0.1",
                    f"-c unix_socket_directories={root}",
                    "-c max_connections=200",
                    # A throwaway cluster: durability buys nothing and costs the test time.
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                ]
            )
            server._run(
                "pg_ctl",
                "start",
                "--wait",
                "--timeout=60",
                f"--pgdata={server.data_dir}",
                f"--log={server.log_file}",
                f"--options={options}",
            )
            server._run(
                "createdb",
                f"--host={root}",
                f"--port={server.port}",
                f"--username={server.user}",
                server.database,
            )
        except BaseException:
            server.stop()
            raise
        return server

    def connect(self):
        """A psycopg2 connection over TCP with the password, as Airflow connects."""
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.database,
        )

    def query(self, sql: str, *params) -> list[tuple]:
        with self.connect() as connection, connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        connection.close()
        return rows

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def stop(self) -> None:
        """``pg_ctl stop`` (fast: disconnects clients); SIGQUIT (immediate) if that fails.
        Removes the cluster's directory. Safe to call twice."""
        if self._postmaster_pid() is not None:
            try:
                self._run(
                    "pg_ctl",
                    "stop",
                    "--wait",
                    "--timeout=30",
                    "--mode=fast",
                    f"--pgdata={self.data_dir}",
                )
            except (AssertionError, subprocess.TimeoutExpired):
                pid = self._postmaster_pid()
                if pid is not None:
                    _signal(pid, signal.SIGQUIT)
                    time.sleep(2)
                    _signal(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class RedisServer:
    """``redis-server`` on 127.0.0.1, no persistence, working directory of its own."""

    root: Path
    port: int
    process: subprocess.Popen = field(repr=False)

    @property
    def log_file(self) -> Path:
        return self.root / "redis.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    def start(cls) -> RedisServer:
        root = Path(tempfile.mkdtemp(prefix="awsiam-ocsf-redis-"))
        port = free_port()
        with open(root / "redis.log", "ab") as out:
            process = subprocess.Popen(
                [
                    *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
                    *("--save", "", "--appendonly", "no", "--dir", str(root), "--daemonize", "no"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=root,
                start_new_session=True,
            )
        server = cls(root=root, port=port, process=process)
        try:
            wait_for_port(port, 30, process)
            assert server.cli("PING").strip() == "PONG"
        except BaseException:
            server.stop()
            raise
        return server

    def cli(self, *args: str) -> str:
        return subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            timeout=15,
            check=True,
        ).stdout

    def stop(self) -> None:
        """``SHUTDOWN NOSAVE``, then SIGKILL if it is still there. Safe to call twice."""
        if self.process.poll() is None:
            try:
                self.cli("SHUTDOWN", "NOSAVE")
            except subprocess.SubprocessError:
                pass  # it answers nothing when it shuts down; the wait below decides
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)
