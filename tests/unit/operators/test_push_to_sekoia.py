"""push_to_sekoia: the sekoia sink pushes its part of a batch to Sekoia's API (a loopback server
playing it)."""

from __future__ import annotations

from airflow_provider_awsiam_ocsf.operators.push_to_sekoia import SekoiaPushOperator
from tests.support.task_context import XComStore, task_context
from tests.unit.operators.test_write_files import ACCOUNT, OTHER, events_batch


def test_template_fields_and_trigger_rule():
    assert SekoiaPushOperator.template_fields == ("batch", "sinks", "sekoia_conn_id")
    assert SekoiaPushOperator(task_id="push_to_sekoia", batch={}).trigger_rule == "all_done"


def test_pushes_this_sinks_events_and_reports_the_requests(sekoia_server, sekoia_conn_id):
    store = XComStore()
    op = SekoiaPushOperator(
        task_id="push_to_sekoia",
        batch=events_batch(store, {"file": [0], "sekoia": [0, 1]}),
        sinks=["file", "sekoia"],
        sekoia_conn_id=sekoia_conn_id,
    )
    (report,) = op.execute(task_context(store, "push_to_sekoia", 2))
    assert report == {
        "sink": "sekoia",
        "events": 2,
        "requests": 1,
        "retries": 0,
        "account": ACCOUNT,
        "index": 2,
    }
    assert len(sekoia_server.pushes) == 1


def test_a_shared_batch_goes_in_one_request_and_reports_each_account(sekoia_server, sekoia_conn_id):
    store = XComStore()
    op = SekoiaPushOperator(
        task_id="push_to_sekoia",
        batch=events_batch(store, {"sekoia": [0, 1]}, other={"sekoia": [0]}),
        sinks=["sekoia"],
        sekoia_conn_id=sekoia_conn_id,
    )
    reports = op.execute(task_context(store, "push_to_sekoia", 2))
    assert [(r["account"], r["index"], r["events"]) for r in reports] == [
        (ACCOUNT, 2, 2),
        (OTHER, 0, 1),
    ]
    assert len(sekoia_server.pushes) == 1 and sum(r.get("requests", 0) for r in reports) == 1
