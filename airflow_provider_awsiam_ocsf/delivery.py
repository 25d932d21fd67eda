"""A run's delivery, batch by batch (pure): which users each sink is sent, and what it then holds.

``plan_batches`` (list_users) turns a complete listing and the sinks' states into batches of
candidate users, each carrying what every sink needs of them, plus the deleted users' tombstones.
``settle_batch`` (to_ocsf) maps a batch of enriched users to OCSF events, decides per sink which
events to send, and says what the sink holds once it accepted them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from airflow_provider_awsiam_ocsf.batch_plan import check_batch_count, split_into_batches
from airflow_provider_awsiam_ocsf.contracts import (
    DeliveryPlan,
    EventsBatch,
    SinkPlanInfo,
    SinkUpdate,
    TombstoneRef,
    UsersBatch,
)
from airflow_provider_awsiam_ocsf.identities import is_root_key
from airflow_provider_awsiam_ocsf.inventory import IamUser
from airflow_provider_awsiam_ocsf.ocsf import to_ocsf_deleted_user, to_ocsf_user_inventory
from airflow_provider_awsiam_ocsf.state import (
    Action,
    HeldUser,
    Reason,
    SinkPlan,
    SinkState,
    decide,
    plan_sink,
)


def plan_batches(
    users: Sequence[IamUser],
    states: Mapping[str, SinkState] | None,
    sinks: Sequence[str],
    *,
    size: int,
    full: bool,
    detect_changes: bool,
    partition: str,
    account: str,
    logged_time: datetime,
    max_batches: int,
    iam_users_listed: bool = True,
) -> tuple[list[tuple[str, UsersBatch]], DeliveryPlan | None]:
    """Batches of the users some sink needs, labelled ``<account> · users 1–500``, and the plan
    the commit builds on.

    ``states`` is None for backfill runs: every user of the window goes to every sink, and no
    state is read or written. ``logged_time`` (the run's window end) travels with each batch.
    More than ``max_batches`` batches (``[core] max_map_length``) fails, saying what to raise.
    ``iam_users_listed`` False (IAM users not selected): the IAM users a sink holds stay held.
    """
    stamp = logged_time.isoformat()
    if states is None:
        actions = {sink: {u.user_id: Action.SEND.value for u in users} for sink in sinks}
        check_batch_count(len(users), size, max_batches)
        return _batches(list(users), actions, {}, {}, size, account, stamp), None
    # Each user's fingerprint, once for all sinks (only needed when the listing has every fact).
    now = {u.user_id: HeldUser.of(u) for u in users} if detect_changes and not full else None
    plans: dict[str, SinkPlan] = {
        sink: plan_sink(
            users,
            states[sink],
            full=full,
            detect_changes=detect_changes,
            now=now,
            iam_users_listed=iam_users_listed,
        )
        for sink in sinks
    }
    actions = {
        sink: {uid: action.value for uid, action in plan.actions.items()}
        for sink, plan in plans.items()
    }
    held = {
        sink: {uid: states[sink].users[uid] for uid in plan.actions if uid in states[sink].users}
        for sink, plan in plans.items()
    }
    tombstones = {
        sink: [
            TombstoneRef(user_id=uid, name=h.name, arn=h.arn(partition, account))
            for uid, h in plan.deleted
        ]
        for sink, plan in plans.items()
        if plan.deleted
    }
    candidates = [u for u in users if any(u.user_id in a for a in actions.values())]
    check_batch_count(len(candidates), size, max_batches)
    delivery = DeliveryPlan(
        account=account,
        partition=partition,
        sinks={
            sink: SinkPlanInfo(
                base=plan.base.to_json(),
                deleted=[uid for uid, _ in plan.deleted],
                counts={
                    Reason.UNCHANGED.value: plan.unchanged,
                    Reason.DELETED.value: len(plan.deleted),
                },
            )
            for sink, plan in plans.items()
        },
    )
    return _batches(candidates, actions, held, tombstones, size, account, stamp), delivery


def _batches(
    users: list[IamUser],
    actions: dict[str, dict[str, str]],
    held: dict[str, dict[str, str]],
    tombstones: dict[str, list[TombstoneRef]],
    size: int,
    account: str,
    logged_time: str,
) -> list[tuple[str, UsersBatch]]:
    batches: list[tuple[str, UsersBatch]] = []
    for label, chunk in split_into_batches(users, size):
        label = f"{account} · {label}"
        ids = {u.user_id for u in chunk}
        batches.append(
            (
                label,
                UsersBatch(
                    users=[u.model_dump(mode="json") for u in chunk],
                    actions={
                        s: {i: a for i, a in m.items() if i in ids} for s, m in actions.items()
                    },
                    held={s: {i: v for i, v in m.items() if i in ids} for s, m in held.items()},
                    tombstones={},
                    logged_time=logged_time,
                ),
            )
        )
    if tombstones:
        if not batches:
            empty: dict[str, dict[str, str]] = {s: {} for s in actions}
            batches.append(
                (
                    f"{account} · deleted users",
                    UsersBatch(
                        users=[], actions=empty, held={}, tombstones={}, logged_time=logged_time
                    ),
                )
            )
        batches[-1][1]["tombstones"] = tombstones
    return batches


def settle_batch(
    batch: UsersBatch, *, access_key_ids: bool
) -> tuple[EventsBatch, dict[str, SinkUpdate]]:
    """Events of the batch (users, then tombstones), which ones each sink is sent, and each sink's
    state entries for the batch's users as now known."""
    logged_time = datetime.fromisoformat(batch["logged_time"])
    events: list[dict] = []
    send: dict[str, list[int]] = {sink: [] for sink in batch["actions"]}
    updates = {sink: SinkUpdate(recorded={}, counts={}) for sink in batch["actions"]}
    counts: dict[str, Counter[str]] = {sink: Counter() for sink in batch["actions"]}
    for raw in batch["users"]:
        user = IamUser.model_validate(raw)
        now = HeldUser.of(user)
        index = len(events)
        events.append(
            to_ocsf_user_inventory(
                user, logged_time=logged_time, access_key_ids=access_key_ids
            ).as_dict()
        )
        for sink, actions in batch["actions"].items():
            if user.user_id not in actions:
                continue
            held_value = batch["held"].get(sink, {}).get(user.user_id)
            held = None if held_value is None else HeldUser.decode(held_value)
            sent, reason = decide(Action(actions[user.user_id]), held, now)
            if sent:
                send[sink].append(index)
            counts[sink][reason.value] += 1
            updates[sink]["recorded"][user.user_id] = now.encode()
    tombstone_at: dict[str, int] = {}  # one event per deleted user, whichever sinks need it
    for sink, refs in batch["tombstones"].items():
        for ref in refs:
            if ref["user_id"] not in tombstone_at:
                tombstone_at[ref["user_id"]] = len(events)
                events.append(
                    to_ocsf_deleted_user(
                        name=ref["name"],
                        arn=ref["arn"],
                        user_id=ref["user_id"],
                        deleted_at=logged_time,
                    ).as_dict()
                )
            send.setdefault(sink, []).append(tombstone_at[ref["user_id"]])
    for sink, counter in counts.items():
        updates[sink]["counts"] = dict(sorted(counter.items()))
    return EventsBatch(events=events, send=send), updates


@dataclass
class EventSinkUpdate:
    """One sink's part of an event run in one account: which events it is sent (indexes), what it
    holds of the users read, which held users are gone, and the count per state.Reason."""

    send: list[int] = field(default_factory=list)
    recorded: dict[str, str] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def settle_event_reads(
    users: Sequence[IamUser],
    gone: Iterable[str],
    states: Mapping[str, SinkState],
    *,
    partition: str,
    account: str,
    logged_time: datetime,
    access_key_ids: bool,
) -> tuple[list[dict], dict[str, EventSinkUpdate]]:
    """An event run's events in one account and what each sink is sent of them.

    ``users`` are the users the run read (live), ``gone`` the names it asked for that IAM no
    longer has. A held IAM user is concluded deleted only when the run asked for its name and
    did not read its id (deleted, or re-created with a new id); a user read under another name or
    path than held (a rename) is sent with a tombstone of the old ARN first. Users the run did not
    ask for, and the root user, are never touched."""
    read = {u.user_id: u for u in users}
    asked = set(gone) | {u.name for u in users}
    now = {uid: HeldUser.of(u) for uid, u in read.items()}
    events: list[dict] = []
    tombstone_at: dict[tuple[str, str], int] = {}
    user_at: dict[str, int] = {}

    def tombstone(uid: str, held: HeldUser) -> int:
        arn = held.arn(partition, account)
        if (uid, arn) not in tombstone_at:
            tombstone_at[uid, arn] = len(events)
            events.append(
                to_ocsf_deleted_user(
                    name=held.name, arn=arn, user_id=uid, deleted_at=logged_time
                ).as_dict()
            )
        return tombstone_at[uid, arn]

    updates: dict[str, EventSinkUpdate] = {}
    to_send: dict[str, list[str]] = {}
    for sink, state in states.items():
        update = updates[sink] = EventSinkUpdate()
        for uid, value in sorted(state.users.items()):
            if is_root_key(uid) or uid in read:
                continue
            held = HeldUser.decode(value)
            if held.name in asked:
                update.send.append(tombstone(uid, held))
                update.deleted.append(uid)
                update.counts[Reason.DELETED.value] += 1
        to_send[sink] = []
        for uid, user_now in now.items():
            held_user = state.held(uid)
            sent, reason = decide(Action.IF_CHANGED, held_user, user_now)
            if held_user is not None and held_user.tail != user_now.tail:
                update.send.append(tombstone(uid, held_user))
                sent, reason = True, Reason.CHANGED
            update.counts[reason.value] += 1
            update.recorded[uid] = user_now.encode()
            if sent:
                to_send[sink].append(uid)
    # User events after every tombstone: a renamed user's old ARN is retired before its new one.
    for sink, uids in to_send.items():
        for uid in uids:
            if uid not in user_at:
                user_at[uid] = len(events)
                events.append(
                    to_ocsf_user_inventory(
                        read[uid], logged_time=logged_time, access_key_ids=access_key_ids
                    ).as_dict()
                )
            updates[sink].send.append(user_at[uid])
    return events, updates
