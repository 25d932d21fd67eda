"""A minimal task context for calling an operator's ``execute`` directly, in milliseconds.

``dag.test()`` proves the wiring; these prove one operator's contract: what it reads from XCom,
what it pushes and returns. The task instance keeps its XComs in memory, shared by every task of
one :class:`XComStore` (a run), and stores each value as JSON, as Airflow's XCom backend does, so a
value that would not survive XCom fails here too. The run is a plain object with the attributes
the operators read (``run_type``, ``run_id``, ``run_after``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

RUN_AFTER = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class XComStore:
    """The XComs of one run: (task_id, key, map_index) -> value as JSON."""

    values: dict[tuple[str, str, int], str] = field(default_factory=dict)

    def push(self, task_id: str, key: str, map_index: int, value: Any) -> None:
        self.values[(task_id, key, map_index)] = json.dumps(value)

    def get(self, task_id: str, key: str, map_index: int = -1) -> Any:
        raw = self.values.get((task_id, key, map_index))
        return None if raw is None else json.loads(raw)

    def keys_of(self, task_id: str, map_index: int = -1) -> set[str]:
        return {k for t, k, m in self.values if (t, m) == (task_id, map_index)}


@dataclass
class TaskInstanceStub:
    """The part of a task instance operators use: its identity and XCom."""

    store: XComStore
    task_id: str
    map_index: int | None = None

    def xcom_push(self, key: str, value: Any) -> None:
        self.store.push(self.task_id, key, -1 if self.map_index is None else self.map_index, value)

    def xcom_pull(
        self,
        task_ids: str,
        key: str = "return_value",
        map_indexes: int | None = None,
        default: Any = None,
    ) -> Any:
        value = self.store.get(task_ids, key, -1 if map_indexes is None else map_indexes)
        return default if value is None else value


def task_context(
    store: XComStore,
    task_id: str,
    map_index: int | None = None,
    *,
    run_type: str = "manual",
    run_after: datetime = RUN_AFTER,
) -> dict[str, Any]:
    """The context ``execute`` gets, for ``task_id`` (and ``map_index``) of one run of ``store``;
    a backfill run's data interval is the hour before ``run_after``."""
    return {
        "ti": TaskInstanceStub(store, task_id, map_index),
        "dag_run": SimpleNamespace(
            run_type=run_type, run_id=f"{run_type}__{run_after.isoformat()}", run_after=run_after
        ),
        "data_interval_start": run_after - timedelta(hours=1),
        "data_interval_end": run_after,
    }
