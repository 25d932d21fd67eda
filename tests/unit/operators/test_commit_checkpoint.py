"""commit_checkpoint: each account's and sink's state, from its inputs as XComArgs render them;
accounts, listings and errors are paired by account id, whatever their order."""

from __future__ import annotations

import inspect

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_awsiam_ocsf.account_plan import account_ref, group_accounts
from airflow_provider_awsiam_ocsf.contracts import AccountError, BatchUpdate, SinkReport, XComKey
from airflow_provider_awsiam_ocsf.delivery import plan_batches
from airflow_provider_awsiam_ocsf.operators import commit_checkpoint as commit_module
from airflow_provider_awsiam_ocsf.operators.commit_checkpoint import CommitCheckpointOperator
from airflow_provider_awsiam_ocsf.pipeline import DAG_ID
from airflow_provider_awsiam_ocsf.state import SinkState
from airflow_provider_awsiam_ocsf.state_store import state_key
from tests.support.task_context import XComStore, task_context
from tests.unit.test_state import END, user

A, B = "111111111111", "222222222222"
CONN = "aws_unit_commit"


def groups(*refs) -> list:
    return group_accounts(list(refs), 25)


def listed(*listings) -> list:
    """list_users' ``listings`` XCom of one instance, as the mapped XComArg renders it."""
    return [{"label": "g", "listings": list(listings), "errors": []}]


def batches_of(*parts: tuple[str, int]) -> list:
    """The batches task's value: one batch holding these (account, part index) parts."""
    return [
        {
            "index": 0,
            "label": "b",
            "payload": None,
            "parts": [{"account": a, "index": i} for a, i in parts],
        }
    ]


def listing(account: str, batches: int, plan: dict | None = None) -> dict:
    summary = {"account": account, "strategy": "bulk", "users_listed": batches, "batches": batches}
    summary.update(iam_calls={}, degraded={}, report_unusable_rows=0, report_fallback_users=0)
    return {
        "account": account,
        "label": f"account {account}",
        "batches": [{"index": n} for n in range(batches)],
        "summary": summary,
        "window_end": END.isoformat(),
        "plan": plan,
    }


def committer(**inputs) -> CommitCheckpointOperator:
    from airflow.providers.common.compat.sdk import DAG

    with DAG(DAG_ID, schedule=None):
        return CommitCheckpointOperator(
            task_id="commit_checkpoint", sinks=["file"], aws_conn_id=CONN, **inputs
        )


def test_every_argument_is_templated_so_xcom_args_resolve_and_it_runs_after_all():
    arguments = inspect.signature(CommitCheckpointOperator.__init__).parameters
    assert set(CommitCheckpointOperator.template_fields) == set(arguments) - {"self", "kwargs"}
    assert {"accounts", "skipped", "listings", "errors"} <= set(arguments)
    assert committer().trigger_rule == "all_done"


def test_without_resolved_accounts_it_fails_and_writes_nothing():
    with pytest.raises(AirflowFailException, match="accounts were not resolved"):
        committer(accounts=None).execute(task_context(XComStore(), "commit_checkpoint"))


def test_accounts_listings_and_errors_are_paired_by_account_not_position():
    store = XComStore()
    op = committer(
        accounts=groups(account_ref(A, "Prod", None), account_ref(B, None, "arn:role")),
        skipped=[{"Id": "333333333333", "Name": "Old", "State": "SUSPENDED"}],
        listings=listed(listing(B, 1)),  # the one account listed, the second of the two
        errors=[[[AccountError(account=A, code="AccessDenied", message="no", stage="listing")]]],
        batches=batches_of((B, 0)),
        deliveries=[[[SinkReport(sink="file", account=B, index=0, events=1)]], []],
    )
    context = task_context(store, "commit_checkpoint", run_type="backfill")
    with pytest.raises(
        AirflowFailException, match=rf"not delivered: {A} · Prod \(AccessDenied at listing\)"
    ):
        op.execute(context)
    summary = store.get("commit_checkpoint", XComKey.SUMMARY)
    assert summary["accounts"][A] == {
        "label": f"{A} · Prod",
        "error": "listing: AccessDenied: no",
    }
    assert summary["accounts"][B]["state"] == {"file": "backfill run: not read, not written"}
    assert summary["accounts_skipped"] == ["333333333333 Old (SUSPENDED)"]
    assert (summary["accounts_read"], summary["accounts_failed"]) == (1, 1)


