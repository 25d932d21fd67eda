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


OTHER = "222222222222"


def events_batch(store: XComStore, send: dict, other: dict | None = None) -> BatchRef:
    """Batch 2 of the run as to_ocsf[2] hands it on: ACCOUNT's part 2 (``send``), and OTHER's
    part 0 when ``other`` says what it sends (a batch shared by two accounts)."""
    events = {"events": [sample_event(0), sample_event(1)], "send": send}
    parts = [{"account": ACCOUNT, "index": 2, "batch": events}]
    if other is not None:
        parts.append(
            {"account": OTHER, "index": 0, "batch": {"events": [sample_event(2)], "send": other}}
        )
    store.push("to_ocsf", "batch_2", 2, {"parts": parts})
    return BatchRef(
        index=2,
        label="b",
        parts=[],
        payload={"task_id": "to_ocsf", "key": "batch_2", "map_index": 2},
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
    (report,) = op.execute(context)

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


def test_a_shared_batch_writes_each_accounts_part_in_its_own_folder(tmp_path):
    store = XComStore()
    batch = events_batch(store, {"file": [0, 1]}, other={"file": [0]})
    op = WriteOcsfFilesOperator(
        task_id="write_files", batch=batch, sinks=["file"], output_uri=f"file://{tmp_path}"
    )
    context = task_context(store, "write_files", 2)
    reports = op.execute(context)
    assert [(r["account"], r["index"], r["events"]) for r in reports] == [
        (ACCOUNT, 2, 2),
        (OTHER, 0, 1),
    ]
    run = run_folder(context)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.ndjson")) == [
        f"account={ACCOUNT}/{run}/part-00002.ndjson",
        f"account={OTHER}/{run}/part-00000.ndjson",
    ]


def test_an_account_whose_folder_cannot_be_written_fails_alone(tmp_path):
    store = XComStore()
    batch = events_batch(store, {"file": [0, 1]}, other={"file": [0]})
    (tmp_path / f"account={ACCOUNT}").write_text("a file where the folder should be")
    op = WriteOcsfFilesOperator(
        task_id="write_files", batch=batch, sinks=["file"], output_uri=f"file://{tmp_path}"
    )
    (report,) = op.execute(task_context(store, "write_files", 2))
    assert (report["account"], report["events"]) == (OTHER, 1)
    (error,) = store.get("write_files", "error", 2)
    assert (error["account"], error["stage"]) == (ACCOUNT, "delivery to file")


def test_a_batch_whose_every_part_failed_fails(tmp_path):
    store = XComStore()
    batch = events_batch(store, {"file": [0, 1]})
    (tmp_path / f"account={ACCOUNT}").write_text("a file where the folder should be")
    op = WriteOcsfFilesOperator(
        task_id="write_files", batch=batch, sinks=["file"], output_uri=f"file://{tmp_path}"
    )
    with pytest.raises(OSError):
        op.execute(task_context(store, "write_files", 2))
