"""Per-destination state and delivery planning: pure functions on literal users."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_provider_awsiam_ocsf.delivery import plan_batches, settle_batch
from airflow_provider_awsiam_ocsf.inventory import GroupFacts, IamUser
from airflow_provider_awsiam_ocsf.state import (
    Action,
    HeldUser,
    Reason,
    SinkState,
    StateError,
    commit,
    decide,
    plan_sink,
    rebase,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 11, 28, 12, tzinfo=UTC)


def user(
    name: str,
    *,
    uid: str | None = None,
    mfa: bool | None = True,
    path: str = "/",
    created: datetime = T0,
    groups=("Devs",),
) -> IamUser:
    return IamUser(
        name=name,
        user_id=uid or f"AIDA{name.upper():0<17}"[:21],
        arn=f"arn:aws:iam::123456789012:user{path}{name}",
        created=created,
        groups=[
            GroupFacts(
                name=g,
                arn=f"arn:aws:iam::123456789012:group/{g}",
                policy_names=["ReadOnlyAccess"],
                grants_admin=False,
            )
            for g in groups
        ],
        grants_admin=False,
        has_mfa=mfa,
        path=path,
        tags={},
        identity_read=True,
        password_enabled=False,
        access_keys=[],
    )


def holding(*users: IamUser, **fields) -> SinkState:
    return SinkState(users={u.user_id: HeldUser.of(u).encode() for u in users}, **fields)


def test_held_user_round_trips_and_rebuilds_the_arn_of_a_path_user():
    alice = user("alice", path="/eng/ops/")
    held = HeldUser.of(alice)
    assert HeldUser.decode(held.encode()) == held
    assert held.name == "alice"
    assert held.arn("aws", "123456789012") == alice.arn


def test_an_entry_stays_within_64_bytes_for_a_typical_user():
    alice = user("alice.example")
    assert len(f'"{alice.user_id}":"{HeldUser.of(alice).encode()}",') <= 64


def test_incomplete_users_are_marked():
    held = HeldUser.of(user("bob", mfa=None))
    assert not held.complete and held.encode().split(":")[0].endswith("!")


def test_fingerprint_ignores_last_used_times_but_not_mfa():
    alice = user("alice")
    used = alice.model_copy(update={"password_last_used": END})
    assert HeldUser.of(used) == HeldUser.of(alice)
    assert HeldUser.of(user("alice", mfa=False)) != HeldUser.of(alice)


def test_corrupt_state_is_refused():
    with pytest.raises(StateError):
        SinkState.from_json('{"version": 1, "users": {"AIDA": "no-separator"}}')
    with pytest.raises(StateError):
        SinkState.from_json('{"version": 7}')


def test_empty_state_makes_everyone_new():
    plan = plan_sink([user("a"), user("b")], SinkState(), full=False, detect_changes=True)
    assert set(plan.actions.values()) == {Action.SEND} and len(plan.actions) == 2
    assert plan.deleted == [] and plan.unchanged == 0


def test_bulk_settles_unchanged_users_at_listing_and_flags_changed_ones():
    a, b = user("a"), user("b")
    state = holding(a, b)
    plan = plan_sink([a, user("b", mfa=False)], state, full=False, detect_changes=True)
    assert plan.unchanged == 1 and plan.actions == {b.user_id: Action.IF_CHANGED}


def test_per_user_incremental_leaves_held_users_alone_but_retries_incomplete_ones():
    a, b = user("a"), user("b", mfa=None)
    listed = [a.model_copy(update={"has_mfa": None}), b]  # ListUsers alone: facts unknown
    plan = plan_sink(listed, holding(a, b), full=False, detect_changes=False)
    assert plan.unchanged == 1 and plan.actions == {b.user_id: Action.IF_CHANGED}


def test_deleted_users_are_concluded_from_a_complete_listing_only():
    a, gone = user("a"), user("gone", path="/old/")
    state = holding(a, gone)
    plan = plan_sink([a], state, full=False, detect_changes=True)
    assert [(uid, h.name) for uid, h in plan.deleted] == [(gone.user_id, "gone")]
    assert gone.user_id not in plan.base.users
    partial = plan_sink([a], state, full=False, detect_changes=True, complete_listing=False)
    assert partial.deleted == [] and gone.user_id in partial.base.users


def test_recreated_user_is_a_deletion_and_a_new_user():
    old = user("carol", uid="AIDAOLDOLDOLDOLDOLD01")
    new = user("carol", uid="AIDANEWNEWNEWNEWNEW02")
    plan = plan_sink([new], holding(old), full=False, detect_changes=True)
    assert [uid for uid, _ in plan.deleted] == [old.user_id]
    assert plan.actions == {new.user_id: Action.SEND}


def test_full_runs_send_everyone_and_rewrite_the_state():
    a = user("a")
    stale = SinkState(users={"AIDASTALE": "0123456789ab:stale"})
    plan = plan_sink(
        [a],
        holding(a).model_copy(update={"users": {**holding(a).users, **stale.users}}),
        full=True,
        detect_changes=True,
    )
    assert plan.actions == {a.user_id: Action.SEND}
    assert plan.base.users == {} and [uid for uid, _ in plan.deleted] == ["AIDASTALE"]


def test_previous_release_checkpoint_adopts_older_users_and_sends_newer_ones():
    old, fresh = user("old", created=T0), user("fresh", created=END)
    state = SinkState(checkpoint=T0.replace(month=6), adopt_before=T0.replace(month=6))
    plan = plan_sink([old, fresh], state, full=False, detect_changes=True)
    assert plan.actions == {old.user_id: Action.ADOPT, fresh.user_id: Action.SEND}
    assert plan.base.adopt_before is None


@pytest.mark.parametrize(
    ("action", "held", "now", "expected"),
    [
        (Action.SEND, None, user("a"), (True, Reason.NEW)),
        (Action.IF_CHANGED, user("a"), user("a"), (False, Reason.UNCHANGED)),
        (Action.IF_CHANGED, user("a"), user("a", mfa=False), (True, Reason.CHANGED)),
        (Action.IF_CHANGED, user("a", mfa=None), user("a"), (True, Reason.INCOMPLETE_RETRIED)),
        (Action.IF_CHANGED, user("a", mfa=None), user("a", mfa=None), (False, Reason.UNCHANGED)),
        (Action.SEND, user("a"), user("a"), (True, Reason.UNCHANGED)),
        (Action.ADOPT, None, user("a"), (False, Reason.ADOPTED)),
    ],
)
def test_decide_after_enrichment(action, held, now, expected):
    held = None if held is None else HeldUser.of(held)
    assert decide(action, held, HeldUser.of(now)) == expected


def test_commit_moves_the_checkpoint_forward_only_and_records_candidates():
    a = user("a")
    later = END.replace(year=2027)
    state = commit(
        SinkState(checkpoint=later),
        {a.user_id: HeldUser.of(a).encode()},
        checkpoint=END,
        partition="aws",
        account="123456789012",
    )
    assert state.checkpoint == later and a.user_id in state.users
    assert SinkState.from_json(state.to_json()) == state


def test_a_commit_after_another_runs_never_takes_its_state_back():
    """Run A reads the state, run B reads it too, commits a change and a newer checkpoint; A,
    which found one user deleted, commits after: nothing B recorded or moved is undone."""
    kept, changed, deleted, new_a, new_b = (
        user(n) for n in ("kept", "changed", "deleted", "a", "b")
    )
    read = holding(kept, changed, deleted, checkpoint=T0)
    plan_a = plan_sink([kept, changed, new_a], read, full=False, detect_changes=True)
    assert [uid for uid, _ in plan_a.deleted] == [deleted.user_id]
    changed_now = changed.model_copy(update={"has_mfa": False})
    b_wrote = commit(
        read,
        {u.user_id: HeldUser.of(u).encode() for u in (changed_now, new_b)},
        checkpoint=END,
        partition="aws",
        account="123456789012",
    )
    a_writes = commit(
        rebase(plan_a.base, b_wrote, [uid for uid, _ in plan_a.deleted]),
        {new_a.user_id: HeldUser.of(new_a).encode()},
        checkpoint=END.replace(hour=11),  # A's window ended before B's
        partition="aws",
        account="123456789012",
    )
    assert a_writes.checkpoint == END
    assert a_writes.users == {
        kept.user_id: HeldUser.of(kept).encode(),
        changed.user_id: HeldUser.of(changed_now).encode(),  # B's newer posture, not A's read
        new_a.user_id: HeldUser.of(new_a).encode(),
        new_b.user_id: HeldUser.of(new_b).encode(),
    }
    # Alone, a rebase onto the state it read is the plan's own base.
    assert rebase(plan_a.base, read, [deleted.user_id]) == plan_a.base


def incremental_plan(users, states, sinks, size):
    """``plan_batches`` of an incremental bulk run of account 123456789012."""
    return plan_batches(
        users,
        states,
        sinks,
        size=size,
        full=False,
        detect_changes=True,
        partition="aws",
        account="123456789012",
        logged_time=END,
        max_batches=1024,
    )


def test_batches_carry_only_what_some_sink_needs_and_tombstones_come_last():
    a, b, c, gone = user("a"), user("b"), user("c"), user("gone")
    states = {"file": holding(a, b, gone), "sekoia": SinkState()}
    changed_b = user("b", mfa=False)
    batches, plan = incremental_plan([a, changed_b, c], states, ["file", "sekoia"], size=2)
    assert [label for label, _ in batches] == [
        "123456789012 · users 1–2",
        "123456789012 · users 3–3",
    ]
    first, last = batches[0][1], batches[1][1]
    assert first["actions"]["file"] == {b.user_id: "if_changed"}
    assert first["actions"]["sekoia"] == {a.user_id: "send", b.user_id: "send"}
    assert last["tombstones"] == {
        "file": [{"user_id": gone.user_id, "name": "gone", "arn": gone.arn}]
    }
    assert plan is not None and plan["sinks"]["file"]["counts"] == {"unchanged": 1, "deleted": 1}


def test_deletions_alone_get_a_batch_of_their_own():
    gone = user("gone")
    batches, _ = incremental_plan([], {"file": holding(gone)}, ["file"], size=10)
    assert [label for label, _ in batches] == ["123456789012 · deleted users"]
    assert batches[0][1]["users"] == []


def test_settled_batch_sends_each_sink_its_events_and_one_tombstone_per_deleted_user():
    a, gone = user("a"), user("gone")
    states = {"file": holding(a, gone), "sekoia": holding(gone)}
    [(_, batch)], _ = incremental_plan([user("a", mfa=False)], states, ["file", "sekoia"], size=10)
    events, updates = settle_batch(batch, access_key_ids=True)
    assert len(events["events"]) == 2  # a, and one tombstone for both sinks
    assert events["send"] == {"file": [0, 1], "sekoia": [0, 1]}
    assert updates["file"]["counts"] == {"changed": 1}
    assert updates["sekoia"]["counts"] == {"new": 1}
    tombstone = events["events"][1]
    assert tombstone["user"]["name"] == "gone"
    assert tombstone["user"]["ldap_person"]["deleted_time"] == int(END.timestamp() * 1000)


def test_backfill_batches_send_every_user_and_plan_nothing():
    batches, plan = incremental_plan([user("a")], None, ["file"], size=10)
    assert plan is None and batches[0][1]["actions"] == {"file": {user("a").user_id: "send"}}
