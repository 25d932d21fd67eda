"""Sekoia.io asset connector API: push OCSF events in batches (contract: README, "Sinks")."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import requests
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    BaseHook,
    mask_secret,
)

DEFAULT_BASE_URL = "https://api.sekoia.io"
NIL_UUID = "00000000-0000-0000-0000-000000000000"
# Sekoia task states that mean "not finished yet"; anything else is final.
_UNFINISHED_TASK_STATES = frozenset(
    {"PENDING", "QUEUED", "STARTED", "RUNNING", "IN_PROGRESS", "RETRY"}
)
_MAX_BODY_IN_ERROR = 500
# Tunable per call or through the connection's extra (same names).
TUNING_DEFAULTS: dict[str, float] = {
    "batch_limit": 100,
    "timeout": 30.0,
    "max_retries": 5,
    "backoff_base": 1.0,
    "max_retry_after": 60.0,
    "poll_timeout": 30.0,
}


class SekoiaApiError(AirflowException):
    """Sekoia.io could not be reached or kept failing (5xx, 429, timeouts) past the hook's
    retries: the task fails and Airflow's task retries try again later."""


class SekoiaRefusedError(SekoiaApiError, AirflowFailException):
    """Sekoia.io refused a request (4xx), or the connection is incomplete: retrying cannot help,
    so the task fails at once, saying what to fix."""


@dataclass(frozen=True)
class _Settings:
    base_url: str
    api_key: str
    connector_uuid: str


