"""A loopback stand-in for Sekoia.io's asset connector API (the README's contract), its
fixtures and test data.

Fixtures (register with ``pytest_plugins = ["tests.support.sekoia_server"]`` or import them):

- ``sekoia_server``: a running :class:`FakeSekoia` on 127.0.0.1, stopped after the test.
- ``sekoia_conn_id``: the id of an Airflow ``sekoia`` connection (set through an
  ``AIRFLOW_CONN_*`` environment variable) that points at ``sekoia_server``.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import ValidationError
from requests.structures import CaseInsensitiveDict
from sekoia_automation_models.ocsf.user import UserOCSFModel

PUSH_PATH = re.compile(r"^/api/v2/asset-management/asset-connector/(?P<uuid>[^/]+)/?$")
TASK_PATH = re.compile(r"^/api/v1/tasks/(?P<task_id>[^/]+)/?$")
SEKOIA_TEST_CONN_ID = "sekoia_test"


@dataclass
class Reply:
    """A scripted answer. ``body``: JSON-able (sent as JSON), ``str`` (sent as text) or None.
    ``reset``: drop the connection (TCP RST) instead of answering, after ``delay``; a push is
    still taken if ``status`` is 200 (the answer is what gets lost)."""

    status: int = 200
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: CaseInsensitiveDict
    body: Any  # parsed JSON, the raw text if it was not JSON, or None


class FakeSekoia:
    """
    Plays Sekoia.io's asset connector API on a loopback port.

    Checks the bearer key (401) and the connector uuid (404), validates pushed items with Sekoia's
    own ``UserOCSFModel`` (400), and answers ``GET /api/v1/tasks/{id}`` from :attr:`task_statuses`.
    :meth:`script` queues answers that are sent, in order, before the defaults resume.
    """

    def __init__(self, api_key: str | None = None, connector_uuid: str | None = None) -> None:
        self.api_key = api_key or f"sk-test-{uuid.uuid4().hex}"
        self.connector_uuid = connector_uuid or str(uuid.uuid4())
        self.requests: list[RecordedRequest] = []
        # Items of every push taken (answered 200, or reset after taking it), duplicates kept.
        self.accepted: list[dict] = []
        # Pushes of more items answer 413 Payload Too Large, as a gateway's body limit would.
        self.max_items: int | None = None
        # Called with every push taken (its items), before the answer is sent.
        self.on_take: Callable[[list[dict]], None] | None = None
        # task id -> statuses returned by successive GETs; the last one repeats.
        self.task_statuses: dict[str, list[str]] = {}
        self._scripts: dict[str, deque[Reply]] = {"push": deque(), "task": deque()}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        # A short poll interval keeps shutdown (every fixture teardown) from waiting 0.5 s.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def pushes(self) -> list[RecordedRequest]:
        """The requests made to the push endpoint, in order."""
        return [r for r in self.requests if r.method == "POST" and PUSH_PATH.match(r.path)]

    def script(self, *replies: Reply, route: str = "push") -> None:
        """Queue answers for the next requests to ``route`` ("push" or "task")."""
        with self._lock:
            self._scripts[route].extend(replies)

    def add_task(self, task_id: str, *statuses: str) -> None:
        """Make ``GET /api/v1/tasks/{task_id}`` answer these statuses in turn."""
        self.task_statuses[task_id] = list(statuses)

    def start(self) -> FakeSekoia:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping on a scripted delay
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeSekoia:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return Reply(401, {"message": "Unauthorized"})
        if request.method == "POST" and (match := PUSH_PATH.match(request.path)):
            if match["uuid"] != self.connector_uuid:
                return Reply(404, {"message": "Connector not found"})
            reply = self._scripted("push") or self._accept_push(request)
            if reply.status == 200 and isinstance(request.body, dict):
                items = request.body.get("items") or []
                with self._lock:
                    self.accepted.extend(items)
                if self.on_take is not None:
                    self.on_take(items)
            return reply
        if request.method == "GET" and (match := TASK_PATH.match(request.path)):
            return self._scripted("task") or self._task_status(match["task_id"])
        return Reply(404, {"message": "Not found"})

    def _scripted(self, route: str) -> Reply | None:
        with self._lock:
            return self._scripts[route].popleft() if self._scripts[route] else None

    def _accept_push(self, request: RecordedRequest) -> Reply:
        if "application/json" not in request.headers.get("Content-Type", ""):
            return Reply(415, {"message": "Content-Type must be application/json"})
        body = request.body
        if not isinstance(body, dict) or body.get("version") != 1:
            return Reply(400, {"message": "body must be {'version': 1, 'items': [...]}"})
        if not isinstance(items := body.get("items"), list):
            return Reply(400, {"message": "'items' must be a list"})
        if self.max_items is not None and len(items) > self.max_items:
            return Reply(413, {"message": "Request Entity Too Large"})
        errors = []
        for index, item in enumerate(items):
            try:
                UserOCSFModel.model_validate(item)
            except ValidationError as err:
                errors.append({"item": index, "errors": err.errors(include_url=False)})
        if errors:
            return Reply(400, {"message": "Invalid items", "details": errors})
        return Reply(200, {})

    def _task_status(self, task_id: str) -> Reply:
        with self._lock:
            statuses = self.task_statuses.get(task_id)
            if not statuses:
                return Reply(404, {"message": "Task not found"})
            status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
        return Reply(200, {"uuid": task_id, "status": status})


def _handler_for(fake: FakeSekoia) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def _handle(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            text = raw.decode("utf-8", "replace")
            try:
                body = json.loads(text) if text else None
            except ValueError:
                body = text
            recorded = RecordedRequest(
                self.command, self.path, CaseInsensitiveDict(self.headers.items()), body
            )
            reply = fake._answer(recorded)
            if reply.delay and fake._stopping.wait(reply.delay):
                return
            if reply.reset:
                # SO_LINGER 0: close() sends RST, the client sees "connection reset by peer".
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.connection.close()
                return
            if isinstance(reply.body, str):
                payload, content_type = reply.body.encode(), "text/plain; charset=utf-8"
            elif reply.body is None:
                payload, content_type = b"", "text/plain"
            else:
                payload, content_type = json.dumps(reply.body).encode(), "application/json"
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet; requests are in fake.requests

    return Handler


@pytest.fixture
def sekoia_server() -> Iterator[FakeSekoia]:
    """A running loopback Sekoia.io API; see :class:`FakeSekoia`."""
    with FakeSekoia() as server:
        yield server


@pytest.fixture
def sekoia_conn_id(sekoia_server: FakeSekoia, monkeypatch: pytest.MonkeyPatch) -> str:
    """Id of a ``sekoia`` Airflow connection pointing at ``sekoia_server`` (no DB needed)."""
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{SEKOIA_TEST_CONN_ID.upper()}",
        sekoia_connection_json(
            sekoia_server.base_url, sekoia_server.api_key, sekoia_server.connector_uuid
        ),
    )
    return SEKOIA_TEST_CONN_ID


def sekoia_connection_json(host: str, api_key: str, connector_uuid: str, **tunables) -> str:
    """An ``AIRFLOW_CONN_*`` value (JSON form) for a ``sekoia`` connection; ``tunables`` go to
    its extra (``max_retries``, ``backoff_base``, ``timeout``, ``batch_limit``, …)."""
    return json.dumps(
        {
            "conn_type": "sekoia",
            "host": host,
            "password": api_key,
            "extra": {"connector_uuid": connector_uuid, **tunables},
        }
    )


# Retries that fail a test in a fraction of a second instead of the production backoff's ~30 s.
FAST_RETRIES = {"max_retries": 2, "backoff_base": 0.05}


ACCOUNT_ID = "123456789012"


def sample_event(i: int) -> dict:
    """Test data: a valid OCSF 1.6.0 user_inventory (5003) Collect event for IAM user ``i``."""
    name = f"user{i:04d}"
    arn = f"arn:aws:iam::{ACCOUNT_ID}:user/{name}"
    admin = i % 5 == 0
    return {
        "activity_id": 2,
        "activity_name": "Collect",
        "category_uid": 5,
        "category_name": "Discovery",
        "class_uid": 5003,
        "class_name": "User Inventory Info",
        "type_uid": 500302,
        "type_name": "User Inventory Info: Collect",
        "severity_id": 1,
        "severity": "Informational",
        "time": 1_700_000_000_000 + i * 1_000,
        "metadata": {
            "product": {"name": "AWS IAM Asset Connector", "version": "0.1.0"},
            "version": "1.6.0",
        },
        "user": {
            "name": name,
            "uid": arn,
            "uid_alt": f"AIDA{i:017d}",
            "type_id": 2 if admin else 1,
            "type": "Admin" if admin else "User",
            "has_mfa": i % 2 == 0,
            "account": {"name": name, "uid": arn, "type": "AWS Account", "type_id": 10},
            "groups": [
                {
                    "name": "developers",
                    "uid": f"arn:aws:iam::{ACCOUNT_ID}:group/developers",
                    "privileges": ["ReadOnlyAccess"] + (["AdministratorAccess"] if admin else []),
                }
            ],
            "org": {"uid": ACCOUNT_ID, "name": f"AWS Account {ACCOUNT_ID}"},
        },
    }
