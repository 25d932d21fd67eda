"""Backfill end to end: ``airflow backfill create`` on a real scheduler + api-server (SQLite,
LocalExecutor) against moto's IAM server over HTTP.

Users are created across three days at chosen instants; a backfill of four hourly intervals
(2026-03-01T23:00 → 2026-03-02T03:00, the last one empty) must write each interval's users, and
only them, to ``account=<id>/interval=<start>_<end>``, never create a state Variable, and a
reprocessing backfill must rewrite byte-identical files.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from airflow_provider_awsiam_ocsf.state_store import legacy_checkpoint_key
from tests.support.airflow_stack import DAG_ID, reset_moto, utc

pytestmark = pytest.mark.e2e

ACCOUNT = "123456789012"
CHECKPOINT = legacy_checkpoint_key(DAG_ID, "aws_default")
FROM, TO = utc(2026, 3, 1, 23), utc(2026, 3, 2, 2)  # logical dates = interval starts, inclusive

# user -> CreateDate
CREATED = {
    "day1.morning": utc(2026, 3, 1, 9, 15),  # before the backfill
    "day1.before": utc(2026, 3, 1, 22, 59, 59, 999000),  # just before
    "day1.on-the-hour": utc(2026, 3, 1, 23),  # interval starts are inclusive
    "day1.night": utc(2026, 3, 1, 23, 42, 10),
    "day2.midnight": utc(2026, 3, 2, 0),  # interval ends are exclusive
    "day2.small-hours": utc(2026, 3, 2, 0, 59, 59, 999000),
    "day2.one-thirty": utc(2026, 3, 2, 1, 30),
    "day2.three": utc(2026, 3, 2, 3),  # the end of the last (empty) interval: after
    "day3.morning": utc(2026, 3, 3, 8, 5),
}
INTERVALS = [(FROM + timedelta(hours=h), FROM + timedelta(hours=h + 1)) for h in range(4)]


def folder(start: datetime, end: datetime) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    return f"interval={start.strftime(fmt)}_{end.strftime(fmt)}"


EXPECTED = {
    folder(*INTERVALS[0]): {"day1.on-the-hour", "day1.night"},
    folder(*INTERVALS[1]): {"day2.midnight", "day2.small-hours"},
    folder(*INTERVALS[2]): {"day2.one-thirty"},
    # INTERVALS[3] holds nobody: no folder at all
}


@pytest.fixture(scope="module")
def seeded_users(airflow_stack, iam_endpoint):
    """The users of CREATED on an emptied moto, their CreateDate set in moto's backend."""
    from moto.iam.models import iam_backends

    from devtools.local import iam_client

    reset_moto(iam_endpoint)
    iam = iam_client(iam_endpoint)
    iam.create_group(GroupName="Backfilled")
    for name in CREATED:
        iam.create_user(UserName=name)
        iam.add_user_to_group(GroupName="Backfilled", UserName=name)
    users = iam_backends[ACCOUNT]["aws"].users
    for name, created in CREATED.items():
        users[name].create_date = created.replace(tzinfo=None)  # moto keeps naive UTC
    listed = {u["UserName"]: u["CreateDate"] for u in iam.list_users()["Users"]}
    assert listed == CREATED, "moto did not take the chosen CreateDates"
    return CREATED


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file below root (hidden temporaries included): relative path -> (bytes, mtime_ns)."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run_backfill(stack, output_dir: Path, *extra: str, attempts: int = 3) -> None:
    """``airflow backfill create`` for FROM..TO.

    On SQLite, creating a backfill while the scheduler writes can fail with "database is locked"
    (a transaction upgrading its read lock to a write lock does not wait). When the lock comes
    after the backfill row was committed, cancel that partial backfill (through the REST API, as
    a user would); when it comes before, nothing was made. Then create it again: runs it already
    made are skipped or, with ``--reprocess-behavior completed``, redone.
    """
    before = stack.latest_backfill()
    for attempt in range(1, attempts + 1):
        try:
            stack.cli(
                "backfill",
                "create",
                "--dag-id",
                DAG_ID,
                "--from-date",
                FROM.isoformat(),
                "--to-date",
                TO.isoformat(),
                "--dag-run-conf",
                json.dumps({"output_uri": f"file://{output_dir}", "settle_seconds": 0}),
                *extra,
            )
            return
        except AssertionError as error:
            if "database is locked" not in str(error) or attempt == attempts:
                raise
            partial = stack.latest_backfill()
            if partial is None or partial["id"] == (before or {}).get("id"):
                print(f"backfill create: database locked (try {attempt}) before any backfill row")
                continue
            print(f"backfill create: database locked (try {attempt}); cancel {partial['id']}")
            if not partial.get("completed_at"):
                cancelled = stack.api("PUT", f"/backfills/{partial['id']}/cancel")
                assert cancelled.status_code in (200, 409), cancelled.text


