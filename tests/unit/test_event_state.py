"""An event run's delivery and state merge (pure): changed, new, deleted, renamed, unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow_provider_awsiam_ocsf.delivery import settle_event_reads
from airflow_provider_awsiam_ocsf.state import HeldUser, SinkState, merge_event_run
from tests.unit.test_state import END, holding, user

ACCOUNT = "123456789012"
ROOT = ACCOUNT  # the root user's state key is the account id
CHECKPOINT = datetime(2026, 11, 28, 11, tzinfo=UTC)


def settle(users, gone=(), **states):
    return settle_event_reads(
        users,
        gone,
        states,
        partition="aws",
        account=ACCOUNT,
        logged_time=END,
        access_key_ids=True,
    )


def sent_names(events, update):
    return [
        (events[i]["user"]["name"], "deleted" if "deleted_time" in str(events[i]) else "live")
        for i in update.send
    ]


def test_event_run_sends_changed_and_new_users_and_nothing_for_unchanged():
    alice, bob, carol = user("alice"), user("bob"), user("carol")
    state = holding(alice, bob)
    events, updates = settle([user("alice", mfa=False), bob, carol], file=state)
    assert sent_names(events, updates["file"]) == [("alice", "live"), ("carol", "live")]
    assert updates["file"].counts == {"changed": 1, "unchanged": 1, "new": 1}
    assert updates["file"].deleted == []


def test_a_user_iam_no_longer_has_becomes_one_tombstone_when_held():
    alice, bob = user("alice"), user("bob")
    events, updates = settle([], gone=["alice", "never-held"], file=holding(alice, bob))
    assert sent_names(events, updates["file"]) == [("alice", "deleted")]
    assert events[0]["user"]["uid"] == alice.arn
    assert updates["file"].deleted == [alice.user_id]


def test_a_rename_retires_the_old_arn_then_sends_the_new_name():
    alice = user("alice", uid="AIDAALICE000000000001")
    alicia = user("alicia", uid="AIDAALICE000000000001")
    events, updates = settle([alicia], gone=["alice"], file=holding(alice))
    assert sent_names(events, updates["file"]) == [("alice", "deleted"), ("alicia", "live")]
    assert updates["file"].deleted == []
    assert HeldUser.decode(updates["file"].recorded[alicia.user_id]).name == "alicia"


def test_a_user_recreated_under_its_name_is_a_tombstone_and_a_new_user():
    old = user("alice", uid="AIDAALICE000000000001")
    new = user("alice", uid="AIDAALICE000000000002")
    events, updates = settle([new], file=holding(old))
    assert sent_names(events, updates["file"]) == [("alice", "deleted"), ("alice", "live")]
    assert updates["file"].counts == {"deleted": 1, "new": 1}


def test_each_sink_gets_what_it_lacks_from_one_set_of_events():
    alice = user("alice", mfa=False)
    events, updates = settle([alice], file=holding(user("alice")), sekoia=holding(alice))
    assert len(events) == 1
    assert updates["file"].send == [0] and updates["sekoia"].send == []


def test_root_and_users_not_asked_for_are_never_touched():
    state = holding(user("bob"))
    state.users[ROOT] = "abcdefabcdef:root"
    events, updates = settle([], gone=["root", "alice"], file=state)
    assert events == [] and updates["file"].deleted == []


def test_merge_keeps_users_not_read_and_never_moves_the_checkpoint():
    alice, bob, carol = user("alice"), user("bob"), user("carol")
    state = holding(alice, bob, checkpoint=CHECKPOINT, run_id="scheduled__1")
    merged = merge_event_run(
        state,
        {carol.user_id: HeldUser.of(carol).encode()},
        [alice.user_id],
        at=END,
        partition="aws",
        account=ACCOUNT,
        run_id="asset_triggered__2",
        tombstones=1,
    )
    assert set(merged.users) == {bob.user_id, carol.user_id}
    assert merged.checkpoint == CHECKPOINT
    assert merged.run_id == "asset_triggered__2"
    assert merged.tombstones == {"2026-11-28T12": 1}
    assert SinkState.from_json(merged.to_json()) == merged


def test_merge_into_an_empty_state_leaves_no_checkpoint():
    carol = user("carol")
    merged = merge_event_run(
        SinkState(),
        {carol.user_id: HeldUser.of(carol).encode()},
        [],
        at=END,
        partition="aws",
        account=ACCOUNT,
    )
    assert merged.checkpoint is None and list(merged.users) == [carol.user_id]
