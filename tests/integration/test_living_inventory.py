"""A living inventory: changed, deleted and re-read users reach every sink once, each sink from
its own state (real Airflow with dag.test, moto's IAM server, the loopback Sekoia API)."""

from __future__ import annotations

import json
from datetime import UTC

import pytest

from airflow_provider_awsiam_ocsf.state_store import legacy_checkpoint_key, state_key
from tests.support.dag_runs import (
    ACCOUNT,
    DAG_ID,
    sink_state,
)
from tests.support.iam_world import add_users, restricted_reader
from tests.support.sekoia_server import FAST_RETRIES, Reply, sekoia_connection_json
from tests.support.throttling_proxy import ThrottlingProxy

READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


@pytest.fixture
def runs(dag_runs):
    """Runs the sample DAG into a fresh folder each time; returns (state, summary, events)."""

    def run(**conf):
        done = dag_runs(**conf)
        return done.state, done.summary, done.events

    return run


def per_sink(summary, account: str = ACCOUNT) -> dict:
    return summary["accounts"][account]["users_per_sink"]


def state_of(summary, account: str = ACCOUNT) -> dict:
    return summary["accounts"][account]["state"]


def names(events) -> list[str]:
    return sorted(e["user"]["name"] for e in events)


def by_name(events) -> dict[str, dict]:
    return {e["user"]["name"]: e["user"] for e in events}


def seed_for_changes(iam) -> None:
    iam.create_group(GroupName="Devs")
    iam.create_group(GroupName="Ops")
    add_users(iam, ["leaver", "policy.group.member", "steady"], groups=["Ops"])
    add_users(
        iam,
        ["joiner", "user.policy", "mfa.on", "mfa.off", "key.new", "key.off", "tagged", "password"],
    )
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="mfa-off")["VirtualMFADevice"][
        "SerialNumber"
    ]
    iam.enable_mfa_device(
        UserName="mfa.off",
        SerialNumber=serial,
        AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )
    iam.create_access_key(UserName="key.off")


def change_everything(iam) -> set[str]:
    """One change of each kind, each on its own user; returns the users changed."""
    iam.add_user_to_group(GroupName="Devs", UserName="joiner")
    iam.remove_user_from_group(GroupName="Ops", UserName="leaver")
    iam.attach_group_policy(GroupName="Ops", PolicyArn=READ_ONLY)  # leaver has left Ops
    iam.attach_user_policy(UserName="user.policy", PolicyArn=ADMIN)
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="mfa-on")["VirtualMFADevice"][
        "SerialNumber"
    ]
    iam.enable_mfa_device(
        UserName="mfa.on",
        SerialNumber=serial,
        AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )
    off = iam.list_mfa_devices(UserName="mfa.off")["MFADevices"][0]["SerialNumber"]
    iam.deactivate_mfa_device(UserName="mfa.off", SerialNumber=off)
    iam.create_access_key(UserName="key.new")
    key = iam.list_access_keys(UserName="key.off")["AccessKeyMetadata"][0]["AccessKeyId"]
    iam.update_access_key(UserName="key.off", AccessKeyId=key, Status="Inactive")
    iam.tag_user(UserName="tagged", Tags=[{"Key": "team", "Value": "red"}])
    iam.create_login_profile(UserName="password", Password="Correct-Horse-9")
    # The group policy change reaches every member of Ops: policy.group.member and steady.
    return {
        "joiner",
        "leaver",
        "policy.group.member",
        "steady",
        "user.policy",
        "mfa.on",
        "mfa.off",
        "key.new",
        "key.off",
        "tagged",
        "password",
    }


def test_bulk_incremental_runs_deliver_every_kind_of_change_once(iam, runs, ocsf_validator):
    seed_for_changes(iam)
    state, summary, first = runs(strategy="bulk")
    assert state == "success" and len(first) == 11
    assert per_sink(summary)["file"] == {"new": 11}
    changed = change_everything(iam)

    state, summary, second = runs(strategy="bulk")
    assert state == "success"
    assert names(second) == sorted(changed)
    assert per_sink(summary)["file"] == {"changed": len(changed)}
    for event in second:
        ocsf_validator(event)
    users = by_name(second)
    assert [g["name"] for g in users["joiner"]["groups"]] == ["Devs"]
    assert users["leaver"]["groups"] == []
    assert users["steady"]["groups"][0]["privileges"] == ["ReadOnlyAccess"]
    assert users["user.policy"]["type"] == "Admin"
    assert users["mfa.on"]["has_mfa"] is True and users["mfa.off"]["has_mfa"] is False
    assert len(users["key.new"]["programmatic_credentials"]) == 1
    assert users["tagged"]["ldap_person"]["tags"] == [{"name": "team", "value": "red"}]
    status = {e["user"]["name"]: e["enrichments"][0]["data"] for e in second}
    assert status["password"]["is_enabled"] is True
    assert status["key.off"]["is_enabled"] is False

    state, summary, third = runs(strategy="bulk")
    assert state == "success" and third == []
    assert per_sink(summary)["file"] == {"unchanged": 11}