def wait_for_backfill(stack, started: datetime) -> list[dict]:
    """The four backfill runs of INTERVALS, finished with success after ``started``."""
    starts = {start for start, _ in INTERVALS}

    def ours(run: dict) -> bool:
        return (
            run["run_type"] == "backfill"
            and datetime.fromisoformat(run["logical_date"]) in starts
            and run["end_date"] is not None
            and datetime.fromisoformat(run["end_date"]) > started
        )

    runs = stack.wait_for_dag_runs(ours, count=len(INTERVALS), timeout=150)
    assert {
        (
            datetime.fromisoformat(r["data_interval_start"]),
            datetime.fromisoformat(r["data_interval_end"]),
        )
        for r in runs
    } == set(INTERVALS)
    return runs


def test_backfill_writes_each_interval_and_reprocessing_is_identical(
    airflow_stack, seeded_users, tmp_path, ocsf_validator
):
    stack = airflow_stack
    output = tmp_path / "out"

    variables_before = stack.variables()
    started = datetime.now(UTC)
    run_backfill(stack, output)
    runs = wait_for_backfill(stack, started)
    assert all(r["conf"]["output_uri"] == f"file://{output}" for r in runs)

    # Each interval's folder (in the account's) holds exactly its users; the empty interval
    # wrote nothing.
    assert [p.name for p in output.iterdir()] == ["account=123456789012"]
    account = output / "account=123456789012"
    folders = {p.name for p in account.iterdir()}
    assert folders == set(EXPECTED), folders
    for name, users in EXPECTED.items():
        files = sorted((account / name).iterdir())
        assert [f.name for f in files] == ["part-00000.ndjson"], files
        events = [json.loads(line) for line in files[0].read_text().splitlines()]
        assert {e["user"]["name"] for e in events} == users
        assert len(events) == len(users)
        for event in events:
            ocsf_validator(event)
            created = seeded_users[event["user"]["name"]]
            assert event["time"] == int(created.timestamp() * 1000)
            assert [g["name"] for g in event["user"]["groups"]] == ["Backfilled"]

    # Backfills never create nor move the checkpoint (nor any other Variable).
    response = stack.api("GET", f"/variables/{CHECKPOINT}")
    assert response.status_code == 404, response.text
    assert stack.variables() == variables_before

    # Reprocessing the completed runs rewrites the same bytes (files replaced, not appended).
    first = snapshot(output)
    latest = stack.latest_backfill()
    assert latest is not None, "no backfill was created"
    stack.wait_for_backfill_completed(latest["id"])
    started = datetime.now(UTC)
    run_backfill(stack, output, "--reprocess-behavior", "completed")
    wait_for_backfill(stack, started)
    second = snapshot(output)
    assert sorted(second) == sorted(first)
    for path, (data, mtime) in first.items():
        assert second[path][0] == data, f"{path} changed on reprocessing"
        assert second[path][1] != mtime, f"{path} was not rewritten by the reprocessing backfill"
    assert stack.api("GET", f"/variables/{CHECKPOINT}").status_code == 404
    assert stack.variables() == variables_before
