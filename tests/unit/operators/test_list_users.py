"""list_users: one account's users in batches, each batch and the catalog pushed under its own key
and handed on by reference (moto's IAM over HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_awsiam_ocsf.contracts import AccountRef, XComKey
from airflow_provider_awsiam_ocsf.operators.list_users import ListIamUsersOperator
from airflow_provider_awsiam_ocsf.pipeline import DAG_ID
from airflow_provider_awsiam_ocsf.state import SinkState
from airflow_provider_awsiam_ocsf.state_store import state_key
from tests.support.iam_world import add_users
from tests.support.task_context import XComStore, task_context

OWN = "123456789012"
OWN_ACCOUNT = AccountRef(account=OWN, name=None, role_arn=None, label=f"account {OWN}")


def lister(task_id: str = "list_users", **kwargs) -> ListIamUsersOperator:
    from airflow.providers.common.compat.sdk import DAG

    with DAG(DAG_ID, schedule=None):
        return ListIamUsersOperator(
            task_id=task_id, account=OWN_ACCOUNT, settle_seconds=0, **kwargs
        )


def soon() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=1)


def test_template_fields():
    assert set(ListIamUsersOperator.template_fields) == {
        "aws_conn_id",
        "region_name",
        "verify",
        "account",
        "sinks",
        "strategy",
        "mode",
        "batch_size",
        "settle_seconds",
        "identities",
    }


def test_hook_parameters_read_the_accounts_member_role_in_a_session_naming_the_dag():
    role = "arn:aws:iam::222222222222:role/iam-inventory-reader"
    from airflow.providers.common.compat.sdk import DAG

    with DAG(DAG_ID, schedule=None):
        op = ListIamUsersOperator(
            task_id="list_users",
            account=AccountRef(account="222222222222", name="B", role_arn=role, label="B"),
            aws_conn_id="aws_x",
            region_name="eu-west-1",
            botocore_config={"connect_timeout": 3},
        )
    hook = op.hook
    assert (hook.aws_conn_id, hook.region_name) == ("aws_x", "eu-west-1")
    assert (hook.member_role_arn, hook.role_session_name) == (role, f"airflow-{DAG_ID}")


def test_returns_the_listing_and_references_to_what_it_pushed_from_its_own_instance(iam):
    add_users(iam, [f"user{i}" for i in range(5)])
    store = XComStore()
    # A task group prefix and a map index: the references name them, nothing else does.
    context = task_context(store, "team_a.list_users", 4, run_type="backfill", run_after=soon())
    listing = lister("team_a.list_users", batch_size=2, strategy="bulk").execute(context)

    assert listing["account"] == OWN and listing["plan"] is None  # backfill: no state
    assert listing["summary"]["users_listed"] == 5 and listing["summary"]["batches"] == 3
    assert [b["label"] for b in listing["batches"]] == [
        f"{OWN} · users 1–2",
        f"{OWN} · users 3–4",
        f"{OWN} · users 5–5",
    ]
    for index, batch in enumerate(listing["batches"]):
        assert batch["payload"] == {
            "task_id": "team_a.list_users",
            "key": f"batch_{index}",
            "map_index": 4,
        }
        assert batch["catalog"] == {
            "task_id": "team_a.list_users",
            "key": "catalog",
            "map_index": 4,
        }
        payload = store.get("team_a.list_users", f"batch_{index}", 4)
        assert len(payload["users"]) == (2 if index < 2 else 1)
    assert store.keys_of("team_a.list_users", 4) == {
        "batch_0",
        "batch_1",
        "batch_2",
        XComKey.CATALOG,
        "iam_console_partition",
    }


def test_a_scheduled_run_reads_the_sinks_state_and_hands_on_its_plan_by_reference(iam, monkeypatch):
    add_users(iam, ["alice"])
    # The sink's state Variable, given the way Airflow reads Variables from the environment
    # first: outside a task runner there is no API server to ask (3.0.6 has no fallback at all).
    checkpoint = datetime(2026, 1, 1, tzinfo=UTC)
    key = state_key(DAG_ID, "aws_default", OWN, "file")
    monkeypatch.setenv(f"AIRFLOW_VAR_{key.upper()}", SinkState(checkpoint=checkpoint).to_json())
    store = XComStore()
    listing = lister(sinks=["file"]).execute(task_context(store, "list_users", 0, run_after=soon()))
    assert listing["plan"] == {"task_id": "list_users", "key": XComKey.PLAN, "map_index": 0}
    plan = store.get("list_users", XComKey.PLAN, 0)
    assert plan["account"] == OWN and set(plan["sinks"]) == {"file"}
    assert SinkState.from_json(plan["sinks"]["file"]["base"]).checkpoint == checkpoint


def test_a_failure_is_pushed_as_the_accounts_error_before_it_raises(iam):
    store = XComStore()
    with pytest.raises(ValueError, match="mode must be one of"):
        lister(mode="sometimes").execute(task_context(store, "list_users", 2))
    error = store.get("list_users", XComKey.ERROR, 2)
    assert error["account"] == OWN and error["code"] == "ValueError"
