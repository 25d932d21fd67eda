"""enrich_users: per-user IAM reads for one batch, found through the references the batch carries
(moto's IAM over HTTP)."""

from __future__ import annotations

import pytest

from airflow_provider_awsiam_ocsf.contracts import BatchRef, XComKey
from airflow_provider_awsiam_ocsf.errors import MissingXComError
from airflow_provider_awsiam_ocsf.operators.enrich_users import EnrichIamUsersOperator
from airflow_provider_awsiam_ocsf.operators.list_users import ListIamUsersOperator
from airflow_provider_awsiam_ocsf.pipeline import DAG_ID
from tests.support.iam_world import add_users
from tests.support.task_context import XComStore, task_context
from tests.unit.operators.test_list_users import OWN_ACCOUNT, soon

ROLE = "arn:aws:iam::222222222222:role/iam-inventory-reader"


def enricher(task_id: str = "enrich_users", batch: BatchRef | None = None, **kwargs):
    from airflow.providers.common.compat.sdk import DAG

    batch = batch or BatchRef(
        account="222222222222",
        role_arn=ROLE,
        index=0,
        label="B · users 1–1",
        payload={},
        catalog={},
    )
    with DAG(DAG_ID, schedule=None):
        return EnrichIamUsersOperator(task_id=task_id, batch=batch, **kwargs)


def listed(store: XComStore, task_id: str, batch_size: int) -> list[BatchRef]:
    """The batches a per_user listing of moto's account hands on, from ``task_id``[0]."""
    op = ListIamUsersOperator(
        task_id=task_id,
        account=OWN_ACCOUNT,
        strategy="per_user",
        batch_size=batch_size,
        settle_seconds=0,
    )
    context = task_context(store, task_id, 0, run_type="backfill", run_after=soon())
    return op.execute(context)["batches"]


def test_template_fields():
    assert set(EnrichIamUsersOperator.template_fields) == {
        "aws_conn_id",
        "region_name",
        "verify",
        "batch",
        "access_key_ids",
    }


def test_hook_parameters_read_the_batchs_account_through_its_role():
    op = enricher(aws_conn_id="aws_x", region_name="eu-west-1")
    hook = op.hook
    assert (hook.aws_conn_id, hook.region_name) == ("aws_x", "eu-west-1")
    assert (hook.member_role_arn, hook.role_session_name) == (ROLE, f"airflow-{DAG_ID}")


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
    enriched = store.get("second.enrich_users", "batch_0", 0)["users"]
    assert [u["name"] for u in enriched] == ["alice", "bob", "carol"]
    assert [[g["name"] for g in u["groups"]] for u in enriched] == [[], ["Devs"], []]
    summary = store.get("second.enrich_users", XComKey.SUMMARY, 0)
    assert summary["users"] == 3 and summary["degraded_users"] == 0
    assert summary["iam_calls"]["ListGroupsForUser"] == 3


def test_a_batch_whose_catalog_is_gone_fails_rather_than_read_another(iam):
    add_users(iam, ["alice"])
    store = XComStore()
    batch = listed(store, "list_users", batch_size=10)[0]
    renamed = {**batch, "catalog": {**batch["catalog"], "task_id": "inventory.list_users"}}
    with pytest.raises(MissingXComError, match=r"inventory\.list_users"):
        enricher(batch=renamed).execute(task_context(store, "enrich_users", 0))
