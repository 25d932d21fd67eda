"""The event runs' switch: unset, the DAG is as before; set, its timetable or the watched queue."""

from __future__ import annotations

from airflow_provider_awsiam_ocsf import get_provider_info
from airflow_provider_awsiam_ocsf.event_schedule import event_extras, event_settings
from airflow_provider_awsiam_ocsf.pipeline import build_inventory_dag

QUEUE = "http://127.0.0.1:5000/123456789012/iam-events"  # moto's: no region in it


def test_provider_declares_the_awsiam_ocsf_config_section():
    options = get_provider_info()["config"]["awsiam_ocsf"]["options"]
    assert options["events_queue_url"]["default"] == ""
    assert options["events_conn_id"]["default"] == "aws_default"
    assert {"events_wait_time_seconds", "events_poll_delay_seconds", "events_max_messages"} <= set(
        options
    )


def test_without_a_queue_the_dag_is_as_before():
    assert event_settings() is None
    dag = build_inventory_dag("no_events")
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert "refresh_from_events" not in dag.task_ids


def test_queue_from_the_config(monkeypatch):
    monkeypatch.setenv("AIRFLOW__AWSIAM_OCSF__EVENTS_QUEUE_URL", QUEUE)
    monkeypatch.setenv("AIRFLOW__AWSIAM_OCSF__EVENTS_CONN_ID", "aws_events")
    settings = event_settings()
    assert settings is not None
    assert (settings.queue_url, settings.conn_id) == (QUEUE, "aws_events")
    assert (settings.wait_time_seconds, settings.poll_delay_seconds, settings.max_messages) == (
        20,
        1,
        10,
    )
    assert event_settings(queue_url="") is None  # the DAG's own "" wins


def test_with_a_queue_the_dag_runs_on_its_timetable_or_the_watched_queue():
    dag = build_inventory_dag("with_events", events_queue_url=QUEUE, events_conn_id="aws_events")
    assert type(dag.timetable).__name__ == "AssetOrTimeSchedule"
    assert type(dag.timetable.timetable).__name__ == "CronDataIntervalTimetable"
    (asset,) = dag.timetable.asset_condition.objects
    assert asset.name == "with_events_iam_events"
    (watcher,) = asset.watchers
    trigger = watcher.trigger.trigger  # MessageQueueTrigger dispatches to the SQS trigger
    assert type(trigger).__name__ == "SqsSensorTrigger"
    assert (trigger.sqs_queue, trigger.aws_conn_id, trigger.region_name) == (
        QUEUE,
        "aws_events",
        None,  # the connection's region_name: never parsed from the URL
    )
    assert (trigger.wait_time_seconds, trigger.waiter_delay, trigger.max_messages) == (20, 1, 10)
    assert "refresh_from_events" in dag.task_ids
    assert dag.max_active_runs == 1


class _Event:
    def __init__(self, extra):
        self.extra = extra


class _Asset:
    def __init__(self, name):
        self.name = name


def test_only_the_dags_own_events_asset_makes_an_event_run():
    extra = {"from_trigger": True, "payload": {"message_batch": [{"Body": "{}"}]}}
    triggering = {_Asset("other"): [_Event({})], _Asset("d_iam_events"): [_Event(extra)]}
    assert event_extras(triggering, "d") == [extra]
    assert event_extras({_Asset("other"): [_Event({})]}, "d") is None
    assert event_extras(None, "d") is None
