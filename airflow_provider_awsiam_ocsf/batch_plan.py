"""Splitting a run's users into batches for mapped tasks (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

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
