"""Batches travel between mapped tasks by reference, not by value.

A mapped task expanded over a task's return value pulls that *whole* value to pick its item, so
returning every batch from one task would make each of N mapped instances download all N
batches. Instead a producer pushes each batch's payload under its own XCom key and returns small
references ``{"index", "label", "task_id", "key", "map_index"}``; a consumer fetches only the
payload its reference names, and only when it needs it (a skipped sink never does).
"""

from __future__ import annotations

from typing import Any


def stash(context: Any, index: int, label: str, payload: Any) -> dict:
    """Push ``payload`` as this task instance's batch ``index``; return the reference to it."""
    ti = context["ti"]
    key = f"batch_{index}" if ti.map_index < 0 else "batch"
    ti.xcom_push(key=key, value=payload)
    return {
        "index": index,
        "label": label,
        "task_id": ti.task_id,
        "key": key,
        "map_index": ti.map_index,
    }


def fetch(context: Any, ref: dict) -> Any:
    """The payload a reference from :func:`stash` names."""
    return context["ti"].xcom_pull(
        task_ids=ref["task_id"], key=ref["key"], map_indexes=ref["map_index"]
    )
