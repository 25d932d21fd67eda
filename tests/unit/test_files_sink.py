"""Which connection the ``file`` sink's folder is written through."""

from __future__ import annotations

import pytest

from airflow_provider_awsiam_ocsf.sinks.files import output_folder


@pytest.mark.parametrize(
    ("uri", "conn_id"),
    [
        ("s3://bucket/prefix", "aws_default"),  # the DAG's aws connection
        ("s3a://bucket/prefix", "aws_default"),
        ("s3://aws_output@bucket/prefix", "aws_output"),  # the URI names its own
        ("file:///var/data/ocsf", None),  # local files need none
        ("gs://bucket/prefix", None),  # not an aws store: ObjectStoragePath's own default
    ],
)
def test_an_s3_folder_is_written_through_the_dags_aws_connection_unless_it_names_one(uri, conn_id):
    folder = output_folder(uri, "aws_default")
    assert folder.conn_id == conn_id
    assert (folder / "part-00000.ndjson").conn_id == conn_id  # kept by the parts below it
