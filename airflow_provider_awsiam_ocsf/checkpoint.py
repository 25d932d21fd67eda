"""The one place that reads and writes the incremental checkpoint (an Airflow Variable).

The value is an ISO 8601 timestamp in UTC: users created at or after it have not been delivered
yet. It only moves forward, and only the run's last task moves it, after every sink succeeded.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import Variable

from airflow_provider_awsiam_ocsf.errors import CorruptCheckpointError


def checkpoint_key(dag_id: str, aws_conn_id: str) -> str:
    """``<dag_id>__checkpoint__<aws_conn_id>``: one checkpoint per DAG and AWS connection."""
    return f"{dag_id}__checkpoint__{aws_conn_id}"


def parse_checkpoint(key: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except (AttributeError, ValueError):
        raise CorruptCheckpointError(key, value, "not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise CorruptCheckpointError(key, value, "no timezone; write it with +00:00")
    return moment.astimezone(timezone.utc)


def read_checkpoint(key: str) -> datetime | None:
    """The checkpoint, or None when there is none yet (the run then collects every user)."""
    value = Variable.get(key, default=None)
    return None if value in (None, "") else parse_checkpoint(key, value)


def advance_checkpoint(key: str, to: datetime) -> datetime:
    """Move the checkpoint to ``to`` unless it is already there or later; return where it is."""
    current = read_checkpoint(key)
    if current is not None and current >= to:
        return current
    to = to.astimezone(timezone.utc)
    Variable.set(
        key, to.isoformat(), description="Users created at or after this were not delivered yet."
    )
    return to
