"""The sample DAG delivering to a loopback Sekoia.io API and to files, against moto's IAM."""

from __future__ import annotations

import json

import pytest
from sekoia_automation_models.ocsf.user import UserOCSFModel

from devtools.demo_org import USERS, seed_demo_organisation
from tests.support.dag_runs import checkpoint_value, forget_state, read_events, run_sample_dag
from tests.support.iam_world import add_users
from tests.support.sekoia_server import FAST_RETRIES, Reply, sekoia_connection_json

CONN_ID = "sekoia_dag_test"


@pytest.fixture
def conf(iam, airflow_home, sekoia_server, tmp_path, monkeypatch):
    """Run conf for both sinks; the ``sekoia`` connection retries fast (extra tunables)."""
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        sekoia_connection_json(
            sekoia_server.base_url,
            sekoia_server.api_key,
            sekoia_server.connector_uuid,
            **FAST_RETRIES,
            timeout=2,
            batch_limit=7,
        ),
    )
    forget_state()
    yield {
        "batch_size": 10,
        "output_uri": f"file://{tmp_path}/out",
        "settle_seconds": 0,
        "sinks": ["file", "sekoia"],
        "sekoia_conn_id": CONN_ID,
    }
    forget_state()


def sent_items(server) -> list[dict]:
    return [item for r in server.pushes for item in r.body["items"]]


def test_both_sinks_receive_every_event(iam, conf, sekoia_server, tmp_path, ocsf_validator):
    seed_demo_organisation(iam)
    state, tasks = run_sample_dag(conf)
    assert state == "success", tasks
    items = sent_items(sekoia_server)
    files = read_events(tmp_path / "out")
    assert sorted(i["user"]["name"] for i in items) == sorted(USERS)
    assert all(len(r.body["items"]) <= 7 for r in sekoia_server.pushes)  # the extra's batch_limit
    by_name = {e["user"]["name"]: e for e in files}
    for item in items:
        UserOCSFModel.model_validate(item)
        same = by_name[item["user"]["name"]]
        assert item["time"] == same["time"] / 1000  # seconds, as Sekoia's own connector sends
        ocsf_validator({**item, "time": same["time"]})
        assert {**item, "time": same["time"]} == same
    push = sekoia_server.pushes[0]
    assert push.path == f"/api/v2/asset-management/asset-connector/{sekoia_server.connector_uuid}"
    assert push.headers["Authorization"] == f"Bearer {sekoia_server.api_key}"
    assert push.headers["Content-Type"] == "application/json"
    assert checkpoint_value("sekoia") is not None


def test_rate_limited_push_waits_and_the_run_succeeds(iam, conf, sekoia_server):
    add_users(iam, ["a.user", "b.user"])
    sekoia_server.script(Reply(429, {"message": "slow down"}, {"Retry-After": "1"}))
    state, _ = run_sample_dag({**conf, "sinks": ["sekoia"]})
    assert state == "success"
    first, retry = sekoia_server.pushes  # the 429, then the accepted retry
    assert first.body == retry.body
    assert sorted(i["user"]["name"] for i in retry.body["items"]) == ["a.user", "b.user"]
    assert checkpoint_value("sekoia") is not None


def test_failing_api_keeps_the_checkpoint_and_the_next_run_resends(iam, conf, sekoia_server):
    add_users(iam, ["first.user"])
    assert run_sample_dag({**conf, "sinks": ["sekoia"]})[0] == "success"
    checkpoint = checkpoint_value("sekoia")
    add_users(iam, ["second.user", "third.user"])
    sekoia_server.script(*[Reply(500, {"message": "boom"})] * 3)
    state, tasks = run_sample_dag({**conf, "sinks": ["sekoia"]})
    assert state == "failed" and tasks["push_to_sekoia"] == ["failed"]
    assert checkpoint_value("sekoia") == checkpoint
    sekoia_server.requests.clear()
    assert run_sample_dag({**conf, "sinks": ["sekoia"]})[0] == "success"
    assert sorted(i["user"]["name"] for i in sent_items(sekoia_server)) == [
        "second.user",
        "third.user",
    ]
    assert checkpoint_value("sekoia") > checkpoint


@pytest.mark.parametrize(
    "break_it, says",
    [
        ("password", "API key of connection 'sekoia_dag_test' was refused"),
        ("connector_uuid", "is unknown to"),
    ],
)
def test_refused_push_fails_at_once_with_a_clear_message_and_no_key(
    iam, conf, sekoia_server, monkeypatch, capfd, break_it, says
):
    conn = json.loads(__import__("os").environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"])
    if break_it == "password":
        conn["password"] = "sk-wrong-key-0123456789"
    else:
        conn["extra"]["connector_uuid"] = "00000000-0000-0000-0000-00000000dead"
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    add_users(iam, ["someone"])
    state, tasks = run_sample_dag({**conf, "sinks": ["sekoia"]})
    assert state == "failed" and tasks["push_to_sekoia"] == ["failed"]
    assert len(sekoia_server.pushes) == 1  # no retry on 4xx
    logs = "".join(capfd.readouterr())
    # Tracebacks may wrap the message over lines (Airflow 3.0 prints them with rich).
    assert says in " ".join(logs.split())
    assert conn["password"] not in logs
    assert checkpoint_value("sekoia") is None


def test_api_key_is_in_no_xcom_and_no_rendered_field(iam, conf, sekoia_server):
    from tests.support.airflow_compat import RenderedTaskInstanceFields, XComModel, create_session

    add_users(iam, ["someone"])
    assert run_sample_dag(conf)[0] == "success"
    with create_session() as session:
        stored = [json.dumps(x.value, default=str) for x in session.query(XComModel)]
        stored += [
            json.dumps(r.rendered_fields, default=str)
            for r in session.query(RenderedTaskInstanceFields)
        ]
    assert stored and not [s for s in stored if sekoia_server.api_key in s]


def test_identity_center_users_reach_sekoia_valid_for_its_model(
    iam, iam_endpoint, conf, sekoia_server
):
    from devtools.demo_org import IDENTITY_CENTER_USERS, seed_demo_identity_center

    seed_demo_identity_center(iam_endpoint)
    state, tasks = run_sample_dag({**conf, "sinks": ["sekoia"], "identities": ["identity_center"]})
    assert state == "success", tasks
    items = sent_items(sekoia_server)
    assert sorted(i["user"]["name"] for i in items) == sorted(IDENTITY_CENTER_USERS)
    for item in items:
        model = UserOCSFModel.model_validate(item)
        assert model.user.account.type_id == 99
        assert item["metadata"]["product"]["name"] == "AWS IAM Identity Center Asset Connector"
        assert isinstance(item["time"], float)  # seconds, as for IAM users
