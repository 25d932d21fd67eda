"""to_ocsf: a batch of enriched users as OCSF events, what each sink is sent, and its state
updates (pure mapping behind an XCom contract)."""

from __future__ import annotations

from airflow_provider_awsiam_ocsf.contracts import BatchRef, UsersBatch, XComKey
from airflow_provider_awsiam_ocsf.operators.to_ocsf import IamUsersToOcsfOperator
from airflow_provider_awsiam_ocsf.state import Action
from tests.support.task_context import XComStore, task_context
from tests.unit.test_state import END, user

ACCOUNT = "123456789012"


def enriched_batch(store: XComStore, *names: str) -> BatchRef:
    """A batch of enriched users as enrich_users[1] of a task group hands it on."""
    users = [user(n) for n in names]
    batch = UsersBatch(
        users=[u.model_dump(mode="json") for u in users],
        actions={"file": {u.user_id: Action.SEND.value for u in users}},
        held={},
        tombstones={},
        logged_time=END.isoformat(),
    )
    store.push(
        "g.enrich_users",
        "batch_1",
        1,
        {"parts": [{"account": ACCOUNT, "index": 3, "batch": batch}]},
    )
    return BatchRef(
        index=1,
        label=f"{ACCOUNT} · users 3–4",
        parts=[],
        payload={"task_id": "g.enrich_users", "key": "batch_1", "map_index": 1},
    )


def test_template_fields_and_trigger_rule():
    assert IamUsersToOcsfOperator.template_fields == ("batch", "access_key_ids")
    op = IamUsersToOcsfOperator(task_id="to_ocsf", batch={})
    assert op.trigger_rule == "all_done"


def test_events_are_handed_on_by_reference_with_each_sinks_state_updates():
    store = XComStore()
    batch = enriched_batch(store, "alice", "bob")
    op = IamUsersToOcsfOperator(task_id="g.to_ocsf", batch=batch)
    result = op.execute(task_context(store, "g.to_ocsf", 1))

    assert result == {
        **batch,
        "payload": {"task_id": "g.to_ocsf", "key": "batch_1", "map_index": 1},
    }
    (part,) = store.get("g.to_ocsf", "batch_1", 1)["parts"]
    assert (part["account"], part["index"]) == (ACCOUNT, 3)
    events = part["batch"]
    assert [e["user"]["name"] for e in events["events"]] == ["alice", "bob"]
    assert events["send"] == {"file": [0, 1]}
    (updates,) = store.get("g.to_ocsf", XComKey.STATE_UPDATES, 1)
    assert updates["account"] == ACCOUNT
    assert updates["sinks"]["file"]["counts"] == {"new": 2}
    assert len(updates["sinks"]["file"]["recorded"]) == 2
