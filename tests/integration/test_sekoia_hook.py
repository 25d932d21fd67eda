"""SekoiaAssetHook against a real loopback HTTP server playing Sekoia.io (the README's contract).

Fixtures ``sekoia_server`` and ``sekoia_conn_id`` come from ``tests/sekoia_server.py`` (registered
in ``conftest.py``); ``ocsf_validator`` from ``conftest.py``.

The hook logs through the Task SDK's structlog on Airflow 3.1+, which pytest's ``caplog`` does not
see, and through the standard library on 3.0 (whose ``BaseHook`` is the core one): fixture ``logs``
gathers both, as ``structlog.testing.capture_logs`` entries. ``caplog`` is still checked for the
key, since requests/urllib3 log through the standard library.
"""

from __future__ import annotations

import copy
import logging
import time
import uuid

import pytest
import structlog.testing
from airflow.providers.common.compat.sdk import AirflowFailException, redact
from sekoia_automation_models.ocsf.user import UserOCSFModel

from airflow_provider_awsiam_ocsf.hooks.sekoia import (
    SekoiaApiError,
    SekoiaAssetHook,
    SekoiaRefusedError,
)
from tests.support.sekoia_server import (
    SEKOIA_TEST_CONN_ID,
    FakeSekoia,
    Reply,
    sample_event,
    sekoia_connection_json,
)

FAST = {"timeout": 2.0, "backoff_base": 0.01, "max_retry_after": 0.3, "poll_timeout": 2.0}


def make_hook(conn_id: str = SEKOIA_TEST_CONN_ID, **kwargs) -> SekoiaAssetHook:
    return SekoiaAssetHook(sekoia_conn_id=conn_id, **{**FAST, **kwargs})


def use_connection(monkeypatch: pytest.MonkeyPatch, host: str, api_key: str, connector_uuid: str):
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{SEKOIA_TEST_CONN_ID.upper()}",
        sekoia_connection_json(host, api_key, connector_uuid),
    )


class HookLogs:
    """What the hook logged, read when asked: structlog's entries and the hook's own stdlib records,
    each as ``{"event": …, "log_level": …}``."""

    def __init__(self, captured: list[dict], caplog: pytest.LogCaptureFixture):
        self.captured, self.caplog = captured, caplog

    def entries(self) -> list[dict]:
        stdlib = [
            {"event": record.getMessage(), "log_level": record.levelname.lower()}
            for record in self.caplog.records
            # 3.0 names it airflow.task.hooks.<module>.<class>
            if SekoiaAssetHook.__module__ in record.name
        ]
        return [*self.captured, *stdlib]

    def __iter__(self):
        return iter(self.entries())

    def __repr__(self) -> str:
        return repr(self.entries())


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO)
    with structlog.testing.capture_logs() as captured:
        yield HookLogs(captured, caplog)


def messages(logs: list[dict], level: str | None = None) -> list[str]:
    return [e["event"] for e in logs if level is None or e["log_level"] == level]


# --- the request ----------------------------------------------------------------------------


def test_push_posts_version_1_items_with_bearer_key_to_connector_endpoint(
    sekoia_server: FakeSekoia, sekoia_conn_id: str
):
    summary = make_hook(sekoia_conn_id).push([sample_event(i) for i in range(3)])

    assert summary == {"items_sent": 3, "requests": 1, "retries": 0, "task_ids": []}
    [request] = sekoia_server.requests
    assert request.method == "POST"
    assert request.path == (
        f"/api/v2/asset-management/asset-connector/{sekoia_server.connector_uuid}"
    )
    assert request.headers["Authorization"] == f"Bearer {sekoia_server.api_key}"
    assert request.headers["Content-Type"] == "application/json"
    assert set(request.body) == {"version", "items"}
    assert request.body["version"] == 1
    assert [item["user"]["name"] for item in request.body["items"]] == [
        "user0000",
        "user0001",
        "user0002",
    ]


