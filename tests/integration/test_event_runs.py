"""Event runs on real parts: an event-driven DAG's periodic run (dag.test), IAM changes on moto's
IAM server, then refresh_from_events in an asset-triggered run whose triggering asset events carry
the SQS trigger's payload (Airflow's own accessor), state in the metadata DB's Variables; then a
periodic run again, which finds nothing left to send."""

from __future__ import annotations

import json

import pytest

from airflow_provider_awsiam_ocsf.state_store import state_key, state_key_prefix
from tests.data.cloudtrail_iam import ACCOUNT, cloudtrail
from tests.support.dag_runs import read_events
from tests.support.iam_world import add_users

DAG_ID = "aws_iam_users_ocsf_events"
QUEUE = "http://127.0.0.1:5000/123456789012/iam-events"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
STAR = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def forget(conn_id: str = "aws_default") -> None:
    from tests.support.airflow_compat import Variable, create_session

    with create_session() as session:
        keys = [
            v.key
            for v in session.query(Variable).filter(
                Variable.key.like(f"{state_key_prefix(DAG_ID, conn_id)}%")
            )
        ]
    for key in keys:
        Variable.delete(key)


def held(sink: str = "file") -> dict:
    from tests.support.airflow_compat import Variable

    return json.loads(Variable.get(state_key(DAG_ID, "aws_default", ACCOUNT, sink)))


def build_events_dag(tmp_path, **params):
    """The inventory DAG with event runs switched on (stored, as a dag-processor would)."""
    from airflow_provider_awsiam_ocsf.pipeline import build_inventory_dag
    from tests.support.airflow_compat import store_dag_and_assets

    dag = build_inventory_dag(
        DAG_ID,
        events_queue_url=QUEUE,
        dag_kwargs={"default_args": {"retries": 0}},  # dag.test() would wait out retry delays
        batch_size=10,
        settle_seconds=0,
        output_uri=f"file://{tmp_path / 'out'}",
        **params,
    )
    store_dag_and_assets(dag)
    return dag


@pytest.fixture
def events_dag(iam, airflow_home, tmp_path):
    forget()
    yield build_events_dag(tmp_path)
    forget()


def periodic_run(dag) -> tuple[str, dict[str, list[str]]]:
    run = dag.test()
    tasks: dict[str, list[str]] = {}
    for ti in run.get_task_instances():
        tasks.setdefault(ti.task_id, []).append(str(ti.state))
    return str(run.state), tasks


def event_run(dag, bodies: list[str], out) -> tuple[str, dict, dict, list[dict]]:
    """An asset-triggered run of ``dag`` (dag.test), its triggering asset events made of SQS
    trigger payloads as the triggerer stores them, two polls of the queue (two asset events for
    one run, as the scheduler coalesces them); returns (state, tasks, summary, events sent)."""
    from airflow_provider_awsiam_ocsf.event_schedule import events_asset_name
    from tests.support.airflow_compat import XComModel, asset_triggered_test_runs, create_session

    halves = [bodies[: len(bodies) // 2], bodies[len(bodies) // 2 :]]
    extras = [
        {
            "from_trigger": True,
            "payload": {
                "status": "success",
                "message_batch": [
                    {"MessageId": f"m{i}", "ReceiptHandle": f"r{i}", "Body": body}
                    for i, body in enumerate(half)
                ],
            },
        }
        for half in halves
    ]
    with pytest.MonkeyPatch.context() as patch:
        asset_triggered_test_runs(patch, events_asset_name(DAG_ID), extras)
        run = dag.test()
    tasks: dict[str, list[str]] = {}
    for ti in run.get_task_instances():
        tasks.setdefault(ti.task_id, []).append(str(ti.state))
    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=DAG_ID, run_id=run.run_id, task_id="refresh_from_events")
            .one_or_none()
        )
        summary = {} if row is None else XComModel.deserialize_value(row)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run.run_id)
    events = read_events(out / f"account={ACCOUNT}" / f"run={safe}")
    return str(run.state), tasks, summary, events


