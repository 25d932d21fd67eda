"""The sample DAG end to end: real Airflow (dag.test on SQLite) against moto's IAM server."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_awsiam_ocsf.state_store import legacy_checkpoint_key
from devtools.demo_org import USERS, seed_demo_organisation
from tests.support.dag_runs import (
    DAG_ID,
    checkpoint_value,
    forget_state,
    read_events,
    run_sample_dag,
    sample_dag,
)
from tests.support.iam_world import add_users


@pytest.fixture
def fresh(iam, airflow_home, tmp_path):
    """An emptied IAM, no checkpoint, and an output folder; yields the run conf to use."""
    forget_state()
    yield {"batch_size": 10, "output_uri": f"file://{tmp_path}/out", "settle_seconds": 0}
    forget_state()


def last_failed_label(task_id: str) -> str:
    from tests.support.airflow_compat import TaskInstance, create_session

    with create_session() as session:
        ti = (
            session.query(TaskInstance)
            .filter_by(dag_id=DAG_ID, task_id=task_id, state="failed")
            .order_by(TaskInstance.end_date.desc())
            .first()
        )
        return ti.rendered_map_index


def names(events) -> set[str]:
    return {e["user"]["name"] for e in events}


def test_dag_has_the_documented_id_params_and_real_data_intervals(airflow_home):
    dag = sample_dag()
    assert dag.dag_id == DAG_ID
    assert set(dag.params) >= {
        "aws_conn_id",
        "strategy",
        "mode",
        "batch_size",
        "sinks",
        "output_uri",
        "sekoia_conn_id",
    }
    assert dag.params["sinks"] == ["file"] and dag.params["strategy"] == "auto"
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.catchup is False and dag.max_active_runs == 1


def test_every_task_is_retried_with_growing_delays(airflow_home):
    """What botocore's and the Sekoia hook's retries cannot overcome is retried by Airflow."""
    for task in sample_dag().tasks:
        assert task.retries == 3, task.task_id
        assert task.retry_delay == timedelta(minutes=1), task.task_id
        # Doubling: a flag on Airflow 3.0/3.1, a multiplier (where True would be x1) on 3.2+.
        assert task.retry_exponential_backoff is True or task.retry_exponential_backoff == 2.0
        assert task.max_retry_delay == timedelta(minutes=15), task.task_id


def test_full_run_in_batches_writes_schema_valid_events_and_sets_the_checkpoint(
    iam, fresh, tmp_path, ocsf_validator
):
    seed_demo_organisation(iam)
    before = datetime.now(UTC)
    state, tasks = run_sample_dag(fresh)
    assert state == "success"
    assert tasks["enrich_users"] == ["success", "success"]  # 20 users, batches of 10
    events = read_events(tmp_path / "out")
    assert len(events) == len(USERS) and names(events) == set(USERS)
    for e in events:
        ocsf_validator(e)
    files = sorted(p.name for p in (tmp_path / "out").rglob("*.ndjson"))
    assert files == ["part-00000.ndjson", "part-00001.ndjson"]
    assert datetime.fromisoformat(checkpoint_value()) >= before


def test_mapped_instances_are_labelled_by_batch(iam, fresh):
    from tests.support.airflow_compat import TaskInstance, create_session

    add_users(iam, [f"user{i:02d}" for i in range(15)])
    state, _ = run_sample_dag(fresh)
    assert state == "success"
    with create_session() as session:
        labels = {
            ti.rendered_map_index
            for ti in session.query(TaskInstance)
            .filter_by(dag_id=DAG_ID, task_id="enrich_users")
            .order_by(TaskInstance.start_date.desc())
            .limit(2)
        }
    assert labels == {"123456789012 · users 1–10", "123456789012 · users 11–15"}


def test_second_run_emits_exactly_the_users_created_since(iam, fresh, tmp_path):
    seed_demo_organisation(iam)
    assert run_sample_dag(fresh)[0] == "success"
    first = read_events(tmp_path / "out")
    add_users(iam, ["zoe.new", "yann.new"])
    out2 = f"file://{tmp_path}/second"
    assert run_sample_dag({**fresh, "output_uri": out2})[0] == "success"
    assert names(read_events(tmp_path / "second")) == {"zoe.new", "yann.new"}
    assert len(first) == len(USERS)


def test_failed_write_keeps_the_checkpoint_and_the_next_run_delivers(iam, fresh, tmp_path):
    add_users(iam, ["first.user"])
    assert run_sample_dag(fresh)[0] == "success"
    checkpoint = checkpoint_value()
    add_users(iam, ["second.user", "third.user"])
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    state, tasks = run_sample_dag({**fresh, "output_uri": f"file://{blocker}/out"})
    assert state == "failed"
    assert "failed" in tasks["write_files"]
    assert tasks["commit_checkpoint"] == ["failed"]  # after leaving the file state alone
    assert checkpoint_value() == checkpoint
    assert (
        last_failed_label("write_files") == "123456789012 · users 1–2"
    )  # labelled though it failed
    assert run_sample_dag({**fresh, "output_uri": f"file://{tmp_path}/retry"})[0] == "success"
    assert names(read_events(tmp_path / "retry")) == {"second.user", "third.user"}


def test_corrupt_checkpoint_fails_the_run_naming_the_variable(iam, fresh, monkeypatch, capfd):
    add_users(iam, ["someone"])
    key = legacy_checkpoint_key(DAG_ID, "aws_default")
    monkeypatch.setenv(f"AIRFLOW_VAR_{key.upper()}", "last tuesday")
    state, tasks = run_sample_dag(fresh)
    assert state == "failed" and tasks["list_users"] == ["failed"]
    output = capfd.readouterr()
    assert key in output.out + output.err
    assert "airflow variables delete" in output.out + output.err


def test_rerunning_the_same_run_replaces_its_files(iam, fresh, tmp_path):
    seed_demo_organisation(iam)
    # The run's instant, after the users exist: its window (and logged_time) ends there.
    logical_date = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    conf = {**fresh, "mode": "full"}
    assert run_sample_dag(conf, logical_date=logical_date)[0] == "success"
    first = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*.ndjson")}
    assert run_sample_dag(conf, logical_date=logical_date)[0] == "success"
    second = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*.ndjson")}
    assert second == first
    assert len(read_events(tmp_path / "out")) == len(USERS)


def test_run_summary_counts_users_events_and_iam_calls(iam, fresh, capfd):
    seed_demo_organisation(iam)
    assert run_sample_dag({**fresh, "strategy": "per_user"})[0] == "success"
    logs = "".join(capfd.readouterr())
    summary = logs[logs.index("Run summary:") :]
    figures = dict(re.findall(r"^\s*(\w+)\s{2,}(.+)$", summary, re.MULTILINE))
    assert figures["strategy"] == "per_user"
    assert figures["users_listed"] == "20" and figures["users_enriched"] == "20"
    assert figures["events_per_sink"] == "file 20"
    assert "ListMFADevices 20" in figures["iam_calls"]


def test_listing_task_persists_the_partition_for_its_console_link(iam, fresh):
    from airflow_provider_awsiam_ocsf.links.aws_console import XCOM_KEY
    from tests.support.airflow_compat import XComModel, create_session

    add_users(iam, ["someone"])
    assert run_sample_dag(fresh)[0] == "success"
    with create_session() as session:
        stored = (
            session.query(XComModel)
            .filter_by(dag_id=DAG_ID, task_id="list_users", key=XCOM_KEY)
            .all()
        )
    assert stored and {x.value for x in stored} == {"aws"}


def test_listing_links_to_the_iam_console_of_the_partition():
    from airflow_provider_awsiam_ocsf.links.aws_console import IamUsersConsoleLink

    assert IamUsersConsoleLink.url_for("aws") == "https://console.aws.amazon.com/iam/home#/users"
    assert IamUsersConsoleLink.url_for("aws-us-gov").startswith(
        "https://console.amazonaws-us-gov.com/"
    )
    assert IamUsersConsoleLink.url_for("aws-cn").startswith("https://console.amazonaws.cn/")