def test_push_splits_250_events_into_chunks_of_100_100_50(
    sekoia_server: FakeSekoia, sekoia_conn_id: str, logs
):
    summary = make_hook(sekoia_conn_id, batch_limit=100).push(sample_event(i) for i in range(250))

    assert [len(r.body["items"]) for r in sekoia_server.pushes] == [100, 100, 50]
    assert summary == {"items_sent": 250, "requests": 3, "retries": 0, "task_ids": []}
    sent = [item["user"]["name"] for r in sekoia_server.pushes for item in r.body["items"]]
    assert sent == [f"user{i:04d}" for i in range(250)]
    assert "Sekoia: chunk 3/3 accepted (50 items)" in messages(logs, "info")


def test_push_of_nothing_sends_nothing(sekoia_server: FakeSekoia, sekoia_conn_id: str):
    assert make_hook(sekoia_conn_id).push([]) == {
        "items_sent": 0,
        "requests": 0,
        "retries": 0,
        "task_ids": [],
    }
    assert sekoia_server.requests == []


def test_push_sends_time_in_seconds_and_leaves_events_alone(
    sekoia_server: FakeSekoia, sekoia_conn_id: str
):
    events = [sample_event(i) for i in range(3)]
    original = copy.deepcopy(events)

    make_hook(sekoia_conn_id).push(events)

    assert [item["time"] for item in sekoia_server.pushes[0].body["items"]] == [
        e["time"] / 1000 for e in original
    ]
    assert isinstance(sekoia_server.pushes[0].body["items"][0]["time"], float)
    assert events == original


def test_push_refuses_event_whose_time_is_not_integer_milliseconds(
    sekoia_server: FakeSekoia, sekoia_conn_id: str
):
    event = {**sample_event(0), "time": 1_700_000_000.5}
    with pytest.raises(ValueError, match="integer milliseconds"):
        make_hook(sekoia_conn_id).push([event])
    assert sekoia_server.requests == []


def test_pushed_items_validate_with_sekoias_user_ocsf_model(
    sekoia_server: FakeSekoia, sekoia_conn_id: str
):
    make_hook(sekoia_conn_id).push(sample_event(i) for i in range(10))

    for item in sekoia_server.pushes[0].body["items"]:
        UserOCSFModel.model_validate(item)


def test_pushed_items_validate_against_ocsf_1_6_0_user_inventory_once_time_is_back_in_ms(
    sekoia_server: FakeSekoia, sekoia_conn_id: str, ocsf_validator
):
    # Deliberate deviation: Sekoia takes `time` in seconds (float) while OCSF's timestamp_t is
    # integer milliseconds, so the schema check runs on the item with its time converted back.
    make_hook(sekoia_conn_id).push(sample_event(i) for i in range(10))

    for item in sekoia_server.pushes[0].body["items"]:
        as_ocsf = {**item, "time": round(item["time"] * 1000)}
        ocsf_validator(as_ocsf)


def test_server_rejects_item_that_sekoias_model_refuses(
    sekoia_server: FakeSekoia, sekoia_conn_id: str
):
    broken = sample_event(0)
    del broken["user"]["name"]

    with pytest.raises(SekoiaApiError, match=r"chunk 1/1: HTTP 400: .*Invalid items"):
        make_hook(sekoia_conn_id).push([broken])
    assert len(sekoia_server.requests) == 1


# --- retries ----------------------------------------------------------------------------------


def test_429_retry_after_is_honoured_then_push_succeeds(
    sekoia_server: FakeSekoia, sekoia_conn_id: str
):
    sekoia_server.script(Reply(429, {"message": "slow down"}, headers={"Retry-After": "0.2"}))

    started = time.monotonic()
    summary = make_hook(sekoia_conn_id).push([sample_event(0)])

    assert time.monotonic() - started >= 0.2
    assert summary == {"items_sent": 1, "requests": 2, "retries": 1, "task_ids": []}
    assert len(sekoia_server.pushes) == 2