def test_event_run_sends_exactly_what_changed_and_merges_into_state(events_dag, iam, tmp_path):
    iam.create_group(GroupName="Ops")
    add_users(iam, ["alice"], groups=["Ops"])
    add_users(iam, ["bob", "carol", "dave", "erin", "quiet"])
    state, tasks = periodic_run(events_dag)
    assert state == "success", tasks
    assert tasks["refresh_from_events"] == ["skipped"]  # not an event run
    first = held()
    assert len(first["users"]) == 6
    uid = {u["UserName"]: u["UserId"] for u in iam.list_users()["Users"]}

    iam.attach_user_policy(UserName="bob", PolicyArn=ADMIN)  # changed
    iam.create_user(UserName="frank")  # new
    iam.delete_user(UserName="carol")  # deleted
    iam.update_user(UserName="erin", NewUserName="erin2")  # renamed
    iam.put_group_policy(GroupName="Ops", PolicyName="star", PolicyDocument=STAR)  # alice
    bodies = [
        json.dumps(cloudtrail("AttachUserPolicy", {"userName": "bob", "policyArn": ADMIN})),
        json.dumps(cloudtrail("CreateUser", {"userName": "frank"})),
        json.dumps(cloudtrail("CreateAccessKey", {"userName": "frank"})),  # frank read once
        json.dumps(cloudtrail("DeleteUser", {"userName": "carol"})),
        json.dumps(cloudtrail("UpdateUser", {"userName": "erin", "newUserName": "erin2"})),
        json.dumps(cloudtrail("PutGroupPolicy", {"groupName": "Ops", "policyName": "star"})),
        json.dumps(cloudtrail("UpdateLoginProfile", {"userName": "dave"})),  # nothing changed
        "not JSON at all",
        json.dumps(cloudtrail("GetUser", {"userName": "quiet"}, read_only=True)),
        json.dumps(cloudtrail("CreateUser", {"userName": "eve"}, account="210987654321")),
    ]
    state, tasks, summary, events = event_run(events_dag, bodies, tmp_path / "out")
    assert state == "success", tasks
    assert tasks["refresh_from_events"] == ["success"]
    # The periodic pipeline stands aside (batches, all_done, flattens no listing).
    assert {t: s for t, s in tasks.items() if s != ["skipped"]} == {
        "refresh_from_events": ["success"],
        "batches": ["success"],
    }
    sent = [(e["user"]["name"], "deleted_time" in e["user"].get("ldap_person", {})) for e in events]
    # Tombstones first (carol, erin's old ARN), then the users whose facts changed.
    assert sorted(sent[:2]) == [("carol", True), ("erin", True)]
    assert sorted(sent[2:]) == [
        ("alice", False),
        ("bob", False),
        ("erin2", False),
        ("frank", False),
    ]
    assert summary["line"] == (
        "10 messages: 6 users read (4 changed, 1 deleted, 1 unchanged); ignored 3 "
        "(1 account outside `accounts`, 1 not JSON, 1 read-only calls)"
    )
    after = held()
    assert set(after["users"]) == set(first["users"]) - {uid["carol"]} | {
        i["UserId"] for i in iam.list_users()["Users"] if i["UserName"] == "frank"
    }
    assert after["users"][uid["erin"]].endswith(":erin2")
    assert after["users"][uid["quiet"]] == first["users"][uid["quiet"]]  # not read, kept
    assert after["checkpoint"] == first["checkpoint"]  # never moved by an event run
    assert after["run_id"].startswith("asset_triggered__")
    assert sum(after["tombstones"].values()) == 1  # carol (a rename is no deletion)

    # The periodic run finds every sink up to date: nothing is sent twice.
    state, tasks = periodic_run(events_dag)
    assert state == "success", tasks
    again = held()
    assert again["users"] == after["users"]


def test_noise_only_messages_read_nothing_and_fail_nothing(events_dag, iam, tmp_path, monkeypatch):
    add_users(iam, ["alice"])
    state, tasks, summary, events = event_run(
        events_dag,
        ["{", json.dumps({"detail-type": "Object Created", "detail": {}}), "[]"],
        tmp_path / "out",
    )
    assert state == "success", tasks
    assert events == []
    assert summary["line"] == (
        "3 messages: 0 users read; ignored 3 (2 not JSON, 1 not a CloudTrail API call)"
    )


def test_a_refused_read_leaves_the_user_to_the_periodic_run_and_fails_nothing(
    iam, iam_endpoint, airflow_home, tmp_path, monkeypatch
):
    from tests.support.airflow_compat import Variable
    from tests.support.iam_world import restricted_reader

    add_users(iam, ["alice"])
    with restricted_reader(iam, iam_endpoint, monkeypatch, denied=["iam:GetUser"]) as conn_id:
        forget(conn_id)
        dag = build_events_dag(tmp_path, aws_conn_id=conn_id)
        body = json.dumps(cloudtrail("CreateUser", {"userName": "alice"}))
        state, tasks, summary, events = event_run(dag, [body], tmp_path / "out")
        assert state == "success", tasks
        assert events == []
        assert summary["line"] == "1 message: 1 user read (1 unreadable)"
        key = state_key(DAG_ID, conn_id, ACCOUNT, "file")
        assert Variable.get(key, default_var=None) is None  # nothing read: no state written
        forget(conn_id)
