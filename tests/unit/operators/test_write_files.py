"""write_files: the file sink writes its part of a batch, fetched by reference."""

from __future__ import annotations

import json

import pytest
from airflow.providers.common.compat.sdk import AirflowSkipException

from airflow_provider_awsiam_ocsf.contracts import BatchRef
from airflow_provider_awsiam_ocsf.operators.write_files import WriteOcsfFilesOperator, run_folder
from tests.support.sekoia_server import sample_event
from tests.support.task_context import XComStore, task_context

ACCOUNT = "123456789012"


def events_batch(store: XComStore, send: dict) -> BatchRef:
    events = [sample_event(0), sample_event(1)]
    store.push("to_ocsf", "batch_2", 2, {"events": events, "send": send})
    return BatchRef(
        account=ACCOUNT,
        role_arn=None,
        index=2,
        label="b",
        payload={"task_id": "to_ocsf", "key": "batch_2", "map_index": 2},
        catalog={"task_id": "list_users", "key": "catalog", "map_index": 0},
    )


def test_template_fields_and_trigger_rule():
    assert WriteOcsfFilesOperator.template_fields == ("batch", "sinks", "output_uri", "aws_conn_id")
    assert WriteOcsfFilesOperator(task_id="write_files", batch={}).trigger_rule == "all_done"


def test_writes_this_sinks_events_as_the_batchs_part(tmp_path):
    store = XComStore()
    batch = events_batch(store, {"file": [1], "sekoia": [0, 1]})
    op = WriteOcsfFilesOperator(
        task_id="write_files", batch=batch, sinks=["file"], output_uri=f"file://{tmp_path}"
    )
    context = task_context(store, "write_files", 2)
    report = op.execute(context)

    part = tmp_path / f"account={ACCOUNT}" / run_folder(context) / "part-00002.ndjson"
    assert run_folder(context).startswith("run=manual__")
    assert report == {
        "sink": "file",
        "events": 1,
        "uri": f"file://{part}",
        "account": ACCOUNT,
        "index": 2,
    }
    assert [json.loads(line)["user"]["name"] for line in part.read_text().splitlines()] == [
        "user0001"
    ]


def test_skips_when_the_run_does_not_select_the_file_sink(tmp_path):
    store = XComStore()
    op = WriteOcsfFilesOperator(
        task_id="write_files", batch=events_batch(store, {}), sinks=["sekoia"]
    )
    with pytest.raises(AirflowSkipException):
        op.execute(task_context(store, "write_files", 2))