def test_per_user_leaves_changes_to_full_runs(iam, runs):
    seed_for_changes(iam)
    assert runs(strategy="per_user")[0] == "success"
    changed = change_everything(iam)
    add_users(iam, ["newcomer"])

    state, summary, incremental = runs(strategy="per_user")
    assert state == "success" and names(incremental) == ["newcomer"]
    assert per_sink(summary)["file"] == {"new": 1, "unchanged": 11}

    state, summary, full = runs(strategy="per_user", mode="full")
    assert state == "success" and len(full) == 12  # full runs send everyone
    assert per_sink(summary)["file"] == {
        "changed": len(changed),
        "unchanged": 12 - len(changed),
    }
    assert runs(strategy="per_user")[2] == []


@pytest.mark.parametrize("strategy", ["bulk", "per_user"])
def test_deleted_user_gives_exactly_one_tombstone(iam, runs, ocsf_validator, strategy):
    add_users(iam, ["stays", "goes"])
    iam.create_user(UserName="pathy", Path="/contractors/")
    state, _, first = runs(strategy=strategy)
    goes = by_name(first)["goes"]
    iam.delete_user(UserName="goes")
    iam.delete_user(UserName="pathy")

    state, summary, second = runs(strategy=strategy)
    assert state == "success" and names(second) == ["goes", "pathy"]
    assert per_sink(summary)["file"]["deleted"] == 2
    tombstone = by_name(second)["goes"]
    ocsf_validator(second[0])
    assert tombstone["uid"] == goes["uid"] and tombstone["uid_alt"] == goes["uid_alt"]
    assert "deleted_time" in tombstone["ldap_person"]
    assert by_name(second)["pathy"]["uid"].endswith(":user/contractors/pathy")
    event = next(e for e in second if e["user"]["name"] == "goes")
    assert event["time"] == tombstone["ldap_person"]["deleted_time"]
    assert event["enrichments"][0]["data"]["is_enabled"] is False
    assert runs(strategy=strategy)[2] == []


def test_recreated_user_is_a_tombstone_and_a_new_user(iam, runs):
    add_users(iam, ["carol"])
    first = runs(strategy="bulk")[2]
    iam.delete_user(UserName="carol")
    add_users(iam, ["carol"])
    state, summary, second = runs(strategy="bulk")
    assert state == "success" and names(second) == ["carol", "carol"]
    old, new = sorted(second, key=lambda e: "deleted_time" in e["user"].get("ldap_person", {}))
    assert "deleted_time" in new["user"]["ldap_person"]  # sorted last: the tombstone
    assert new["user"]["uid_alt"] == first[0]["user"]["uid_alt"]
    assert old["user"]["uid_alt"] != first[0]["user"]["uid_alt"]
    assert per_sink(summary)["file"] == {"new": 1, "deleted": 1}


def test_failed_listing_concludes_no_deletion(iam, iam_endpoint, runs, monkeypatch):
    from devtools.local import aws_connection_json

    add_users(iam, ["stays", "goes"])
    assert runs(strategy="bulk")[0] == "success"
    before = sink_state()
    iam.delete_user(UserName="goes")
    proxy = ThrottlingProxy(iam_endpoint)
    try:
        monkeypatch.setenv(
            "AIRFLOW_CONN_AWS_DEFAULT",
            aws_connection_json(proxy.url, retries={"mode": "standard", "max_attempts": 1}),
        )
        proxy.throttle("GetAccountAuthorizationDetails", 10)
        state, _, events = runs(strategy="bulk")
    finally:
        proxy.stop()
    assert state == "failed" and events == []
    assert sink_state() == before
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_json(iam_endpoint))
    assert names(runs(strategy="bulk")[2]) == ["goes"]