def test_429_retry_after_is_capped_by_max_retry_after(
    sekoia_server: FakeSekoia, sekoia_conn_id: str
):
    sekoia_server.script(Reply(429, headers={"Retry-After": "3600"}))

    started = time.monotonic()
    summary = make_hook(sekoia_conn_id, max_retry_after=0.3).push([sample_event(0)])

    assert 0.3 <= time.monotonic() - started < 3
    assert summary["retries"] == 1


def test_5xx_then_200_is_retried_and_succeeds(sekoia_server: FakeSekoia, sekoia_conn_id: str):
    sekoia_server.script(Reply(500), Reply(502), Reply(503))

    summary = make_hook(sekoia_conn_id, max_retries=3).push([sample_event(0)])

    assert summary == {"items_sent": 1, "requests": 4, "retries": 3, "task_ids": []}


def test_repeated_500_fails_after_max_retries_with_attempt_count(
    sekoia_server: FakeSekoia, sekoia_conn_id: str, logs
):
    sekoia_server.script(*[Reply(500, {"message": "boom"})] * 10)

    with pytest.raises(
        SekoiaApiError, match=r"failed after 4 attempt\(s\); last error: HTTP 500"
    ) as excinfo:
        make_hook(sekoia_conn_id, max_retries=3).push([sample_event(0)])
    # Not a refusal: Airflow's task retries try again later.
    assert not isinstance(excinfo.value, AirflowFailException)
    assert len(sekoia_server.pushes) == 4
    assert len(messages(logs, "warning")) == 3


def test_slow_server_past_the_timeout_is_retried_then_fails(
    sekoia_server: FakeSekoia, sekoia_conn_id: str
):
    sekoia_server.script(*[Reply(200, delay=2.0)] * 3)

    with pytest.raises(SekoiaApiError, match=r"after 3 attempt\(s\); last error: .*Timeout"):
        make_hook(sekoia_conn_id, timeout=0.2, max_retries=2).push([sample_event(0)])
    assert len(sekoia_server.pushes) == 3


def test_unreachable_server_is_retried_then_fails(monkeypatch: pytest.MonkeyPatch):
    with FakeSekoia() as gone:
        pass  # started and stopped: its port now refuses connections
    use_connection(monkeypatch, gone.base_url, gone.api_key, gone.connector_uuid)

    with pytest.raises(SekoiaApiError, match=r"after 3 attempt\(s\); last error: ConnectionError"):
        make_hook(max_retries=2).push([sample_event(0)])


def test_too_large_a_request_is_split_until_sekoia_takes_it(
    sekoia_server: FakeSekoia, sekoia_conn_id: str
):
    sekoia_server.max_items = 3
    summary = make_hook(sekoia_conn_id, batch_limit=10).push(sample_event(i) for i in range(10))
    # 10 -> 413; 5 -> 413; 2 + 3 taken; 5 -> 413; 2 + 3 taken
    assert [len(r.body["items"]) for r in sekoia_server.pushes] == [10, 5, 2, 3, 5, 2, 3]
    assert sorted(i["user"]["name"] for i in sekoia_server.accepted) == [
        f"user{i:04d}" for i in range(10)
    ]
    assert summary["items_sent"] == 10 and summary["requests"] == 7


def test_a_single_event_too_large_is_a_refusal(sekoia_server: FakeSekoia, sekoia_conn_id: str):
    sekoia_server.max_items = 0
    with pytest.raises(SekoiaRefusedError, match="HTTP 413: a single event is larger"):
        make_hook(sekoia_conn_id, batch_limit=2).push(sample_event(i) for i in range(2))
    assert [len(r.body["items"]) for r in sekoia_server.pushes] == [2, 1]


# --- refusals ---------------------------------------------------------------------------------


def assert_key_not_leaked(key: str, error: BaseException, logs, caplog, capsys) -> None:
    assert key not in str(error)
    assert key not in repr(logs)
    assert key not in caplog.text
    out, err = capsys.readouterr()
    assert key not in out + err


