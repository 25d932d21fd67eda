"""list_users: one account's users in batches, each batch and the catalog pushed under its own key
and handed on by reference (moto's IAM over HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_awsiam_ocsf.account_plan import group_accounts
from airflow_provider_awsiam_ocsf.contracts import AccountRef, XComKey
from airflow_provider_awsiam_ocsf.operators.list_users import ListIamUsersOperator
from airflow_provider_awsiam_ocsf.pipeline import DAG_ID
from airflow_provider_awsiam_ocsf.state import SinkState
from airflow_provider_awsiam_ocsf.state_store import state_key
from tests.support.iam_world import add_users
from tests.support.task_context import XComStore, task_context

OWN = "123456789012"
OWN_ACCOUNT = AccountRef(account=OWN, name=None, role_arn=None, label=f"account {OWN}")
OTHER = "222222222222"
OTHER_ACCOUNT = AccountRef(
    account=OTHER,
    name="Other",
    role_arn=f"arn:aws:iam::{OTHER}:role/iam-inventory-reader",
    label=f"{OTHER} · Other",
)


def lister(task_id: str = "list_users", accounts=(OWN_ACCOUNT,), **kwargs) -> ListIamUsersOperator:
    from airflow.providers.common.compat.sdk import DAG

    (group,) = group_accounts(list(accounts), 25)
    with DAG(DAG_ID, schedule=None):
        return ListIamUsersOperator(task_id=task_id, accounts=group, settle_seconds=0, **kwargs)


def soon() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=1)


def test_template_fields():
    assert set(ListIamUsersOperator.template_fields) == {
        "aws_conn_id",
        "region_name",
        "verify",
        "accounts",
        "sinks",
        "strategy",
        "mode",
        "batch_size",
        "settle_seconds",
        "identities",
        "concurrency",
    }


def test_each_account_is_read_with_a_hook_of_its_own_in_a_session_naming_the_dag():
    op = lister(accounts=[OWN_ACCOUNT, OTHER_ACCOUNT], aws_conn_id="aws_x", region_name="eu-west-1")
    own, other = op.account_hook(OWN_ACCOUNT), op.account_hook(OTHER_ACCOUNT)
    assert (other.aws_conn_id, other.region_name) == ("aws_x", "eu-west-1")
    assert (other.member_role_arn, other.role_session_name) == (
        OTHER_ACCOUNT["role_arn"],
        f"airflow-{DAG_ID}",
    )
    assert own.member_role_arn is None and own is not op.account_hook(OWN_ACCOUNT)


def test_returns_the_listing_and_references_to_what_it_pushed_from_its_own_instance(iam):
    add_users(iam, [f"user{i}" for i in range(5)])
    store = XComStore()
    # A task group prefix and a map index: the references name them, nothing else does.
    context = task_context(store, "team_a.list_users", 4, run_type="backfill", run_after=soon())
    group = lister("team_a.list_users", batch_size=2, strategy="bulk").execute(context)
    assert group["errors"] == [] and store.get("team_a.list_users", XComKey.LISTINGS, 4) == group
    (listing,) = group["listings"]

    assert listing["account"] == OWN and listing["plan"] is None  # backfill: no state
    assert listing["summary"]["users_listed"] == 5 and listing["summary"]["batches"] == 3
    assert [(b["index"], b["users"]) for b in listing["batches"]] == [(0, 2), (1, 2), (2, 1)]
    for index, batch in enumerate(listing["batches"]):
        assert batch["payload"] == {
            "task_id": "team_a.list_users",
            "key": f"batch_{index}_{OWN}",
            "map_index": 4,
        }
        assert batch["catalog"] == {
            "task_id": "team_a.list_users",
            "key": f"catalog_{OWN}",
            "map_index": 4,
        }
        payload = store.get("team_a.list_users", f"batch_{index}_{OWN}", 4)
        assert len(payload["users"]) == (2 if index < 2 else 1)
    assert store.keys_of("team_a.list_users", 4) == {
        f"batch_0_{OWN}",
        f"batch_1_{OWN}",
        f"batch_2_{OWN}",
        f"catalog_{OWN}",
        XComKey.LISTINGS,
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
    group = lister(sinks=["file"]).execute(task_context(store, "list_users", 0, run_after=soon()))
    (listing,) = group["listings"]
    assert listing["plan"] == {"task_id": "list_users", "key": f"plan_{OWN}", "map_index": 0}
    plan = store.get("list_users", f"plan_{OWN}", 0)
    assert plan["account"] == OWN and set(plan["sinks"]) == {"file"}
    assert SinkState.from_json(plan["sinks"]["file"]["base"]).checkpoint == checkpoint


def test_an_account_that_fails_is_named_and_the_others_are_handed_on_before_the_task_fails(
    iam, monkeypatch
):
    from airflow.providers.common.compat.sdk import AirflowFailException

    add_users(iam, ["alice"])
    key = state_key(DAG_ID, "aws_default", OWN, "file")
    monkeypatch.setenv(f"AIRFLOW_VAR_{key.upper()}", "not json")  # OWN's state is corrupt
    other = state_key(DAG_ID, "aws_default", OTHER, "file")  # (3.0.6 reads only the environment)
    monkeypatch.setenv(f"AIRFLOW_VAR_{other.upper()}", SinkState().to_json())
    store = XComStore()
    op = lister(accounts=[OWN_ACCOUNT, OTHER_ACCOUNT], sinks=["file"], strategy="bulk")
    with pytest.raises(AirflowFailException, match=f"1 of 2 accounts could not be read: {OWN}"):
        op.execute(task_context(store, "list_users", 2, run_after=soon()))
    group = store.get("list_users", XComKey.LISTINGS, 2)
    assert [listing["account"] for listing in group["listings"]] == [OTHER]
    assert [listing["number"] for listing in group["listings"]] == [2]
    (error,) = store.get("list_users", XComKey.ERROR, 2)
    assert (error["account"], error["code"], error["stage"]) == (
        OWN,
        "CorruptStateError",
        "listing",
    )
    assert key in error["message"]  # names the Variable and how to reset it


def test_a_bad_mode_fails_before_any_account_is_read(iam):
    store = XComStore()
    with pytest.raises(ValueError, match="mode must be one of"):
        lister(mode="sometimes").execute(task_context(store, "list_users", 2))
    assert store.keys_of("list_users", 2) == set()