class SekoiaAssetHook(BaseHook):
    """
    Client for the Sekoia.io asset connector API.

    Connection (type ``sekoia``): host = base URL (default ``https://api.sekoia.io``, scheme
    optional), password = API key, extra ``connector_uuid``. The tuning parameters below may
    also be set in the extra under the same names; an argument given here wins.

    :param sekoia_conn_id: Airflow connection id.
    :param batch_limit: maximum number of items per POST.
    :param timeout: per-request timeout in seconds.
    :param max_retries: retries after the first attempt on 429, 5xx, timeouts and connection errors.
    :param backoff_base: first backoff in seconds; doubles on each retry.
    :param max_retry_after: cap in seconds on a 429's ``Retry-After``.
    :param poll_task: poll the task returned by an accepted POST and log its final status.
    :param poll_timeout: how long in seconds to poll one task before giving up (with a warning).
    """

    conn_name_attr = "sekoia_conn_id"
    default_conn_name = "sekoia_default"
    conn_type = "sekoia"
    hook_name = "Sekoia.io asset connector"

    def __init__(
        self,
        sekoia_conn_id: str = default_conn_name,
        *,
        batch_limit: int | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        backoff_base: float | None = None,
        max_retry_after: float | None = None,
        poll_task: bool = True,
        poll_timeout: float | None = None,
    ) -> None:
        super().__init__()
        self.sekoia_conn_id = sekoia_conn_id
        self.poll_task = poll_task
        self._overrides = {
            name: value
            for name, value in {
                "batch_limit": batch_limit,
                "timeout": timeout,
                "max_retries": max_retries,
                "backoff_base": backoff_base,
                "max_retry_after": max_retry_after,
                "poll_timeout": poll_timeout,
            }.items()
            if value is not None
        }

    @cached_property
    def _tuning(self) -> dict[str, float]:
        """Built-in defaults, overridden by the connection's extra, overridden by arguments."""
        extra = self.get_connection(self.sekoia_conn_id).extra_dejson
        tuning = {
            name: type(default)(extra.get(name, default))
            for name, default in TUNING_DEFAULTS.items()
        }
        tuning.update(self._overrides)
        if tuning["batch_limit"] < 1:
            raise ValueError(f"batch_limit must be >= 1, got {tuning['batch_limit']}")
        if tuning["max_retries"] < 0:
            raise ValueError(f"max_retries must be >= 0, got {tuning['max_retries']}")
        return tuning

    batch_limit = property(lambda self: int(self._tuning["batch_limit"]))
    timeout = property(lambda self: self._tuning["timeout"])
    max_retries = property(lambda self: int(self._tuning["max_retries"]))
    backoff_base = property(lambda self: self._tuning["backoff_base"])
    max_retry_after = property(lambda self: self._tuning["max_retry_after"])
    poll_timeout = property(lambda self: self._tuning["poll_timeout"])

    @cached_property
    def _settings(self) -> _Settings:
        conn = self.get_connection(self.sekoia_conn_id)
        api_key = conn.password or ""
        if not api_key:
            raise SekoiaRefusedError(
                f"Connection '{self.sekoia_conn_id}' has no API key: set its password to a "
                "Sekoia.io API key allowed to push assets."
            )
        mask_secret(api_key)
        connector_uuid = str(conn.extra_dejson.get("connector_uuid") or "").strip()
        if not connector_uuid:
            raise SekoiaRefusedError(
                f"Connection '{self.sekoia_conn_id}' has no connector uuid: set the extra "
                "'connector_uuid' to the UUID of the asset connector created in Sekoia.io."
            )
        return _Settings(_base_url(conn.host, conn.port), api_key, connector_uuid)

    @cached_property
    def _session(self) -> requests.Session:
        session = requests.Session()
        session.headers.update(
            {
                "Authorization": f"Bearer {self._settings.api_key}",
                "Content-Type": "application/json",
            }
        )
        return session

    def get_conn(self) -> requests.Session:
        """Return the hook's HTTP session (authenticated)."""
        return self._session

    @property
    def push_url(self) -> str:
        """URL that receives the asset batches."""
        s = self._settings
        return f"{s.base_url}/api/v2/asset-management/asset-connector/{s.connector_uuid}"

    def task_url(self, task_id: str) -> str:
        """URL of a Sekoia task (returned by an accepted push)."""
        return f"{self._settings.base_url}/api/v1/tasks/{task_id}"

    def push(self, events: Iterable[dict]) -> dict:
        """
        Send OCSF events to the asset connector, at most ``batch_limit`` per request.

        ``time`` goes from integer milliseconds (OCSF) to seconds, as Sekoia's own connector sends.
        Returns ``{"items_sent", "requests", "retries", "task_ids"}``; ``requests`` counts the POSTs
        sent, retries included (task polls are not counted).

        :raises SekoiaApiError: on a refused batch, or when retries are exhausted.
        """
        items = [_to_sekoia_item(event) for event in events]
        chunks = [items[i : i + self.batch_limit] for i in range(0, len(items), self.batch_limit)]
        summary: dict[str, Any] = {"items_sent": 0, "requests": 0, "retries": 0, "task_ids": []}
        if not chunks:
            self.log.info("Sekoia: nothing to push")
            return summary
        self.log.info(
            "Sekoia: pushing %d items in %d chunks to %s", len(items), len(chunks), self.push_url
        )
        pending = deque(chunks)
        number = 0
        while pending:
            chunk = pending.popleft()
            number += 1
            label = f"chunk {number}/{number + len(pending)}"
            body = {"version": 1, "items": chunk}
            response, attempts = self._send("POST", self.push_url, what=label, json=body)
            summary["requests"] += attempts
            summary["retries"] += attempts - 1
            if response.status_code == 413 and len(chunk) > 1:
                # Payload too large: send it again as two halves (nothing of it was accepted).
                half = len(chunk) // 2
                pending.extendleft([chunk[half:], chunk[:half]])
                self.log.warning(
                    "Sekoia: %s of %d items was too large (HTTP 413); splitting it in two",
                    label,
                    len(chunk),
                )
                number -= 1
                continue
            if not response.ok:
                raise self._refusal(response, label)
            summary["items_sent"] += len(chunk)
            task_id = _json_or_empty(response).get("task_id")
            self.log.info(
                "Sekoia: %s accepted (%d items)%s",
                label,
                len(chunk),
                f", task {task_id}" if task_id else "",
            )
            if task_id:
                summary["task_ids"].append(str(task_id))
                if self.poll_task:
                    self._log_task_outcome(str(task_id))
        return summary

    def test_connection(self) -> tuple[bool, str]:
        """
        Check the base URL and API key without side effects.

        Reads the task with the nil UUID: a 404 (no such task) or a 2xx proves the key was accepted,
        and nothing is written. The connector uuid is checked for presence only: no read-only call
        on the push endpoint is documented, and a push (even empty) would start an import.
        """
        try:
            url = self.task_url(NIL_UUID)
            response, _ = self._send("GET", url, what="connection test", retry=False)
        except SekoiaApiError as err:
            return False, str(err)
        if response.ok or response.status_code == 404:
            return True, f"Sekoia.io at {self._settings.base_url} accepted the API key."
        return False, str(self._refusal(response, "connection test"))

    def _send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        json: Any = None,
        deadline: float | None = None,
        retry: bool = True,
    ) -> tuple[requests.Response, int]:
        """
        Send a request, retrying 429, 5xx, timeouts and connection errors with backoff.

        Returns the first other response and the number of attempts. Raises SekoiaApiError once
        ``max_retries`` retries are spent or ``deadline`` (a ``time.monotonic()`` value) would pass.
        """
        max_attempts = self.max_retries + 1 if retry else 1
        last = ""
        for attempt in range(1, max_attempts + 1):
            timeout = self.timeout
            if deadline is not None:
                timeout = max(0.1, min(timeout, deadline - time.monotonic()))
            wait = self.backoff_base * 2 ** (attempt - 1)
            try:
                response = self._session.request(
                    method, url, json=json, timeout=timeout, allow_redirects=False
                )
            except (requests.Timeout, requests.ConnectionError) as err:
                last = f"{type(err).__name__}: {err}"
            else:
                if response.status_code == 429:
                    last = "HTTP 429 (rate limited)"
                    wait = self._retry_after(response, default=wait)
                elif response.status_code >= 500:
                    last = f"HTTP {response.status_code}"
                else:
                    return response, attempt
            past_deadline = deadline is not None and time.monotonic() + wait > deadline
            if attempt == max_attempts or past_deadline:
                break
            self.log.warning(
                "Sekoia: %s attempt %d failed (%s); retrying in %.2fs",
                what,
                attempt,
                self._redact(last),
                wait,
            )
            time.sleep(wait)
        raise SekoiaApiError(
            f"Sekoia: {what}: {method} {url} failed after {attempt} attempt(s); "
            f"last error: {self._redact(last)}"
        )

    def _retry_after(self, response: requests.Response, default: float) -> float:
        try:
            seconds = float(response.headers.get("Retry-After", ""))
        except ValueError:
            return default
        return min(max(seconds, 0.0), self.max_retry_after)

    def _refusal(self, response: requests.Response, what: str) -> SekoiaRefusedError:
        """Turn a final non-2xx response into an error that says what to fix."""
        status, s = response.status_code, self._settings
        if status in (401, 403):
            return SekoiaRefusedError(
                f"Sekoia: {what}: HTTP {status}: the API key of connection "
                f"'{self.sekoia_conn_id}' was refused. Check that it is valid and allowed to "
                "push assets."
            )
        if status == 413:
            return SekoiaRefusedError(
                f"Sekoia: {what}: HTTP 413: a single event is larger than Sekoia.io accepts."
            )
        if status == 404:
            return SekoiaRefusedError(
                f"Sekoia: {what}: HTTP 404: connector uuid '{s.connector_uuid}' is unknown to "
                f"{s.base_url}. "
                f"Check the 'connector_uuid' extra of connection '{self.sekoia_conn_id}'."
            )
        body = response.text
        if len(body) > _MAX_BODY_IN_ERROR:
            body = body[:_MAX_BODY_IN_ERROR] + "…"
        return SekoiaRefusedError(f"Sekoia: {what}: HTTP {status}: {self._redact(body)}")

    def _log_task_outcome(self, task_id: str) -> None:
        """Poll a task until it finishes or ``poll_timeout`` passes; warn instead of failing."""
        deadline = time.monotonic() + self.poll_timeout
        url, what = self.task_url(task_id), f"task {task_id}"
        polls = 0
        while True:
            try:
                response, _ = self._send("GET", url, what=what, deadline=deadline)
            except SekoiaApiError as err:
                self.log.warning("Sekoia: could not poll %s: %s", what, err)
                return
            if not response.ok:
                self.log.warning("Sekoia: could not poll %s: HTTP %d", what, response.status_code)
                return
            body = _json_or_empty(response)
            status = str(body.get("status") or body.get("state") or "unknown")
            if status.upper() not in _UNFINISHED_TASK_STATES:
                self.log.info("Sekoia: %s finished with status %s", what, status)
                return
            wait = min(self.backoff_base * 2**polls, 5.0)
            polls += 1
            if time.monotonic() + wait > deadline:
                self.log.warning(
                    "Sekoia: %s still %s after %.1fs; not waiting longer",
                    what,
                    status,
                    self.poll_timeout,
                )
                return
            time.sleep(wait)

    def _redact(self, text: str) -> str:
        # Belt and braces: a proxy or server may echo the Authorization header in an error body.
        key = self._settings.api_key
        return text.replace(key, "***") if key else text


def _base_url(host: str | None, port: int | None) -> str:
    host = (host or "").strip().rstrip("/")
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        host = f"https://{host}"
    if port and urlsplit(host).port is None:
        parts = urlsplit(host)
        host = parts._replace(netloc=f"{parts.netloc}:{port}").geturl()
    return host


def _to_sekoia_item(event: dict) -> dict:
    """Copy an OCSF event with ``time`` in seconds instead of milliseconds."""
    millis = event.get("time")
    if isinstance(millis, bool) or not isinstance(millis, int):
        raise ValueError(
            f"event 'time' must be integer milliseconds (OCSF timestamp_t), got {millis!r}"
        )
    return {**event, "time": millis / 1000}


def _json_or_empty(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
