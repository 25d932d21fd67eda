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


def run_backfill(
    stack,
    output_dir: Path,
    *extra: str,
    attempts: int = 3,
    dates: tuple[datetime, datetime] = (FROM, TO),
    conf: dict | None = None,
) -> None:
    """``airflow backfill create`` for ``dates`` (FROM..TO), with ``conf`` added to the run conf.

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
                dates[0].isoformat(),
                "--to-date",
                dates[1].isoformat(),
                "--dag-run-conf",
                json.dumps(
                    {"output_uri": f"file://{output_dir}", "settle_seconds": 0, **(conf or {})}
                ),
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


def wait_for_backfill(
    stack,
    started: datetime,
    intervals: list[tuple[datetime, datetime]] = INTERVALS,
    timeout: float = 150,
) -> list[dict]:
    """The backfill runs of ``intervals`` (the four of INTERVALS), finished with success after
    ``started``."""
    starts = {start for start, _ in intervals}

    def ours(run: dict) -> bool:
        return (
            run["run_type"] == "backfill"
            and datetime.fromisoformat(run["logical_date"]) in starts
            and run["end_date"] is not None
            and datetime.fromisoformat(run["end_date"]) > started
        )

    runs = stack.wait_for_dag_runs(ours, count=len(intervals), timeout=timeout)
    assert {
        (
            datetime.fromisoformat(r["data_interval_start"]),
            datetime.fromisoformat(r["data_interval_end"]),
        )
        for r in runs
    } == set(intervals)
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


# --- organisation mode: `accounts` = a list of member ids -----------------------------------------

# Other dates than the test above: a backfill skips the logical dates that already have a run.
ORG_FROM, ORG_TO = utc(2026, 4, 10, 22), utc(2026, 4, 11, 0)  # three hourly runs
ORG_INTERVALS = [
    (ORG_FROM + timedelta(hours=h), ORG_FROM + timedelta(hours=h + 1)) for h in range(3)
]
# member account name -> user -> CreateDate
ORG_USERS = {
    "Prod": {
        "prod.before": utc(2026, 4, 10, 21, 59, 59),  # before the backfill
        "prod.first": utc(2026, 4, 10, 22),
        "prod.third": utc(2026, 4, 11, 0, 59, 59, 999000),
    },
    "Dev": {  # users in the second interval only
        "dev.second": utc(2026, 4, 10, 23),
        "dev.second-late": utc(2026, 4, 10, 23, 45),
        "dev.after": utc(2026, 4, 11, 1),  # the end of the last interval: after
    },
    "Sandbox": {
        "sbx.first": utc(2026, 4, 10, 22, 30),
        "sbx.second": utc(2026, 4, 10, 23, 59, 59, 999000),
        "sbx.third": utc(2026, 4, 11, 0),
    },
}
ORG_EXPECTED = {  # member -> interval folder -> users
    "Prod": {folder(*ORG_INTERVALS[0]): {"prod.first"}, folder(*ORG_INTERVALS[2]): {"prod.third"}},
    "Dev": {folder(*ORG_INTERVALS[1]): {"dev.second", "dev.second-late"}},
    "Sandbox": {
        folder(*ORG_INTERVALS[0]): {"sbx.first"},
        folder(*ORG_INTERVALS[1]): {"sbx.second"},
        folder(*ORG_INTERVALS[2]): {"sbx.third"},
    },
}


@pytest.fixture(scope="module")
def organisation_users(airflow_stack, iam_endpoint):
    """An emptied moto holding an organisation managed by 123456789012 with members Prod, Dev and
    Sandbox, each with the member role and the users of ORG_USERS (CreateDate set in moto's
    backend); member ids by name. The management account holds one user, never read."""
    from moto.iam.models import iam_backends

    from tests.support.org_world import (
        client,
        create_organization,
        create_reader_role,
        member_client,
    )

    reset_moto(iam_endpoint)
    ids = create_organization(iam_endpoint, list(ORG_USERS))
    client(iam_endpoint, "iam").create_user(UserName="mgmt.admin")
    for name, users in ORG_USERS.items():
        create_reader_role(iam_endpoint, ids[name])
        member = member_client(iam_endpoint, ids[name])
        member.create_group(GroupName=f"{name}Team")
        for user, created in users.items():
            member.create_user(UserName=user)
            member.add_user_to_group(GroupName=f"{name}Team", UserName=user)
            iam_backends[ids[name]]["aws"].users[user].create_date = created.replace(tzinfo=None)
        listed = {u["UserName"]: u["CreateDate"] for u in member.list_users()["Users"]}
        assert listed == users, f"moto did not take {name}'s CreateDates"
    return ids


def test_backfill_with_accounts_writes_each_interval_under_each_account(
    airflow_stack, organisation_users, tmp_path, ocsf_validator
):
    """SPEC §5 and §8: a backfill over a list of member accounts writes, for each interval, the
    users each account created in it under that account's folder, and reads or writes no
    account's state."""
    stack = airflow_stack
    ids = organisation_users
    output = tmp_path / "out"
    variables_before = stack.variables()

    before = stack.latest_backfill()
    if before is not None and not before.get("completed_at"):
        stack.wait_for_backfill_completed(before["id"])  # one backfill of a DAG at a time
    started = datetime.now(UTC)
    run_backfill(
        stack,
        output,
        dates=(ORG_FROM, ORG_TO),
        conf={"accounts": [ids[name] for name in ORG_USERS], "strategy": "bulk"},
    )
    runs = wait_for_backfill(stack, started, ORG_INTERVALS, timeout=300)
    assert all(r["conf"]["accounts"] == [ids[n] for n in ORG_USERS] for r in runs)
    latest = stack.latest_backfill()
    assert latest is not None and latest["id"] != (before or {}).get("id")
    stack.wait_for_backfill_completed(latest["id"])

    # One folder per member account (the management account is not in the list), in it one
    # folder per interval that account created users in, holding exactly those users.
    assert {p.name for p in output.iterdir()} == {f"account={ids[n]}" for n in ORG_USERS}
    for name, expected in ORG_EXPECTED.items():
        account = output / f"account={ids[name]}"
        assert {p.name for p in account.iterdir()} == set(expected), (name, list(account.iterdir()))
        for interval, users in expected.items():
            files = sorted((account / interval).glob("*.ndjson"))
            events = [json.loads(line) for f in files for line in f.read_text().splitlines()]
            assert sorted(e["user"]["name"] for e in events) == sorted(users), (name, interval)
            for event in events:
                ocsf_validator(event)
                assert event["user"]["org"]["uid"] == ids[name]
                assert event["user"]["uid"].split(":")[4] == ids[name]
                created = ORG_USERS[name][event["user"]["name"]]
                assert event["time"] == int(created.timestamp() * 1000)
                assert [g["name"] for g in event["user"]["groups"]] == [f"{name}Team"]

    # Backfills read and write no state: no account's state Variable appeared or changed.
    after = stack.variables()
    assert after == variables_before
    assert not [key for key in after if any(ids[n] in key for n in ORG_USERS)]
