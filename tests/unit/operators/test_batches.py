"""batches: every listed account's batches as one list, for the per-batch mapped tasks."""

from __future__ import annotations

import pytest

from airflow_provider_awsiam_ocsf.operators.batches import FlattenBatchesOperator
from tests.support.task_context import XComStore, task_context


def batch(account: str, index: int) -> dict:
    ref = {"task_id": "list_users", "key": f"batch_{index}", "map_index": 0}
    return {"account": account, "index": index, "label": f"{account} {index}", "payload": ref}


def listing(account: str, batches: int) -> dict:
    return {"account": account, "batches": [batch(account, n) for n in range(batches)]}


def test_template_fields_and_trigger_rule():
    op = FlattenBatchesOperator(task_id="batches", listings=[])
    assert op.template_fields == ("listings",)
    assert op.trigger_rule == "all_done"  # an account that failed has no batches; others go on


def test_returns_every_listed_accounts_batches_in_order():
    op = FlattenBatchesOperator(task_id="batches", listings=[listing("a", 2), listing("b", 1)])
    assert op.execute(task_context(XComStore(), "batches")) == [
        batch("a", 0),
        batch("a", 1),
        batch("b", 0),
    ]


def test_more_batches_than_max_map_length_fail(monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "2")
    op = FlattenBatchesOperator(task_id="batches", listings=[listing("a", 2), listing("b", 1)])
    with pytest.raises(ValueError, match=r"max_map_length \(2\): raise batch_size"):
        op.execute(task_context(XComStore(), "batches"))
