"""Where the ``file`` sink writes: a folder per DAG, through which connection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_awsiam_ocsf.sinks.ndjson_files import conn_id_of, output_folder

# Connection ids no other test uses: a path with a conn_id builds that connection's filesystem at
# once and Airflow caches it per process (as "s3-<conn_id>"), here without the connection defined.
DAGS_CONN, URIS_CONN = "aws_unit_dag", "aws_unit_output"


@pytest.mark.parametrize(
    ("uri", "conn_id"),
    [
        ("s3://bucket/prefix", DAGS_CONN),  # the DAG's aws connection
        ("s3a://bucket/prefix", DAGS_CONN),
        (f"s3://{URIS_CONN}@bucket/prefix", URIS_CONN),  # the URI names its own
        ("file:///var/data/ocsf", None),  # local files need none
        ("gs://bucket/prefix", None),  # not an aws store: ObjectStoragePath's own default
    ],
)
def test_an_s3_folder_is_written_through_the_dags_aws_connection_unless_it_names_one(uri, conn_id):
    folder = output_folder(uri, DAGS_CONN)
    assert conn_id_of(folder) == conn_id
    part = folder / "part-00000.ndjson"
    assert conn_id_of(part) == conn_id  # kept by the parts below it


def test_two_dags_on_one_account_and_schedule_write_to_folders_of_their_own(tmp_path, monkeypatch):
    """Scheduled runs of two DAGs have equal run ids: with a shared default folder the second
    DAG's parts replaced the first's."""
    from types import SimpleNamespace

    from airflow.providers.common.compat.sdk import DAG

    from airflow_provider_awsiam_ocsf.operators.write_files import WriteOcsfFilesOperator

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    run = SimpleNamespace(run_id="scheduled__2026-12-01T10:00:00+00:00", run_type="scheduled")
    batch = {"account": "123456789012", "index": 0, "label": "123456789012 · users 1–1"}
    written = {}
    for dag_id in ("aws_iam_users_ocsf", "aws_iam_users_ocsf_prod"):
        with DAG(dag_id, schedule=None):
            sink = WriteOcsfFilesOperator(task_id="write_files", batch=batch)
        sink.batch = batch  # as rendered
        part = {"account": "123456789012", "index": 0, "batch": {}}
        report = sink.deliver({"dag_run": run}, part, [{"dag": dag_id}])
        written[dag_id] = report["uri"]

    assert written["aws_iam_users_ocsf"].startswith(f"file://{tmp_path}/data/aws_iam_users_ocsf/")
    assert written["aws_iam_users_ocsf_prod"].startswith(
        f"file://{tmp_path}/data/aws_iam_users_ocsf_prod/"
    )
    for dag_id, uri in written.items():  # neither replaced the other
        assert json.loads(Path(uri.removeprefix("file://")).read_text()) == {"dag": dag_id}


def test_an_s3_folder_without_s3fs_says_which_extra_to_install(monkeypatch):
    import sys

    from airflow_provider_awsiam_ocsf.errors import S3SupportMissingError

    monkeypatch.setitem(sys.modules, "s3fs", None)  # as if not installed
    with pytest.raises(S3SupportMissingError, match=r"airflow-provider-awsiam-ocsf\[s3\]"):
        output_folder("s3://bucket/prefix", DAGS_CONN)