def test_refused_api_key_fails_at_once_without_leaking_it(
    sekoia_server: FakeSekoia, monkeypatch: pytest.MonkeyPatch, logs, caplog, capsys
):
    caplog.set_level(logging.DEBUG)
    wrong_key = f"sk-wrong-{uuid.uuid4().hex}"
    use_connection(monkeypatch, sekoia_server.base_url, wrong_key, sekoia_server.connector_uuid)

    with pytest.raises(SekoiaRefusedError) as excinfo:
        make_hook().push([sample_event(0)])

    assert len(sekoia_server.requests) == 1
    message = str(excinfo.value)
    assert "HTTP 401" in message
    assert f"API key of connection '{SEKOIA_TEST_CONN_ID}' was refused" in message
    assert_key_not_leaked(wrong_key, excinfo.value, logs, caplog, capsys)


def test_unknown_connector_uuid_fails_at_once_naming_uuid_and_extra(
    sekoia_server: FakeSekoia, monkeypatch: pytest.MonkeyPatch, logs, caplog, capsys
):
    caplog.set_level(logging.DEBUG)
    other_uuid = str(uuid.uuid4())
    use_connection(monkeypatch, sekoia_server.base_url, sekoia_server.api_key, other_uuid)

    with pytest.raises(SekoiaRefusedError) as excinfo:
        make_hook().push([sample_event(0)])

    assert len(sekoia_server.requests) == 1
    message = str(excinfo.value)
    assert f"connector uuid '{other_uuid}' is unknown to {sekoia_server.base_url}" in message
    assert f"'connector_uuid' extra of connection '{SEKOIA_TEST_CONN_ID}'" in message
    assert_key_not_leaked(sekoia_server.api_key, excinfo.value, logs, caplog, capsys)


def test_other_4xx_fails_at_once_with_status_and_truncated_body(
    sekoia_server: FakeSekoia, sekoia_conn_id: str
):
    sekoia_server.script(Reply(422, "x" * 5000))

    with pytest.raises(SekoiaRefusedError, match="HTTP 422: xxx") as excinfo:
        make_hook(sekoia_conn_id).push([sample_event(0)])

    assert len(sekoia_server.requests) == 1
    assert len(str(excinfo.value)) < 700


def test_error_body_echoing_the_key_is_redacted(sekoia_server: FakeSekoia, sekoia_conn_id: str):
    sekoia_server.script(Reply(400, f"bad request, Authorization: Bearer {sekoia_server.api_key}"))

    with pytest.raises(SekoiaRefusedError) as excinfo:
        make_hook(sekoia_conn_id).push([sample_event(0)])

    assert sekoia_server.api_key not in str(excinfo.value)
    assert "Bearer ***" in str(excinfo.value)


def test_api_key_is_registered_with_airflows_secrets_masker(
    sekoia_server: FakeSekoia, sekoia_conn_id: str
):
    make_hook(sekoia_conn_id).push([sample_event(0)])

    assert sekoia_server.api_key not in redact(f"key={sekoia_server.api_key}")


# --- connection -------------------------------------------------------------------------------


def test_missing_api_key_names_connection_and_what_to_set(monkeypatch: pytest.MonkeyPatch):
    use_connection(monkeypatch, "http://127.0.0.1:9", "", str(uuid.uuid4()))

    with pytest.raises(
        SekoiaRefusedError, match=f"Connection '{SEKOIA_TEST_CONN_ID}' has no API key"
    ):
        make_hook().push([sample_event(0)])


def test_missing_connector_uuid_names_connection_and_extra(monkeypatch: pytest.MonkeyPatch):
    use_connection(monkeypatch, "http://127.0.0.1:9", "sk-some-key", "")

    with pytest.raises(SekoiaRefusedError, match="set the extra 'connector_uuid'"):
        make_hook().push([sample_event(0)])


