"""Which connection the ``file`` sink's folder is written through."""

from __future__ import annotations

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