def test_a_sink_added_later_receives_everyone_and_a_failing_sink_catches_up(
    iam, runs, sekoia_server, monkeypatch
):
    sekoia_conn_id = "sekoia_fast_retries"
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{sekoia_conn_id.upper()}",
        sekoia_connection_json(
            sekoia_server.base_url,
            sekoia_server.api_key,
            sekoia_server.connector_uuid,
            **FAST_RETRIES,
        ),
    )
    add_users(iam, ["a", "b"])
    assert names(runs(strategy="bulk")[2]) == ["a", "b"]
    add_users(iam, ["c"])
    assert names(runs(strategy="bulk")[2]) == ["c"]
    add_users(iam, ["d"])
    both = {"strategy": "bulk", "sinks": ["file", "sekoia"], "sekoia_conn_id": sekoia_conn_id}

    state, summary, files = runs(**both)
    assert state == "success" and names(files) == ["d"]
    assert sorted(i["user"]["name"] for r in sekoia_server.pushes for i in r.body["items"]) == [
        "a",
        "b",
        "c",
        "d",
    ]
    assert per_sink(summary) == {"file": {"new": 1, "unchanged": 3}, "sekoia": {"new": 4}}

    add_users(iam, ["e"])
    iam.tag_user(UserName="a", Tags=[{"Key": "k", "Value": "v"}])
    sekoia_state = sink_state("sekoia")
    sekoia_server.requests.clear()
    sekoia_server.script(*[Reply(500, {"message": "boom"})] * 3)  # 1 try + max_retries 2
    state, summary, files = runs(**both)
    assert state == "failed" and names(files) == ["a", "e"]
    assert sink_state("sekoia") == sekoia_state  # left where it was
    assert "left as it was" in state_of(summary)["sekoia"]
    assert state_of(summary)["file"].startswith("committed")

    sekoia_server.requests.clear()
    state, summary, files = runs(**both)
    assert state == "success" and files == []
    assert sorted(i["user"]["name"] for r in sekoia_server.pushes for i in r.body["items"]) == [
        "a",
        "e",
    ]


def test_user_delivered_without_mfa_is_delivered_again_once_it_can_be_read(
    iam, iam_endpoint, runs, monkeypatch, fault
):
    add_users(iam, ["alice"])
    with restricted_reader(iam, iam_endpoint, monkeypatch, denied=["iam:ListMFADevices"]) as conn:
        state, summary, first = runs(strategy="per_user", aws_conn_id=conn)
        assert state == "success"
        assert "has_mfa" not in by_name(first)["alice"]
    # The reader itself is a user of the account (created by restricted_reader).
    state, summary, second = runs(strategy="per_user", aws_conn_id=conn)
    assert state == "success" and by_name(second)["alice"]["has_mfa"] is False
    assert per_sink(summary)["file"]["incomplete_retried"] >= 1
    assert runs(strategy="per_user", aws_conn_id=conn)[2] == []
    fault.record(
        "IAM: a per-user call denied (AccessDenied)",
        did="iam:ListMFADevices denied to the reader for one run",
        lost=0,
        duplicates=1,
        recovery="the user was delivered without has_mfa and marked incomplete in the state; "
        "the next run delivered it again with has_mfa (the duplicate, by design)",
    )


def test_previous_release_checkpoint_is_honoured_on_first_run(iam, runs, monkeypatch):
    from datetime import datetime

    add_users(iam, ["delivered.before"])
    checkpoint = datetime.now(UTC).isoformat()
    add_users(iam, ["created.after"])
    monkeypatch.setenv(
        f"AIRFLOW_VAR_{legacy_checkpoint_key(DAG_ID, 'aws_default').upper()}", checkpoint
    )
    state, summary, events = runs(strategy="bulk")
    assert state == "success" and names(events) == ["created.after"]
    assert per_sink(summary)["file"] == {"adopted": 1, "new": 1}
    held = sink_state()["users"]
    assert len(held) == 2  # the adopted user is recorded, so its changes are seen from now on
    iam.tag_user(UserName="delivered.before", Tags=[{"Key": "k", "Value": "v"}])
    assert names(runs(strategy="bulk")[2]) == ["delivered.before"]


def test_corrupt_state_fails_the_run_naming_the_variable(iam, runs, monkeypatch, capfd, fault):
    add_users(iam, ["someone"])
    key = state_key(DAG_ID, "aws_default", "123456789012", "file")
    monkeypatch.setenv(f"AIRFLOW_VAR_{key.upper()}", json.dumps({"version": 1, "users": 3}))
    state, _, events = runs()
    assert state == "failed" and events == []
    output = "".join(capfd.readouterr())
    assert key in output and f"airflow variables delete {key}" in output
    monkeypatch.delenv(f"AIRFLOW_VAR_{key.upper()}")  # what the message says to do
    state, _, events = runs()
    assert state == "success" and names(events) == ["someone"]
    fault.record(
        "Bad input: a corrupt state Variable",
        did="the file sink's state Variable replaced by JSON of the wrong shape",
        lost=0,
        duplicates=0,
        recovery="the run failed before delivering, naming the Variable and the command that "
        "resets it; after the reset the next run sent every user",
    )
