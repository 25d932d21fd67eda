"""What the IAM inventory page reads from a state and shows of it (pure: literal states and runs).

The page's end-to-end behaviour (a real pipeline, a real metadata DB, access control) is in
``tests/integration/test_inventory_page.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow_provider_awsiam_ocsf.outlet_extra import delivery_extra
from airflow_provider_awsiam_ocsf.plugins.overview import (
    FailedRun,
    Links,
    RunInfo,
    dag_inventory,
    read_states,
    scrub,
)
from airflow_provider_awsiam_ocsf.state import HeldUser, SinkState, commit, rebase
from airflow_provider_awsiam_ocsf.state_store import (
    StateKey,
    identity_center_state_key,
    parse_state_key,
    state_key,
)

DAG = "aws_iam_users_ocsf"
A, B = "111111111111", "222222222222"
NOW = datetime(2026, 12, 2, 18, tzinfo=UTC)


def held(name: str, complete: bool = True) -> str:
    return HeldUser(fingerprint="0123456789ab", complete=complete, tail=name).encode()


def test_a_state_from_the_previous_release_reads_with_no_run_and_no_tombstones():
    old = '{"version":1,"checkpoint":"2026-11-30T10:00:00Z","users":{"AIDA1":"0123456789ab:x"}}'
    state = SinkState.from_json(old)
    assert state.run_id is None and state.tombstones is None
    assert state.tombstones_since(NOW - timedelta(days=7)) == 0
    # and a state with nothing new to say is written exactly as before
    assert SinkState.from_json(state.to_json()).to_json() == state.to_json()
    assert "run_id" not in state.to_json() and "tombstones" not in state.to_json()


def test_commit_records_its_run_and_counts_tombstones_per_hour_for_seven_days():
    state = SinkState(users={"AIDA1": held("a")})
    for day in range(10):  # one deletion a day, the last one today
        state = commit(
            state,
            {},
            checkpoint=NOW - timedelta(days=9 - day),
            partition="aws",
            account=A,
            run_id=f"run{day}",
            tombstones=1,
        )
    assert state.run_id == "run9"
    # only the buckets of the last seven days (and the hour seven days ago) are kept
    assert len(state.tombstones or {}) == 8
    assert state.tombstones_since(NOW - timedelta(days=7)) == 8
    assert state.tombstones_since(NOW - timedelta(hours=1)) == 1
    assert SinkState.from_json(state.to_json()) == state


def test_a_concurrent_commit_keeps_the_other_runs_tombstones():
    base = SinkState(tombstones={"2026-12-02T10": 2})
    now = SinkState(tombstones={"2026-12-02T10": 1, "2026-12-02T11": 3})
    assert rebase(base, now, []).tombstones == {"2026-12-02T10": 2, "2026-12-02T11": 3}


def test_incomplete_users_are_counted():
    state = SinkState(users={"AIDA1": held("a"), "AIDA2": held("b", complete=False)})
    assert state.incomplete_users() == 1


def test_state_keys_are_parsed_from_the_end_so_a_connection_id_may_hold_double_underscores():
    key = state_key(DAG, "aws__prod", A, "sekoia")
    parts = parse_state_key(key, DAG)
    assert parts is not None
    assert (parts.aws_conn_id, parts.account, parts.sink) == ("aws__prod", A, "sekoia")
    assert parse_state_key(f"{DAG}__checkpoint__aws_default", DAG) is None
    assert parse_state_key(key, "another_dag") is None


def test_reasons_never_show_arns_beyond_the_account_nor_key_ids():
    reason = scrub(
        "AccessDenied: User: arn:aws:sts::123456789012:assumed-role/reader/airflow is not "
        "authorized to perform sts:AssumeRole on "
        "arn:aws:iam::210987654321:role/iam-inventory-reader "
        "(key AKIAIOSFODNN7EXAMPLE, user AIDAJQABLZS4A3QDU576Q)"
    )
    assert "assumed-role" not in reason and "iam-inventory-reader" not in reason
    assert "arn:aws:iam::210987654321:…" in reason
    assert "AKIA" not in reason and "AIDA" not in reason
    assert len(scrub("x" * 1000)) <= 240


def run(run_id: str, hours_ago: float, state: str = "success", kind: str = "manual") -> RunInfo:
    when = NOW - timedelta(hours=hours_ago)
    return RunInfo(run_id=run_id, run_type=kind, state=state, run_after=when, end_date=when)


def states(*rows: tuple[str, str, SinkState]) -> list:
    return read_states(
        DAG, [(state_key(DAG, "aws_default", a, s), st.to_json()) for a, s, st in rows]
    )


def test_rows_per_account_and_sink_with_counts_and_links():
    good = SinkState(
        checkpoint=NOW - timedelta(hours=1),
        users={"AIDA1": held("a"), "AIDA2": held("b", complete=False)},
        run_id="manual__1",
        tombstones={(NOW - timedelta(hours=2)).strftime("%Y-%m-%dT%H"): 3, "2026-11-01T00": 9},
    )
    section = dag_inventory(
        DAG,
        states((A, "file", good), (A, "sekoia", good), (B, "file", good)),
        {"manual__1": run("manual__1", 1)},
        [],
        NOW,
        Links("/airflow"),
    )
    assert [(r.account, r.sink) for r in section.rows] == [(A, "file"), (A, "sekoia"), (B, "file")]
    row = section.rows[0]
    assert (row.users_held, row.incomplete_users, row.tombstones_7d) == (2, 1, 3)
    assert row.status == "ok" and row.last_failure is None
    assert row.last_success is not None
    assert row.last_success.url == "/airflow/dags/aws_iam_users_ocsf/runs/manual__1"
    assert row.last_success.task_url == (
        "/airflow/dags/aws_iam_users_ocsf/runs/manual__1/tasks/commit_checkpoint"
    )
    assert section.users_held == {"file": 4, "sekoia": 2} and section.accounts == 2


def test_a_newer_failed_run_makes_the_row_failing_with_its_reason_and_task():
    good = SinkState(checkpoint=NOW - timedelta(hours=3), run_id="old")
    summary = {
        "accounts": {
            A: {
                "state": {
                    "file": "committed …",
                    "sekoia": "left as it was: 0 of 1 batches "
                    "accepted; the next run sends what this one could not",
                }
            },
            B: {"error": "AccessDenied: not authorized on arn:aws:iam::222222222222:role/r"},
        }
    }
    section = dag_inventory(
        DAG,
        states((A, "file", good), (A, "sekoia", good)),
        {"old": run("old", 3)},
        [FailedRun(run("bad", 1, "failed"), summary, ("push_to_sekoia",))],
        NOW,
        Links(),
    )
    by = {(r.account, r.sink): r for r in section.rows}
    assert by[A, "file"].status == "ok" and by[A, "file"].last_failure is None
    failing = by[A, "sekoia"]
    assert failing.status == "failing" and failing.last_failure is not None
    assert failing.last_failure.reason == "not delivered: 0 of 1 batches accepted"
    assert failing.last_failure.task_url == (
        "/dags/aws_iam_users_ocsf/runs/bad/tasks/push_to_sekoia/mapped"
    )
    # an account that was never read gets a row of its own, for every sink
    unread = by[B, "*"]
    assert unread.status == "failing" and unread.users_held is None
    assert unread.last_failure is not None
    assert unread.last_failure.reason.startswith("not read: AccessDenied")
    assert "role/r" not in unread.last_failure.reason
    assert section.failing == 2


def test_an_older_failure_is_shown_but_the_row_is_ok_and_a_corrupt_state_is_flagged():
    good = SinkState(checkpoint=NOW, run_id="new")
    rows = states((A, "file", good))
    rows += read_states(DAG, [(state_key(DAG, "aws_default", B, "file"), "{not json")])
    section = dag_inventory(
        DAG,
        rows,
        {"new": run("new", 0)},
        [FailedRun(run("early", 5, "failed"), None, ("resolve_accounts",))],
        NOW,
        Links(),
        last_event_run=run("asset_triggered__x", 0.1, kind="asset_triggered"),
    )
    by = {(r.account, r.sink): r for r in section.rows}
    assert by[A, "file"].status == "ok"
    assert by[A, "file"].last_failure is not None
    assert "failed: resolve_accounts" in by[A, "file"].last_failure.reason
    assert by[B, "file"].status == "unreadable state"
    assert "airflow variables delete" in (by[B, "file"].state_error or "")
    assert section.last_event_run is not None
    assert section.last_event_run.run_type == "asset_triggered"


def test_identity_center_users_have_rows_of_their_own_failing_only_with_their_task():
    iam = SinkState(checkpoint=NOW - timedelta(hours=2), users={"AIDA1": held("a")}, run_id="r1")
    center = SinkState(
        checkpoint=NOW - timedelta(hours=2),
        users={"u-1": held("ann"), "u-2": held("bob"), "u-3": held("cy")},
        run_id="r1",
    )
    center_key = identity_center_state_key(DAG, "aws_default", A, "file")
    assert parse_state_key(center_key, DAG) == StateKey(
        DAG, "aws_default", A, "file", kind="identity_center"
    )
    rows = states((A, "file", iam)) + read_states(DAG, [(center_key, center.to_json())])
    summary = {"accounts": {A: {"state": {"file": "committed …"}}}}
    section = dag_inventory(
        DAG,
        rows,
        {"r1": run("r1", 2)},
        [FailedRun(run("bad", 1, "failed"), summary, ("inventory_identity_center",))],
        NOW,
        Links(),
    )
    by = {(r.account, r.identities, r.sink): r for r in section.rows}
    assert list(by) == [(A, "iam_users", "file"), (A, "identity_center", "file")]
    assert by[A, "iam_users", "file"].status == "ok"
    assert by[A, "iam_users", "file"].last_failure is None
    center_row = by[A, "identity_center", "file"]
    assert center_row.users_held == 3 and center_row.status == "failing"
    assert center_row.last_success is not None
    assert center_row.last_success.task_id == "inventory_identity_center"
    assert center_row.last_failure is not None
    assert center_row.last_failure.task_id == "inventory_identity_center"
    assert section.users_held == {"file": 4} and section.accounts == 1


def test_the_asset_event_extra_counts_events_and_tombstones_per_account():
    events = [
        {"user": {"name": "a", "org": {"uid": A}}},
        {"user": {"name": "b", "org": {"uid": A}, "ldap_person": {"deleted_time": 1}}},
        {"user": {"name": "c", "org": {"uid": B}}},
    ]
    assert delivery_extra("file", events) == {
        "sink": "file",
        "events": 3,
        "accounts": {A: {"events": 2, "tombstones": 1}, B: {"events": 1, "tombstones": 0}},
    }
    assert delivery_extra("sekoia", []) == {"sink": "sekoia", "events": 0, "accounts": {}}


def test_the_page_templates_ship_with_the_package():
    import tomllib

    from tests.conftest import REPO

    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "plugins/templates/*" in setuptools["package-data"]["airflow_provider_awsiam_ocsf"]
    templates = REPO / "airflow_provider_awsiam_ocsf" / "plugins" / "templates"
    assert {p.name for p in templates.iterdir()} >= {"inventory.html", "sign_in.html"}
