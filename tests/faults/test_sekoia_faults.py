"""Sekoia.io misbehaving under a real run of the sample DAG (``dag.test()``, moto's IAM, the
loopback Sekoia API): what it took, counted per user, against what IAM holds."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.support.dag_runs import sink_state
from tests.support.faults import lost_and_twice
from tests.support.iam_world import add_users
from tests.support.sekoia_server import Reply, sekoia_connection_json

USERS = [f"user{i:02d}" for i in range(30)]  # 3 batches of 10, 2 requests of 5 each
CONN_ID = "sekoia_faults"
TUNING = {
    "batch_limit": 5,
    "timeout": 0.5,
    "max_retries": 2,
    "backoff_base": 0.05,
    "max_retry_after": 0.3,
}


@dataclass
class Case:
    fault: str
    did: str
    replies: list[Reply] = field(default_factory=list)
    max_items: int | None = None
    twice: int = 0  # events Sekoia takes twice: it took them, but its answer was lost
    recovery: str = ""


CASES = {
    "reset": Case(
        "Sekoia: connection reset mid-request",
        "the first request was taken, then the connection reset (RST) before the answer",
        [Reply(200, reset=True)],
        twice=5,
        recovery="the hook retried the request; the run succeeds",
    ),
    "slow": Case(
        "Sekoia: answer slower than the timeout",
        "the first request was taken but answered after 2 s, past the 0.5 s timeout",
        [Reply(200, delay=2.0)],
        twice=5,
        recovery="the hook timed out and retried the request; the run succeeds",
    ),
    "malformed": Case(
        "Sekoia: 200 with a malformed body",
        "the first request answered 200 with an HTML body, not JSON",
        [Reply(200, "<html>gateway</html>")],
        recovery="200 is acceptance; the missing task id is not needed; the run succeeds",
    ),
    "429": Case(
        "Sekoia: 429 without Retry-After",
        "the first two requests answered 429 with no Retry-After header",
        [Reply(429, {"message": "slow down"}), Reply(429, {"message": "slow down"})],
        recovery="the hook backed off exponentially and retried; the run succeeds",
    ),
    "413": Case(
        "Sekoia: 413 payload too large",
        "requests of more than 2 events answered 413",
        max_items=2,
        recovery="the hook split each request in halves until taken; the run succeeds",
    ),
}


@pytest.fixture
def sekoia(sekoia_server, monkeypatch):
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        sekoia_connection_json(
            sekoia_server.base_url, sekoia_server.api_key, sekoia_server.connector_uuid, **TUNING
        ),
    )
    return sekoia_server


def taken(server) -> list[str]:
    return sorted(item["user"]["name"] for item in server.accepted)


RUN = {"strategy": "bulk", "sinks": ["sekoia"], "sekoia_conn_id": CONN_ID}


@pytest.mark.parametrize("case", list(CASES))
def test_sekoia_fault_within_the_hooks_retries(case, iam, sekoia, dag_runs, fault):
    c = CASES[case]
    add_users(iam, USERS)
    sekoia.script(*c.replies)
    sekoia.max_items = c.max_items
    run = dag_runs(**RUN)
    assert run.state == "success", run.tasks
    lost, twice = lost_and_twice(USERS, taken(sekoia))
    assert (lost, twice) == (0, c.twice)
    accepted = len(sekoia.accepted)
    assert dag_runs(**RUN).state == "success" and len(sekoia.accepted) == accepted  # all held
    fault.record(c.fault, did=c.did, lost=lost, duplicates=twice, recovery=c.recovery)


def test_sekoia_failing_past_the_retries_fails_the_run_and_the_next_run_catches_up(
    iam, sekoia, dag_runs, fault
):
    add_users(iam, USERS)
    # The first request of the first batch is taken; its second fails on every try (1 + 2).
    sekoia.script(Reply(200), *[Reply(503, {"message": "unavailable"})] * 3)
    failed = dag_runs(**RUN)
    assert failed.state == "failed"
    assert sorted(failed.tasks["push_to_sekoia"]) == ["failed", "success", "success"]
    assert sink_state("sekoia") is None  # an account's state moves only if all its batches went
    first = taken(sekoia)
    assert len(first) == 25 and len(set(USERS) - set(first)) == 5  # one request of 5 missed

    recovered = dag_runs(**RUN)
    assert recovered.state == "success"
    lost, twice = lost_and_twice(USERS, taken(sekoia))
    assert (lost, twice) == (0, 25)
    fault.record(
        "Sekoia: 503 past the hook's retries",
        did="after the first request, every try of the next one answered 503",
        lost=lost,
        duplicates=twice,
        recovery="the batch's task failed, Sekoia's state did not move; the next run sent "
        "every user again (at-least-once)",
    )
