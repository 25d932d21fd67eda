"""batches: every listed account's chunks packed into the run's batches, small accounts sharing
one, for the per-batch mapped tasks."""

from __future__ import annotations

import math

import pytest

from airflow_provider_awsiam_ocsf.batch_plan import pack_batches
from airflow_provider_awsiam_ocsf.operators.batches import FlattenBatchesOperator
from tests.support.task_context import XComStore, task_context


def chunk(account: str, index: int, users: int, number: int = 1, tombstones=False) -> dict:
    ref = {"task_id": "list_users", "key": f"batch_{index}_{account}", "map_index": 0}
    catalog = {"task_id": "list_users", "key": f"catalog_{account}", "map_index": 0}
    return {
        "account": account,
        "role_arn": None,
        "name": f"N{number}",
        "number": number,
        "index": index,
        "users": users,
        "tombstones": tombstones,
        "payload": ref,
        "catalog": catalog,
    }


def account_chunks(account: str, users: int, size: int, number: int) -> list[dict]:
    sizes = [size] * (users // size) + ([users % size] if users % size else [])
    return [chunk(account, i, n, number) for i, n in enumerate(sizes)]


def group(*listings: tuple[str, list[dict]]) -> dict:
    return {
        "label": "g",
        "errors": [],
        "listings": [{"account": a, "batches": chunks} for a, chunks in listings],
    }


def test_template_fields_and_trigger_rule():
    op = FlattenBatchesOperator(task_id="batches", listings=[])
    assert op.template_fields == ("listings", "batch_size")
    assert op.trigger_rule == "all_done"  # an account that failed has no chunks; others go on


def test_small_accounts_share_a_batch_and_each_keeps_its_own_part():
    op = FlattenBatchesOperator(
        task_id="batches",
        batch_size=10,
        listings=[
            group(("a", [chunk("a", 0, 3, 1)]), ("b", [chunk("b", 0, 4, 2)])),
            group(("c", [chunk("c", 0, 2, 3)])),
        ],
    )
    (batch,) = op.execute(task_context(XComStore(), "batches"))
    assert batch["label"] == "accounts 1–3 · N1 … N3 · 9 users"
    assert [(p["account"], p["index"], p["start"], p["end"]) for p in batch["parts"]] == [
        ("a", 0, 0, 3),
        ("b", 0, 0, 4),
        ("c", 0, 0, 2),
    ]
    assert batch["payload"] is None  # each part names its own chunk


@pytest.mark.parametrize(
    "users", [[5] * 1000, [2] * 2000, [1000] * 50, [251] * 40, [0, 3, 700, 499, 501, 12] * 50]
)
def test_the_run_has_as_many_batches_as_its_users_need_and_loses_none(users):
    size = 500
    chunks = [c for n, u in enumerate(users, 1) for c in account_chunks(f"{n:012d}", u, size, n)]
    batches = pack_batches(chunks, size)
    assert len(batches) <= max(1, math.ceil(sum(users) / size))
    assert all(sum(p["end"] - p["start"] for p in b["parts"]) <= size for b in batches)
    got: dict[str, list[tuple[int, int, int]]] = {}
    for b in batches:
        for p in b["parts"]:
            got.setdefault(p["account"], []).append((p["index"], p["start"], p["end"]))
    for n, u in enumerate(users, 1):
        parts = sorted(got.get(f"{n:012d}", []))
        assert sum(e - s for _, s, e in parts) == u
        assert [i for i, _, _ in parts] == list(range(len(parts)))  # part-00000, part-00001, …


def test_a_chunk_split_across_two_batches_numbers_its_parts_in_order():
    chunks = [chunk("a", 0, 7, 1), chunk("b", 0, 6, 2, tombstones=True)]
    first, second = pack_batches(chunks, 10)

    def parts(batch):
        return [
            (p["account"], p["index"], p["start"], p["end"], p["tombstones"])
            for p in batch["parts"]
        ]

    assert parts(first) == [("a", 0, 0, 7, False), ("b", 0, 0, 3, False)]
    # The deleted users ride with the chunk's end; b's second part is its part-00001.
    assert parts(second) == [("b", 1, 3, 6, True)]
    assert second["label"] == "b · users 4–6"


def test_deleted_users_alone_make_a_batch_labelled_so():
    (batch,) = pack_batches([chunk("123456789012", 0, 0, 1, tombstones=True)], 10)
    assert batch["label"] == "123456789012 · deleted users"
    assert batch["parts"][0]["tombstones"]


def test_more_batches_than_max_map_length_fail(monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "2")
    op = FlattenBatchesOperator(
        task_id="batches",
        batch_size=10,
        listings=[group(("a", account_chunks("a", 25, 10, 1)))],
    )
    with pytest.raises(ValueError, match=r"max_map_length \(2\): raise batch_size"):
        op.execute(task_context(XComStore(), "batches"))