@pytest.mark.parametrize(
    ("host", "base_url"),
    [
        ("", "https://api.sekoia.io"),
        ("api.sekoia.io", "https://api.sekoia.io"),
        ("https://app.sekoia.io/", "https://app.sekoia.io"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_base_url_defaults_to_sekoia_and_scheme_is_optional(
    monkeypatch: pytest.MonkeyPatch, host: str, base_url: str
):
    use_connection(monkeypatch, host, "sk-some-key", "c0ffee00-0000-0000-0000-000000000000")

    assert make_hook().push_url == (
        f"{base_url}/api/v2/asset-management/asset-connector/c0ffee00-0000-0000-0000-000000000000"
    )


def test_test_connection_accepts_valid_key(sekoia_server: FakeSekoia, sekoia_conn_id: str):
    ok, message = make_hook(sekoia_conn_id).test_connection()

    assert ok, message
    [request] = sekoia_server.requests
    assert (request.method, request.path) == (
        "GET",
        "/api/v1/tasks/00000000-0000-0000-0000-000000000000",
    )


def test_test_connection_reports_refused_key(
    sekoia_server: FakeSekoia, monkeypatch: pytest.MonkeyPatch
):
    wrong_key = f"sk-wrong-{uuid.uuid4().hex}"
    use_connection(monkeypatch, sekoia_server.base_url, wrong_key, sekoia_server.connector_uuid)

    ok, message = make_hook().test_connection()

    assert not ok
    assert "was refused" in message and wrong_key not in message


def test_test_connection_reports_unreachable_server(monkeypatch: pytest.MonkeyPatch):
    with FakeSekoia() as gone:
        pass
    use_connection(monkeypatch, gone.base_url, gone.api_key, gone.connector_uuid)

    ok, message = make_hook().test_connection()

    assert not ok
    assert "ConnectionError" in message


def test_test_connection_reports_missing_connector_uuid(monkeypatch: pytest.MonkeyPatch):
    use_connection(monkeypatch, "http://127.0.0.1:9", "sk-some-key", "")

    ok, message = make_hook().test_connection()

    assert not ok
    assert "connector_uuid" in message


# --- task polling -----------------------------------------------------------------------------


def test_accepted_push_with_task_id_is_polled_and_final_status_logged(
    sekoia_server: FakeSekoia, sekoia_conn_id: str, logs
):
    sekoia_server.script(Reply(200, {"task_id": "task-1"}))
    sekoia_server.add_task("task-1", "RUNNING", "SUCCEEDED")

    summary = make_hook(sekoia_conn_id).push([sample_event(0)])

    assert summary["task_ids"] == ["task-1"]
    polls = [r for r in sekoia_server.requests if r.method == "GET"]
    assert [r.path for r in polls] == ["/api/v1/tasks/task-1"] * 2
    assert polls[0].headers["Authorization"] == f"Bearer {sekoia_server.api_key}"
    assert "Sekoia: task task-1 finished with status SUCCEEDED" in messages(logs, "info")


def test_task_that_cannot_be_polled_only_warns(
    sekoia_server: FakeSekoia, sekoia_conn_id: str, logs
):
    sekoia_server.script(Reply(200, {"task_id": "task-unknown"}))

    summary = make_hook(sekoia_conn_id).push([sample_event(0)])

    assert summary["items_sent"] == 1
    assert "Sekoia: could not poll task task-unknown: HTTP 404" in messages(logs, "warning")


def test_task_still_running_after_poll_timeout_only_warns(
    sekoia_server: FakeSekoia, sekoia_conn_id: str, logs
):
    sekoia_server.script(Reply(200, {"task_id": "task-slow"}))
    sekoia_server.add_task("task-slow", "RUNNING")

    started = time.monotonic()
    summary = make_hook(sekoia_conn_id, backoff_base=0.05, poll_timeout=0.3).push([sample_event(0)])

    assert time.monotonic() - started < 2
    assert summary["task_ids"] == ["task-slow"]
    assert any("task task-slow still RUNNING" in m for m in messages(logs, "warning"))


def test_poll_task_false_does_not_poll(sekoia_server: FakeSekoia, sekoia_conn_id: str):
    sekoia_server.script(Reply(200, {"task_id": "task-1"}))
    sekoia_server.add_task("task-1", "SUCCEEDED")

    make_hook(sekoia_conn_id, poll_task=False).push([sample_event(0)])

    assert [r.method for r in sekoia_server.requests] == ["POST"]
