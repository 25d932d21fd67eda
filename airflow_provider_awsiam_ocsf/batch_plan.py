"""Splitting a run's users into batches for mapped tasks (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from airflow_provider_awsiam_ocsf.contracts import BatchRef, ChunkRef, PartRef

T = TypeVar("T")


def split_into_batches(items: Sequence[T], size: int) -> list[tuple[str, list[T]]]:
    """Consecutive batches labelled by position, e.g. ``users 1–500``, ``users 501–1000``."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, not {size}")
    batches = []
    for start in range(0, len(items), size):
        chunk = list(items[start : start + size])
        batches.append((f"users {start + 1}–{start + len(chunk)}", chunk))
    return batches


def batches_needed(items: int, size: int) -> int:
    return -(-items // size)


def check_batch_count(items: int, size: int, limit: int) -> None:
    """Fail with a remedy rather than let Airflow refuse to map more than ``limit`` instances
    (``[core] max_map_length``)."""
    if batches_needed(items, size) > limit:
        raise ValueError(
            f"{items} users in batches of {size} make more than {limit} mapped task "
            f"instances ([core] max_map_length): raise batch_size to at least "
            f"{batches_needed(items, limit)}."
        )


def pack_batches(chunks: Sequence[ChunkRef], size: int) -> list[BatchRef]:
    """The run's batches: every account's chunks packed into batches of at most ``size`` users,
    so small accounts share a batch and the run has ``⌈candidates / size⌉`` batches (one more at
    most, for deleted users alone).

    A full chunk is a batch of its own (read once); the others fill batches in order, a chunk
    split across two batches where it does not fit. Each account's parts are numbered in the
    account's own order (chunk, then position), so its files keep deterministic names."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, not {size}")
    batches: list[list[tuple[ChunkRef, int, int]]] = [
        [(c, 0, c["users"])] for c in chunks if c["users"] >= size
    ]
    current: list[tuple[ChunkRef, int, int]] = []
    room = size
    for chunk in (c for c in chunks if c["users"] < size):
        start, total = 0, chunk["users"]
        if total == 0:  # deleted users only: they ride along, they are not enriched
            current.append((chunk, 0, 0))
        while start < total:
            take = min(room, total - start)
            current.append((chunk, start, start + take))
            start, room = start + take, room - take
            if room == 0:
                batches.append(current)
                current, room = [], size
    if current:
        batches.append(current)
    order: dict[str, list[tuple[int, int]]] = {}
    for pieces in batches:
        for chunk, start, _ in pieces:
            order.setdefault(chunk["account"], []).append((chunk["index"], start))
    number = {a: {k: i for i, k in enumerate(sorted(keys))} for a, keys in order.items()}
    refs = []
    for index, pieces in enumerate(batches):
        parts = [
            PartRef(
                account=chunk["account"],
                role_arn=chunk["role_arn"],
                name=chunk["name"],
                number=chunk["number"],
                first_user=chunk["index"] * size + start + 1,
                index=number[chunk["account"]][chunk["index"], start],
                start=start,
                end=end,
                tombstones=chunk["tombstones"] and end == chunk["users"],
                payload=chunk["payload"],
                catalog=chunk["catalog"],
            )
            for chunk, start, end in pieces
        ]
        refs.append(BatchRef(index=index, label=batch_label(parts), parts=parts, payload=None))
    return refs


def batch_label(parts: Sequence[PartRef]) -> str:
    """``123456789012 · users 1–500`` for one account's users (positions in that account),
    ``123456789012 · deleted users`` for its deletions alone, and for several accounts
    ``accounts 3–40 · Dev … Test · 212 users`` (numbers in the run, first and last names)."""
    users = sum(p["end"] - p["start"] for p in parts)
    accounts = list(dict.fromkeys(p["account"] for p in parts))
    if len(accounts) == 1:
        first = parts[0]
        if users == 0:
            return f"{first['account']} · deleted users"
        start = min(p["first_user"] for p in parts)
        return f"{first['account']} · users {start}–{start + users - 1}"
    low = min(parts, key=lambda p: p["number"])
    high = max(parts, key=lambda p: p["number"])
    names = [p["name"] or p["account"] for p in (low, high)]
    return (
        f"accounts {low['number']}–{high['number']} · {names[0]} … {names[1]} · "
        f"{users} user{'' if users == 1 else 's'}"
    )