def test_a_scheduled_run_commits_the_state_its_listing_planned_by_reference(monkeypatch):
    # The state Variables are the state store's (proven on a real metadata DB by the DAG tests);
    # here, what the commit hands it.
    saved: dict[str, SinkState] = {}

    def save(dag_id: str, conn_id: str, account: str, sink: str, state: SinkState) -> str:
        saved[state_key(dag_id, conn_id, account, sink)] = state
        return state_key(dag_id, conn_id, account, sink)

    monkeypatch.setattr(commit_module, "load_sink_state", lambda *key: SinkState())
    monkeypatch.setattr(commit_module, "save_sink_state", save)
    store = XComStore()
    users = [user("alice"), user("bob")]
    _, plan = plan_batches(
        users,
        {"file": SinkState()},
        ["file"],
        size=10,
        full=False,
        detect_changes=True,
        partition="aws",
        account=A,
        logged_time=END,
        max_batches=10,
    )
    store.push("g.list_users", XComKey.PLAN, 5, plan)
    plan_ref = {"task_id": "g.list_users", "key": XComKey.PLAN, "map_index": 5}
    recorded = {u.user_id: "recorded" for u in users}
    op = committer(
        accounts=groups(account_ref(A, None, None)),
        listings=listed(listing(A, 1, plan_ref)),
        batches=batches_of((A, 0)),
        updates=[[BatchUpdate(account=A, sinks={"file": {"recorded": recorded, "counts": {}}})]],
        deliveries=[[[SinkReport(sink="file", account=A, index=0, events=2)]]],
    )
    op.execute(task_context(store, "commit_checkpoint"))
    key = state_key(DAG_ID, CONN, A, "file")
    assert set(saved) == {key}
    assert saved[key].users == recorded and saved[key].checkpoint == END
    summary = store.get("commit_checkpoint", XComKey.SUMMARY)
    assert summary["accounts"][A]["state"]["file"].startswith(f"committed {key}: 2 users")


def test_an_account_that_failed_in_a_shared_batch_keeps_its_state_and_the_other_commits(
    monkeypatch,
):
    saved: list[str] = []
    monkeypatch.setattr(commit_module, "load_sink_state", lambda *key: SinkState())
    monkeypatch.setattr(
        commit_module, "save_sink_state", lambda d, c, account, s, state: saved.append(account)
    )
    store = XComStore()
    plans = {}
    for account in (A, B):
        _, plans[account] = plan_batches(
            [user(f"u{account}")],
            {"file": SinkState()},
            ["file"],
            size=10,
            full=False,
            detect_changes=True,
            partition="aws",
            account=account,
            logged_time=END,
            max_batches=10,
        )
        store.push("list_users", f"plan_{account}", 0, plans[account])
    ref = {a: {"task_id": "list_users", "key": f"plan_{a}", "map_index": 0} for a in (A, B)}
    op = committer(
        accounts=groups(account_ref(A, "Prod", None), account_ref(B, "Dev", "arn:role")),
        listings=listed(listing(A, 1, ref[A]), listing(B, 1, ref[B])),
        batches=batches_of((A, 0), (B, 0)),  # one batch shared by both
        errors=[
            [],
            [[AccountError(account=A, code="Throttling", message="slow", stage="enrichment")]],
        ],
        updates=[[BatchUpdate(account=B, sinks={"file": {"recorded": {}, "counts": {}}})]],
        deliveries=[[[SinkReport(sink="file", account=B, index=0, events=1)]]],
    )
    with pytest.raises(
        AirflowFailException, match=rf"{A} · Prod: sink file \(Throttling at enrichment\)"
    ):
        op.execute(task_context(store, "commit_checkpoint"))
    assert saved == [B]
    summary = store.get("commit_checkpoint", XComKey.SUMMARY)
    assert summary["accounts"][A]["error"] == "enrichment: Throttling: slow"
    assert summary["accounts"][A]["state"]["file"].startswith("left as it was: 0 of 1 batches")
    assert summary["accounts_failed"] == 1


def test_when_the_batches_task_failed_no_account_with_users_commits(monkeypatch):
    saved: list[str] = []
    monkeypatch.setattr(commit_module, "load_sink_state", lambda *key: SinkState())
    monkeypatch.setattr(
        commit_module, "save_sink_state", lambda d, c, account, s, state: saved.append(account)
    )
    store = XComStore()
    op = committer(
        accounts=groups(account_ref(A, None, None)),
        listings=listed(listing(A, 2, None)),
        batches=None,
    )
    with pytest.raises(AirflowFailException, match="not delivered"):
        op.execute(task_context(store, "commit_checkpoint"))
    assert saved == []
