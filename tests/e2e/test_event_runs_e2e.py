"""Event runs end to end: moto's SQS and EventBridge (a rule in us-east-1 with the README's pattern,
the queue as its target), CloudTrail-shaped events put on the bus (moto's IAM emits none), and a
real api-server, scheduler, dag-processor and triggerer (LocalExecutor, SQLite) running the sample
DAG with event runs switched on by ``AIRFLOW__AWSIAM_OCSF__EVENTS_QUEUE_URL``.

One stack, several scenarios in order: a periodic run (the state to merge into); IAM
changes and their events (changed, new, deleted, group-reached users, plus noise); a user created,
put in a group and given a key within two seconds (apache/airflow#56050); noise alone; a periodic
run again, which finds nothing left to send. Every wait polls for its outcome.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_awsiam_ocsf.state_store import state_key
from tests.data.cloudtrail_iam import ACCOUNT, cloudtrail
from tests.support.airflow_stack import (
    DAG_ID,
    TERMINAL_RUN_STATES,
    reset_moto,
)
from tests.support.event_bus import event_queue, put_records, start_event_stack
from tests.support.iam_world import add_users
from tests.support.org_world import client

pytestmark = [pytest.mark.e2e, pytest.mark.both_ends]

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
STAR = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
WAIT = 150  # seconds: an event's latency goal is 60 s at p95; a run of the whole DAG adds ~30 s


class Sink:
    """The sample DAG's file sink in the stack's home (the DAG's default ``output_uri``)."""

    def __init__(self, home: Path) -> None:
        self.root = home / "data" / DAG_ID / f"account={ACCOUNT}"

    def files(self) -> set[Path]:
        return set(self.root.rglob("*.ndjson")) if self.root.exists() else set()

    @staticmethod
    def events(files) -> list[dict]:
        return [json.loads(line) for f in sorted(files) for line in f.read_text().splitlines()]


def delivered(events: list[dict]) -> dict[str, list[dict]]:
    by_name: dict[str, list[dict]] = {}
    for event in events:
        by_name.setdefault(event["user"]["name"], []).append(event)
    return by_name


def is_tombstone(event: dict) -> bool:
    return "deleted_time" in event["user"].get("ldap_person", {})


@pytest.fixture(scope="module")
def events_stack(iam_endpoint, tmp_path_factory):
    """moto emptied, the queue and rule, six users, then the stack with event runs on."""
    reset_moto(iam_endpoint)
    iam = client(iam_endpoint, "iam")
    iam.create_group(GroupName="Ops")
    add_users(iam, ["alice"], groups=["Ops"])
    add_users(iam, ["bob", "carol", "dave", "quiet"])
    iam.create_access_key(UserName="carol")
    url = event_queue(iam_endpoint)
    stack = start_event_stack(tmp_path_factory.mktemp("airflow-events"), iam_endpoint, url)
    try:
        yield stack, iam, url
    finally:
        stack.stop()


def runs_settled(stack, count_before: int = 0):
    """All runs finished, at least ``count_before`` + 1 of them asset-triggered; else None."""
    runs = stack.dag_runs()
    if any(r["state"] not in TERMINAL_RUN_STATES for r in runs):
        return None
    if sum(r["run_type"] == "asset_triggered" for r in runs) <= count_before:
        return None
    return runs


def assert_all_succeeded(stack) -> list[dict]:
    runs = stack.dag_runs()
    failed = [r["dag_run_id"] for r in runs if r["state"] != "success"]
    assert not failed, f"runs failed: {failed}\n{stack.diagnostics()}"
    return runs


def assert_event_runs_updated_the_files_asset(stack) -> None:
    (files_asset,) = [
        a
        for a in stack.api("GET", "/assets", params={"limit": 100}).json()["assets"]
        if a["name"] == f"{DAG_ID}_files"
    ]
    answer = stack.api("GET", "/assets/events", params={"asset_id": files_asset["id"]})
    assert any(
        e["source_task_id"] == "refresh_from_events" and e["extra"].get("sink") == "file"
        for e in answer.json()["asset_events"]
    ), answer.text


def test_iam_changes_reach_the_file_sink_through_sqs_eventbridge_and_a_triggerer(
    events_stack, iam_endpoint
):
    stack, iam, url = events_stack
    sink = Sink(stack.home)
    sqs = client(iam_endpoint, "sqs")

    # 1. The scheduled run of the last full hour (no user created in it: nothing sent), then a
    #    periodic run of now (manual): every user, and the state event runs merge into.
    stack.wait_for_dag_runs(lambda r: r["run_type"] == "scheduled", 1, WAIT)
    run_id = stack.trigger({})
    stack.wait_for_dag_runs(lambda r: r["dag_run_id"] == run_id, 1, WAIT)
    baseline = sink.files()
    assert {"alice", "bob", "carol", "dave", "quiet"} <= set(delivered(sink.events(baseline)))
    key = state_key(DAG_ID, "aws_default", ACCOUNT, "file")
    first = json.loads(stack.variables()[key])
    uid = {u["UserName"]: u["UserId"] for u in iam.list_users()["Users"]}

    # 2. Changes and their events; noise the rule lets through and noise sent to the queue.
    iam.attach_user_policy(UserName="bob", PolicyArn=ADMIN)
    iam.create_user(UserName="frank")
    iam.create_access_key(UserName="frank")
    for access_key in iam.list_access_keys(UserName="carol")["AccessKeyMetadata"]:
        iam.delete_access_key(UserName="carol", AccessKeyId=access_key["AccessKeyId"])
    iam.delete_user(UserName="carol")
    iam.put_group_policy(GroupName="Ops", PolicyName="star", PolicyDocument=STAR)
    put_records(
        iam_endpoint,
        cloudtrail("AttachUserPolicy", {"userName": "bob", "policyArn": ADMIN}),
        cloudtrail("CreateUser", {"userName": "frank"}),
        cloudtrail("CreateAccessKey", {"userName": "frank"}),
        cloudtrail("DeleteAccessKey", {"userName": "carol", "accessKeyId": "AKIA0"}),
        cloudtrail("DeleteUser", {"userName": "carol"}),
        cloudtrail("PutGroupPolicy", {"groupName": "Ops", "policyName": "star"}),
        cloudtrail("UpdateLoginProfile", {"userName": "dave"}),  # read, nothing changed
        cloudtrail("CreateUser", {"userName": "eve"}, account="210987654321"),  # not ours
        cloudtrail("TagUser", {"userName": "quiet"}, errorCode="AccessDenied"),  # failed call
        cloudtrail("GetUser", {"userName": "quiet"}, read_only=True),  # the rule drops it
    )
    sqs.send_message(QueueUrl=url, MessageBody="not JSON at all")
    expected = {"alice": False, "bob": False, "frank": False, "carol": True}

    def changes_delivered():
        got = delivered(sink.events(sink.files() - baseline))
        return got if set(got) >= set(expected) else None

    stack.wait_until("the changed users in the file sink", changes_delivered, WAIT)
    stack.wait_until("the event runs to finish", lambda: runs_settled(stack), WAIT)
    assert_all_succeeded(stack)
    after_changes = sink.files()
    got = delivered(sink.events(after_changes - baseline))
    assert {name: [is_tombstone(e) for e in events] for name, events in got.items()} == {
        name: [tombstone] for name, tombstone in expected.items()
    }  # exactly the changed users, each once; dave, quiet and eve untouched
    assert len(got["frank"][0]["user"]["programmatic_credentials"]) == 1

    # Event runs update the file sink's asset (downstream DAGs see their deliveries), on 3.0.6 too
    # since the alias event's extra is flat (3.0 hashes its values; it recorded none when nested).
    assert_event_runs_updated_the_files_asset(stack)

    # 3. apache/airflow#56050: three changes of one user within two seconds, each with its event
    #    as it happens; the sink must end up with the user as IAM has it after the last one.
    iam.create_user(UserName="grace")
    put_records(iam_endpoint, cloudtrail("CreateUser", {"userName": "grace"}))
    iam.add_user_to_group(UserName="grace", GroupName="Ops")
    put_records(
        iam_endpoint, cloudtrail("AddUserToGroup", {"userName": "grace", "groupName": "Ops"})
    )
    iam.create_access_key(UserName="grace")
    put_records(iam_endpoint, cloudtrail("CreateAccessKey", {"userName": "grace"}))

    def grace_complete():
        events = delivered(sink.events(sink.files() - after_changes)).get("grace", [])
        if not events:
            return None
        last = max(events, key=lambda e: e["time"])["user"]
        groups = {g["name"] for g in last.get("groups") or []}
        return groups == {"Ops"} and len(last.get("programmatic_credentials") or []) == 1

    stack.wait_until("grace with her group and key in the file sink", grace_complete, WAIT)
    stack.wait_until("the event runs to finish", lambda: runs_settled(stack), WAIT)
    assert_all_succeeded(stack)
    assert set(delivered(sink.events(sink.files() - after_changes))) == {"grace"}

    # 4. Noise alone starts a run that succeeds and sends nothing.
    before_noise = sink.files()
    asset_runs = sum(r["run_type"] == "asset_triggered" for r in stack.dag_runs())
    sqs.send_message(QueueUrl=url, MessageBody="{")
    put_records(
        iam_endpoint, cloudtrail("CreateUser", {"userName": "mallory"}, account="210987654321")
    )
    stack.wait_until("a run of the noise to finish", lambda: runs_settled(stack, asset_runs), WAIT)
    assert_all_succeeded(stack)
    assert sink.files() == before_noise

    # The event runs merged into the periodic run's state: carol gone, frank and grace in, the
    # others' entries and the created-since checkpoint as the periodic run left them.
    merged = json.loads(stack.variables()[key])
    users = {u["UserName"]: u["UserId"] for u in iam.list_users()["Users"]}
    assert set(merged["users"]) == set(first["users"]) - {uid["carol"]} | {
        users["frank"],
        users["grace"],
    }
    assert merged["users"][uid["quiet"]] == first["users"][uid["quiet"]]
    assert merged["checkpoint"] == first["checkpoint"]

    # 5. A periodic run (manual) finds every user already delivered: no file.
    run_id = stack.trigger({})
    stack.wait_for_dag_runs(lambda r: r["dag_run_id"] == run_id, 1, WAIT)
    assert sink.files() == before_noise
