"""enrich_users: per-user IAM reads for one batch (one account's users or several accounts'),
found through the references the batch carries (moto's IAM over HTTP)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from airflow_provider_awsiam_ocsf import per_account
from airflow_provider_awsiam_ocsf.batch_plan import pack_batches
from airflow_provider_awsiam_ocsf.contracts import BatchRef, XComKey
from airflow_provider_awsiam_ocsf.errors import MissingXComError
from airflow_provider_awsiam_ocsf.operators import enrich_users as enrich_module
from airflow_provider_awsiam_ocsf.operators.enrich_users import EnrichIamUsersOperator
from airflow_provider_awsiam_ocsf.pipeline import DAG_ID
from tests.support.iam_world import add_users
from tests.support.org_world import member_client
from tests.support.task_context import XComStore, task_context
from tests.unit.operators.test_list_users import (
    OTHER,
    OTHER_ACCOUNT,
    OWN,
    OWN_ACCOUNT,
    lister,
    soon,
)

ROLE = OTHER_ACCOUNT["role_arn"]


def enricher(task_id: str = "enrich_users", batch: BatchRef | None = None, **kwargs):
    from airflow.providers.common.compat.sdk import DAG

    batch = batch or BatchRef(index=0, label="B · users 1–1", parts=[], payload=None)
    with DAG(DAG_ID, schedule=None):
        return EnrichIamUsersOperator(task_id=task_id, batch=batch, **kwargs)


def listed(
    store: XComStore, task_id: str, batch_size: int, accounts=(OWN_ACCOUNT,)
) -> list[BatchRef]:
    """The batches of a per_user listing of ``accounts`` from ``task_id``[0]."""
    op = lister(task_id, accounts=accounts, strategy="per_user", batch_size=batch_size)
    context = task_context(store, task_id, 0, run_type="backfill", run_after=soon())
    chunks = [c for listing in op.execute(context)["listings"] for c in listing["batches"]]
    return pack_batches(chunks, batch_size)


def test_template_fields():
    assert set(EnrichIamUsersOperator.template_fields) == {
        "aws_conn_id",
        "region_name",
        "verify",
        "batch",
        "access_key_ids",
        "concurrency",
    }


def test_each_account_of_the_batch_is_read_through_its_own_role():
    op = enricher(aws_conn_id="aws_x", region_name="eu-west-1")
    hook = op.account_hook(ROLE)
    assert (hook.aws_conn_id, hook.region_name) == ("aws_x", "eu-west-1")
    assert (hook.member_role_arn, hook.role_session_name) == (ROLE, f"airflow-{DAG_ID}")
    assert op.account_hook(None).member_role_arn is None


def test_two_pipelines_in_one_run_each_read_their_own_batches_and_catalog(iam):
    add_users(iam, ["alice", "bob", "carol"])
    iam.create_group(GroupName="Devs")
    iam.add_user_to_group(GroupName="Devs", UserName="bob")
    store = XComStore()
    first = listed(store, "first.list_users", batch_size=1)
    second = listed(store, "second.list_users", batch_size=10)
    assert len(first) == 3 and len(second) == 1

    context = task_context(store, "second.enrich_users", 0)
    result = enricher("second.enrich_users", second[0], access_key_ids=False).execute(context)

    assert result == {
        **second[0],
        "payload": {"task_id": "second.enrich_users", "key": "batch_0", "map_index": 0},
    }
    (part,) = store.get("second.enrich_users", "batch_0", 0)["parts"]
    enriched = part["batch"]["users"]
    assert [u["name"] for u in enriched] == ["alice", "bob", "carol"]
    assert [[g["name"] for g in u["groups"]] for u in enriched] == [[], ["Devs"], []]
    (summary,) = store.get("second.enrich_users", XComKey.SUMMARY, 0)
    assert summary["users"] == 3 and summary["degraded_users"] == 0
    assert summary["iam_calls"]["ListGroupsForUser"] == 3


def test_a_batch_whose_catalog_is_gone_fails_rather_than_read_another(iam):
    add_users(iam, ["alice"])
    store = XComStore()
    batch = listed(store, "list_users", batch_size=10)[0]
    part = batch["parts"][0]
    renamed = {**part, "catalog": {**part["catalog"], "task_id": "inventory.list_users"}}
    with pytest.raises(MissingXComError, match=r"inventory\.list_users"):
        enricher(batch={**batch, "parts": [renamed]}).execute(
            task_context(store, "enrich_users", 0)
        )


def throttled_for(role: str | None, calls: list[str | None]):
    """enrich_users as it is, except that it is throttled past botocore's retries in ``role``'s
    account (None: the connection's own); ``calls`` records each account tried."""
    real = enrich_module.enrich_users

    def enrich(hook, *args, **kwargs):
        calls.append(hook.member_role_arn)
        if hook.member_role_arn == role:
            raise ClientError(
                {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "ListGroupsForUser"
            )
        return real(hook, *args, **kwargs)

    return enrich


def test_an_account_failing_in_a_shared_batch_is_retried_once_then_dropped_alone(
    iam, iam_endpoint, monkeypatch
):
    add_users(iam, ["alice"])
    member_client(iam_endpoint, OTHER).create_user(UserName="bob")
    store = XComStore()
    (batch,) = listed(store, "list_users", 10, accounts=[OWN_ACCOUNT, OTHER_ACCOUNT])
    assert [p["account"] for p in batch["parts"]] == [OWN, OTHER]  # one shared batch
    calls: list[str | None] = []
    monkeypatch.setattr(enrich_module, "enrich_users", throttled_for(None, calls))
    monkeypatch.setattr(per_account, "RETRY_PAUSE", 0)
    result = enricher(batch=batch).execute(task_context(store, "enrich_users", 0))
    assert calls.count(None) == 2  # the failed account, tried twice; the task goes on
    assert calls.count(ROLE) == 1
    (part,) = store.get("enrich_users", "batch_0", 0)["parts"]
    assert part["account"] == OTHER and [u["name"] for u in part["batch"]["users"]] == ["bob"]
    (error,) = store.get("enrich_users", XComKey.ERROR, 0)
    assert (error["account"], error["code"], error["stage"]) == (OWN, "Throttling", "enrichment")
    assert result["payload"] is not None


def test_a_batch_whose_every_account_failed_fails_for_airflow_to_retry(iam, monkeypatch):
    add_users(iam, ["alice"])
    store = XComStore()
    (batch,) = listed(store, "list_users", 10)
    calls: list[str | None] = []
    monkeypatch.setattr(enrich_module, "enrich_users", throttled_for(None, calls))
    with pytest.raises(ClientError, match="Throttling"):
        enricher(batch=batch).execute(task_context(store, "enrich_users", 0))
    assert calls == [None]  # no second try inside the task: Airflow's retries take over
    (error,) = store.get("enrich_users", XComKey.ERROR, 0)
    assert error["account"] == OWN
