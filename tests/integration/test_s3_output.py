"""The ``file`` sink on S3: the sample DAG (real Airflow, dag.test) writes to moto's S3 through the
``aws`` connection and its ``endpoint_url`` (moto's server serves S3 on the IAM endpoint)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devtools.demo_org import USERS, seed_demo_organisation
from tests.support.dag_runs import ACCOUNT, forget_state, run_sample_dag
from tests.support.iam_world import add_users, restricted_reader
from tests.support.org_world import client

BUCKET = "ocsf-inventory"
PREFIX = "aws-iam/users"
CONF = {"batch_size": 10, "settle_seconds": 0, "mode": "full"}


@pytest.fixture
def s3(iam, iam_endpoint, airflow_home):
    """A boto3 S3 client on the moto server ``aws_default`` points at (emptied by ``iam``), with
    the bucket created; no state of ``aws_default`` before or after."""
    s3_client = client(iam_endpoint, "s3")
    s3_client.create_bucket(Bucket=BUCKET)
    forget_state()
    yield s3_client
    forget_state()


def bucket_objects(s3) -> dict[str, bytes]:
    """Every object of the bucket, by key."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return {key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}


def folder_files(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (temporary ones included), by relative path."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_s3_output_is_the_local_output_byte_for_byte(iam, s3, tmp_path, ocsf_validator):
    seed_demo_organisation(iam)
    # One instant for both runs, after the users exist: same run id (names), same logged_time.
    instant = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    to_s3 = {**CONF, "output_uri": f"s3://{BUCKET}/{PREFIX}"}
    assert run_sample_dag(to_s3, logical_date=instant)[0] == "success"
    forget_state()  # the second run starts from nothing too
    local = tmp_path / "local"
    assert run_sample_dag({**CONF, "output_uri": f"file://{local}"}, logical_date=instant)[0] == (
        "success"
    )

    on_disk = folder_files(local)
    assert sorted(Path(p).name for p in on_disk) == ["part-00000.ndjson", "part-00001.ndjson"]
    events = [json.loads(line) for data in on_disk.values() for line in data.splitlines()]
    assert sorted(e["user"]["name"] for e in events) == sorted(USERS)
    for event in events:
        ocsf_validator(event)

    on_s3 = bucket_objects(s3)
    assert all(key.startswith(f"{PREFIX}/account={ACCOUNT}/run=") for key in on_s3), list(on_s3)
    assert {key.removeprefix(f"{PREFIX}/"): data for key, data in on_s3.items()} == on_disk


def test_writing_to_s3_needs_only_put_object_on_the_prefix(iam, s3, iam_endpoint, monkeypatch):
    add_users(iam, ["someone"])
    put_on_prefix = {
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/{PREFIX}/*",
    }
    with restricted_reader(
        iam,
        iam_endpoint,
        monkeypatch,
        denied=[],
        conn_id="aws_writer",
        also_allowed=(put_on_prefix,),
    ) as conn_id:
        forget_state(conn_id)
        try:
            conf = {**CONF, "aws_conn_id": conn_id}
            allowed = run_sample_dag({**conf, "output_uri": f"s3://{BUCKET}/{PREFIX}"})
            elsewhere = run_sample_dag({**conf, "output_uri": f"s3://{BUCKET}/elsewhere"})
        finally:
            forget_state(conn_id)

    assert allowed[0] == "success"
    # The policy is enforced: outside the prefix the same connection is refused.
    assert elsewhere[0] == "failed" and elsewhere[1]["write_files"] == ["failed"]
    written = bucket_objects(s3)
    assert [key.rsplit("/", 1)[-1] for key in written] == ["part-00000.ndjson"]
    users = sorted(
        json.loads(line)["user"]["name"] for line in next(iter(written.values())).splitlines()
    )
    assert users == ["ocsf-reader", "someone"]
