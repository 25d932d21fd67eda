"""Event runs' switch and schedule: the ``[awsiam_ocsf]`` settings, the watched SQS queue as an
Asset, and the DAG's timetable **or** that asset (README, "Changes in seconds").

The triggerer polls the queue (``MessageQueueTrigger(scheme="sqs", …)`` of common-messaging,
dispatched to the amazon provider's SQS trigger, which deletes what it receives); each batch of
messages becomes an asset event whose ``extra`` carries them, and the scheduler starts a run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import Asset

try:  # the Task SDK's, Airflow 3.2+
    from airflow.sdk import AssetOrTimeSchedule
except ImportError:  # pragma: no cover - Airflow 3.0/3.1
    from airflow.timetables.assets import (  # type: ignore[assignment]
        AssetOrTimeSchedule,
    )

SECTION = "awsiam_ocsf"
DEFAULTS = {
    "events_queue_url": "",
    "events_conn_id": "aws_default",
    "events_wait_time_seconds": "20",
    "events_poll_delay_seconds": "1",
    "events_max_messages": "10",
}


@dataclass(frozen=True)
class EventSettings:
    queue_url: str
    conn_id: str = "aws_default"
    wait_time_seconds: int = 20  # SQS long poll: a message is seen as it arrives
    poll_delay_seconds: int = 1  # pause after an empty poll
    max_messages: int = 10


def event_settings(
    queue_url: str | None = None, conn_id: str | None = None
) -> EventSettings | None:
    """The ``[awsiam_ocsf]`` settings, ``queue_url``/``conn_id`` laid over them; None when no
    queue is set (no event runs)."""
    from airflow.configuration import conf

    def option(name: str) -> str:
        return str(conf.get(SECTION, name, fallback=DEFAULTS[name]) or DEFAULTS[name])

    url = queue_url if queue_url is not None else option("events_queue_url")
    if not url:
        return None
    return EventSettings(
        queue_url=url,
        conn_id=conn_id or option("events_conn_id"),
        wait_time_seconds=int(option("events_wait_time_seconds")),
        poll_delay_seconds=int(option("events_poll_delay_seconds")),
        max_messages=int(option("events_max_messages")),
    )


def events_asset_name(dag_id: str) -> str:
    return f"{dag_id}_iam_events"


def events_asset(dag_id: str, settings: EventSettings) -> Asset:
    """The queue, watched by the triggerer. The queue is polled in the connection's region
    (never parsed from the URL: moto's and LocalStack's carry none)."""
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    try:  # the Task SDK's (3.0+); common.compat's shim where it has one
        from airflow.sdk import AssetWatcher
    except ImportError:  # pragma: no cover
        from airflow.sdk.definitions.asset import AssetWatcher

    # scheme=, never queue=: queue's meaning changes in common-messaging 2.2.
    trigger = MessageQueueTrigger(
        scheme="sqs",
        sqs_queue=settings.queue_url,
        aws_conn_id=settings.conn_id,
        wait_time_seconds=settings.wait_time_seconds,
        waiter_delay=settings.poll_delay_seconds,
        max_messages=settings.max_messages,
    )
    return Asset(
        name=events_asset_name(dag_id),
        watchers=[AssetWatcher(name=f"{dag_id}_sqs", trigger=trigger)],
    )


def events_schedule(timetable: Any, asset: Asset) -> Any:
    """The DAG's timetable or the asset, whichever comes first."""
    return AssetOrTimeSchedule(timetable=timetable, assets=[asset])


def triggering_events(triggering: Mapping[Any, Iterable[Any]] | None, dag_id: str) -> list | None:
    """The asset events of the DAG's events asset that triggered the run (from the context's
    ``triggering_asset_events``); None when none did (not an event run)."""
    name = events_asset_name(dag_id)
    for asset, events in (triggering or {}).items():
        if getattr(asset, "name", None) == name:
            return list(events)
    return None


def event_extras(triggering: Mapping[Any, Iterable[Any]] | None, dag_id: str) -> list[dict] | None:
    """The ``extra`` of each asset event of the DAG's events asset that triggered the run (the
    context's ``triggering_asset_events``); None when none did (not an event run)."""
    events = triggering_events(triggering, dag_id)
    if events is None:
        return None
    return [dict(getattr(event, "extra", None) or {}) for event in events]


def newer_events(inlet_events: Any, after: datetime) -> list:
    """The asset events of an inlet (``context["inlet_events"][asset]``) stamped after ``after``,
    oldest first. Airflow 3.2+ filters on the server (``.after()``); 3.0/3.1 return them all."""
    if hasattr(inlet_events, "after"):
        inlet_events = inlet_events.after(after.isoformat())
    later = [e for e in inlet_events if getattr(e, "timestamp", None) and e.timestamp > after]
    return sorted(later, key=lambda e: e.timestamp)
