"""IAM failing under a real run: throttled past botocore's retries, or gone mid-enrichment.

The sample DAG runs with ``dag.test()`` against moto's server behind a loopback proxy that
throttles or drops requests (moto itself never fails). Every user must reach the sink, in this
run or the next; what is sent twice is counted.
"""

from __future__ import annotations

import pytest

from devtools.local import aws_connection_json
from tests.support.dag_runs import sink_state
from tests.support.faults import lost_and_twice
from tests.support.iam_world import add_users
from tests.support.throttling_proxy import ThrottlingProxy

USERS = [f"user{i:02d}" for i in range(30)]  # 3 batches of 10


@pytest.fixture
def proxy(iam, iam_endpoint, monkeypatch):
    """The ``aws_default`` connection goes through the proxy; 1 + 1 botocore retry per call."""
    proxy = ThrottlingProxy(iam_endpoint)
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        aws_connection_json(proxy.url, retries={"mode": "standard", "max_attempts": 2}),
    )
    yield proxy
    proxy.stop()


def names(events) -> list[str]:
    return sorted(e["user"]["name"] for e in events)


def test_throttling_within_botocores_retries_costs_nothing(
    iam, proxy, dag_runs, fault, monkeypatch
):
    # The provider's default retry policy (standard, 10 attempts), not the tests' impatient one.
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_json(proxy.url))
    add_users(iam, USERS)
    for action in ("ListUsers", "ListGroupsForUser", "ListMFADevices", "GetUser"):
        proxy.throttle(action, 5)  # the next 5 requests of each
    run = dag_runs(strategy="per_user")
    assert run.state == "success", run.tasks
    assert sum(proxy.throttled.values()) == 20
    lost, twice = lost_and_twice(USERS, names(run.events))
    assert (lost, twice) == (0, 0)
    fault.record(
        "IAM throttling (HTTP 400 Throttling)",
        did="20 calls of 4 actions throttled during one per_user run",
        lost=lost,
        duplicates=twice,
        recovery="botocore's retries (standard mode, jittered backoff); the run succeeds",
    )


def test_iam_down_for_a_moment_mid_enrichment_is_ridden_out_by_a_task_retry(
    iam, proxy, dag_runs, fault
):
    add_users(iam, USERS)
    # The first batch is enriched; the second one's first call and its botocore retry are
    # dropped, so that try fails; the endpoint is back for Airflow's retry of the task.
    proxy.go_down_after("ListGroupsForUser", 10, requests=2)
    run = dag_runs(strategy="per_user", task_retries=1)
    assert proxy.dropped == 2
    assert run.state == "success", run.tasks
    assert run.summary["users_degraded"] == 0
    lost, twice = lost_and_twice(USERS, names(run.events))
    assert (lost, twice) == (0, 0)
    fault.record(
        "IAM endpoint down mid-enrichment, briefly",
        did="connections to IAM reset after the first of 3 batches, for 2 requests",
        lost=lost,
        duplicates=twice,
        recovery="the batch's task failed and Airflow's task retry read it; the run succeeds",
    )


def test_iam_down_mid_enrichment_fails_the_run_and_the_next_run_delivers(
    iam, proxy, dag_runs, fault
):
    add_users(iam, USERS)
    proxy.go_down_after("ListGroupsForUser", 10)  # until restored
    failed = dag_runs(strategy="per_user")
    assert failed.state == "failed"
    assert failed.tasks["enrich_users"].count("failed") == 2  # batches 2 and 3
    assert sink_state() is None  # nothing committed
    assert failed.summary is not None and failed.summary["users_degraded"] == 0
    # A mapped task cannot expand over a mapped upstream with failed instances: the batch that
    # was enriched is held back with the others (to_ocsf is upstream_failed), nothing is written.
    assert failed.tasks["to_ocsf"] == ["upstream_failed"] and failed.events == []

    proxy.restore()
    recovered = dag_runs(strategy="per_user")
    assert recovered.state == "success"
    assert names(recovered.events) == USERS
    assert dag_runs(strategy="per_user").events == []
    lost, twice = lost_and_twice(USERS, names(failed.events) + names(recovered.events))
    assert (lost, twice) == (0, 0)
    fault.record(
        "IAM endpoint down mid-enrichment, for good",
        did="connections to IAM reset from the second of 3 batches until the run failed",
        lost=lost,
        duplicates=twice,
        recovery="run failed before any delivery, no state moved; the next run sent every user",
    )
