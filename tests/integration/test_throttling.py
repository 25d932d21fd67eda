"""Throttled IAM: botocore's retries absorb it; beyond them the task fails, for Airflow to retry.

Only refusals and users deleted mid-run degrade a user (see test_living_inventory for AccessDenied).
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from airflow_provider_awsiam_ocsf.collection import enrich_users, list_users
from airflow_provider_awsiam_ocsf.collection_plan import Window
from airflow_provider_awsiam_ocsf.hooks.iam import IamHook
from devtools.local import aws_connection_json
from tests.support.iam_world import add_users
from tests.support.throttling_proxy import ThrottlingProxy


@pytest.fixture
def proxy(iam_endpoint):
    proxy = ThrottlingProxy(iam_endpoint)
    yield proxy
    proxy.stop()


def connection(monkeypatch, conn_id: str, endpoint: str, **config_kwargs) -> str:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", aws_connection_json(endpoint, **config_kwargs)
    )
    return conn_id


def test_default_retry_policy_rides_out_throttling(iam, proxy, monkeypatch):
    add_users(iam, ["a", "b"])
    proxy.throttle("GetAccountAuthorizationDetails", 3)
    hook = IamHook(aws_conn_id=connection(monkeypatch, "aws_throttled", proxy.url))
    listing = list_users(hook, "bulk", Window())
    assert [u.name for u in listing.users] == ["a", "b"]
    assert proxy.throttled["GetAccountAuthorizationDetails"] == 3
    assert proxy.seen["GetAccountAuthorizationDetails"] == 4  # 3 throttled + 1 answered
    assert hook.calls["GetAccountAuthorizationDetails"] == 1  # one logical call


def test_retry_policy_is_tuned_through_the_connection(iam, proxy, monkeypatch):
    add_users(iam, ["a"])
    proxy.throttle("ListUsers", 3)
    conn = connection(
        monkeypatch, "aws_impatient", proxy.url, retries={"mode": "standard", "max_attempts": 2}
    )
    with pytest.raises(ClientError, match="Throttling"):
        list_users(IamHook(aws_conn_id=conn), "per_user", Window())
    assert proxy.seen["ListUsers"] == 3  # botocore's max_attempts counts retries: 1 + 2


def test_throttling_beyond_the_retries_fails_enrichment_instead_of_degrading(
    iam, proxy, monkeypatch
):
    add_users(iam, ["a", "b"])
    conn = connection(
        monkeypatch, "aws_impatient", proxy.url, retries={"mode": "standard", "max_attempts": 2}
    )
    hook = IamHook(aws_conn_id=conn)
    listing = list_users(hook, "per_user", Window())
    proxy.throttle("ListMFADevices", 3)  # every attempt for the first user (1 + 2 retries)
    with pytest.raises(ClientError, match="Throttling"):
        enrich_users(hook, listing.users, listing.catalog)
    # The task's retry, once IAM answers again, reads every fact of every user.
    a, b = enrich_users(hook, listing.users, listing.catalog)
    assert a.has_mfa is False and a.degraded == [] and b.degraded == []


def test_a_user_deleted_mid_run_degrades_without_failing(iam, proxy, monkeypatch):
    add_users(iam, ["a", "b"])
    hook = IamHook(aws_conn_id=connection(monkeypatch, "aws_proxy", proxy.url))
    listing = list_users(hook, "per_user", Window())
    iam.delete_user(UserName="a")
    a, b = enrich_users(hook, listing.users, listing.catalog)
    assert {d.code for d in a.degraded} == {"NoSuchEntity"}
    assert b.degraded == [] and b.has_mfa is False


def test_a_transient_error_reading_the_credential_report_fails_the_listing(iam, proxy, monkeypatch):
    add_users(iam, ["a"])
    conn = connection(
        monkeypatch, "aws_impatient", proxy.url, retries={"mode": "standard", "max_attempts": 1}
    )
    # 1 + 1 retry for the ask made before the details are paged (its error is left to the next
    # ask), then 1 + 1 retry for that next ask.
    proxy.throttle("GenerateCredentialReport", 4)
    with pytest.raises(ClientError, match="Throttling"):
        list_users(IamHook(aws_conn_id=conn), "bulk", Window())
