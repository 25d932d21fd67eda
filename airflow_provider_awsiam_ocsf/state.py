"""What each destination holds, and what it needs this run (pure).

A destination's state (one per DAG, AWS connection, account and sink) is the creation checkpoint
plus, per user it was given, a compact line ``<user id>: <fingerprint>[!]:<path/name>``:

* the fingerprint is a short hash of the user's posture facts (``IamUser.posture()``: groups and
  their privileges, admin type, MFA, password enabled, access keys and their status, tags, path,
  permissions boundary; never last-used times, which would make every active user "changed");
* ``!`` marks a user delivered with facts left out (a degraded read), to deliver again once they
  can be read;
* ``path/name`` is the tail of the user's ARN, enough to rebuild the ARN of a deleted user for
  its tombstone (IAM forgets deleted users).

Besides the users, a state says which run last committed it (``run_id``) and how many tombstones
the sink was sent per hour over the last :data:`TOMBSTONE_DAYS` days (``tombstones``); both are
a constant size, not per user, and both are left out until there is something to say, so a state
without them reads as before.

Planning happens twice. ``plan_sink`` (at listing time) decides, per sink, which users certainly
need nothing (unchanged with facts the listing already has), which were deleted, and which are
candidates to enrich; ``decide`` (after enrichment) settles each candidate with its final facts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airflow_provider_awsiam_ocsf.arn import parse_arn
from airflow_provider_awsiam_ocsf.identities import is_root_key
from airflow_provider_awsiam_ocsf.inventory import IamUser, as_utc, posture_is_complete

FINGERPRINT_LENGTH = 12  # hex digits: 48 bits, ample to tell one user's postures apart
INCOMPLETE = "!"
TOMBSTONE_DAYS = 7  # how long tombstone counts are kept (hourly buckets: at most 169 of them)
_HOUR = "%Y-%m-%dT%H"  # a tombstone bucket's key, UTC


class StateError(ValueError):
    """A state value that cannot be read (the caller names the Variable and the fix)."""


def fingerprint(posture: Mapping[str, Any]) -> str:
    text = json.dumps(posture, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:FINGERPRINT_LENGTH]


def arn_tail(arn: str) -> str:
    """``path/name`` of ``arn:<partition>:iam::<account>:user/path/name``."""
    resource = parse_arn(arn).resource
    return resource.split("/", 1)[1] if resource.startswith("user/") else resource


@dataclass(frozen=True)
class HeldUser:
    """One user as a destination was last given it."""

    fingerprint: str
    complete: bool
    tail: str  # path/name, as in the ARN

    @property
    def name(self) -> str:
        return self.tail.rsplit("/", 1)[-1]

    def arn(self, partition: str, account: str) -> str:
        return f"arn:{partition}:iam::{account}:user/{self.tail}"

    def encode(self) -> str:
        return f"{self.fingerprint}{'' if self.complete else INCOMPLETE}:{self.tail}"

    @classmethod
    def decode(cls, value: str) -> HeldUser:
        mark, sep, tail = value.partition(":")
        digest = mark.rstrip(INCOMPLETE)
        if not sep or not tail or not digest:
            raise StateError(f"user entry {value!r} is not '<fingerprint>[!]:<path/name>'")
        return cls(fingerprint=digest, complete=not mark.endswith(INCOMPLETE), tail=tail)

    @classmethod
    def of(cls, user: IamUser) -> HeldUser:
        posture = user.posture()  # computed once: it is the costly part
        return cls(
            fingerprint=fingerprint(posture),
            complete=posture_is_complete(posture),
            tail=arn_tail(user.arn),
        )


class SinkState(BaseModel):
    """What one sink holds for one account (the JSON of its Airflow Variable)."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    checkpoint: datetime | None = Field(
        default=None, description="end of the last window delivered (UTC)"
    )
    adopt_before: datetime | None = Field(
        default=None,
        description="from a previous release's checkpoint: users created before it were "
        "delivered already, their facts are recorded without sending them",
    )
    partition: str | None = None
    account: str | None = None
    users: dict[str, str] = Field(default_factory=dict, description="user id -> HeldUser")
    run_id: str | None = Field(default=None, description="the run that last committed it")
    tombstones: dict[str, int] | None = Field(
        default=None,
        description=f"tombstones sent, per UTC hour ({_HOUR}), over the last {TOMBSTONE_DAYS} days",
    )

    def held(self, user_id: str) -> HeldUser | None:
        value = self.users.get(user_id)
        return None if value is None else HeldUser.decode(value)

    def incomplete_users(self) -> int:
        """Users delivered with facts left out (a degraded read), to send again once readable."""
        return sum(1 for value in self.users.values() if not HeldUser.decode(value).complete)

    def tombstones_since(self, moment: datetime) -> int:
        """Tombstones sent at or after ``moment`` (to the hour; kept for ``TOMBSTONE_DAYS``)."""
        since = as_utc(moment).strftime(_HOUR)
        return sum(n for hour, n in (self.tombstones or {}).items() if hour >= since)

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def from_json(cls, text: str) -> SinkState:
        try:
            state = cls.model_validate_json(text)
            for value in state.users.values():
                HeldUser.decode(value)
        except ValidationError as error:
            first = error.errors()[0]["msg"]
            raise StateError(f"{error.error_count()} invalid field(s): {first}") from None
        return state


class Reason(StrEnum):
    """Why a user was (or was not) sent to a sink this run; counted in the run summary."""

    NEW = "new"
    CHANGED = "changed"
    INCOMPLETE_RETRIED = "incomplete_retried"
    DELETED = "deleted"
    UNCHANGED = "unchanged"
    ADOPTED = "adopted"  # upgrade: recorded, not sent


class Action(StrEnum):
    """What a sink needs for a candidate once its facts are final."""

    SEND = "send"  # whatever the facts (new users, full and backfill runs)
    IF_CHANGED = "if_changed"  # only when they differ from what the sink holds
    ADOPT = "adopt"  # record without sending


@dataclass
class SinkPlan:
    """A sink's part of the run, decided at listing time."""

    actions: dict[str, Action]  # user id -> action, for the candidates of this sink
    deleted: list[tuple[str, HeldUser]]  # user id, what was held
    unchanged: int  # users settled already: nothing to send
    base: SinkState  # the state to write if the sink accepts everything, before candidates


def plan_sink(
    users: Iterable[IamUser],
    state: SinkState,
    *,
    full: bool,
    detect_changes: bool,
    complete_listing: bool = True,
    now: Mapping[str, HeldUser] | None = None,
    iam_users_listed: bool = True,
) -> SinkPlan:
    """Split a complete listing into a sink's candidates, deletions and settled users.

    ``detect_changes``: the listing carries every posture fact (``bulk``), so a user whose
    fingerprint matches is settled now; otherwise (``per_user`` incremental) users the sink holds
    complete are left alone and only new and incomplete ones are candidates. Deletions are
    concluded only from a complete listing. ``now``: each user as :meth:`HeldUser.of` makes it,
    when the caller has it already (one computation per user, however many sinks).

    The root user (``identities.is_root_key``) is never concluded deleted, and a held root the
    listing does not carry (not selected, or unreadable this run) is kept as held, full runs
    included. So are the IAM users when ``iam_users_listed`` is False (not selected).
    """
    users = list(users)
    listed = {u.user_id for u in users}
    actions: dict[str, Action] = {}
    unchanged = 0
    for user in users:
        held = state.held(user.user_id)
        if full:
            actions[user.user_id] = Action.SEND
        elif held is None:
            # The previous release delivered IAM users only: root is new to every sink.
            adopt = (
                state.adopt_before is not None
                and user.kind != "root"
                and user.created < as_utc(state.adopt_before)
            )
            actions[user.user_id] = Action.ADOPT if adopt else Action.SEND
        elif not held.complete:
            actions[user.user_id] = Action.IF_CHANGED
        elif not (detect_changes or user.kind == "root") or (
            # The listing reads every fact of root, whatever the strategy.
            (now[user.user_id] if now is not None else HeldUser.of(user)) == held
        ):
            unchanged += 1
        else:
            actions[user.user_id] = Action.IF_CHANGED
    # Held identities this listing says nothing about: kept as they are, never tombstoned.
    aside = {
        uid: value
        for uid, value in state.users.items()
        if uid not in listed and (is_root_key(uid) or not iam_users_listed)
    }
    deleted = []
    if complete_listing:
        deleted = [
            (uid, HeldUser.decode(value))
            for uid, value in sorted(state.users.items())
            if uid not in listed and uid not in aside
        ]
    gone = {uid for uid, _ in deleted}
    base = state.model_copy(
        update={
            "adopt_before": None,
            "users": aside
            if full
            else {uid: value for uid, value in state.users.items() if uid not in gone},
        }
    )
    return SinkPlan(actions=actions, deleted=deleted, unchanged=unchanged, base=base)


def decide(action: Action, held: HeldUser | None, now: HeldUser) -> tuple[bool, Reason]:
    """Send or not, and why, once a candidate's facts are final."""
    if action is Action.ADOPT:
        return False, Reason.ADOPTED
    if held is None:
        reason = Reason.NEW
    elif not held.complete and now.complete:
        reason = Reason.INCOMPLETE_RETRIED
    elif held != now:
        reason = Reason.CHANGED
    else:
        reason = Reason.UNCHANGED
    return action is Action.SEND or reason is not Reason.UNCHANGED, reason


def rebase(base: SinkState, now: SinkState, deleted: Iterable[str]) -> SinkState:
    """``base`` (the state this run read, its deletions removed) laid over the state as it is
    ``now``, just before this run writes it.

    Another run may have committed since this run read the state (``airflow dags test`` beside a
    scheduled run, two deployments on one metadata DB). Its users are kept as it left them,
    unless this run found them deleted, and its checkpoint if it is the later one: a write never
    takes the state back. With no such run, ``now`` is what this run read and this is ``base``.
    """
    gone = set(deleted)
    users = {**base.users, **{uid: v for uid, v in now.users.items() if uid not in gone}}
    moments = [as_utc(c) for c in (base.checkpoint, now.checkpoint) if c is not None]
    checkpoint = max(moments) if moments else None
    # The other run's tombstone counts too (the larger count where both ran in the same hour).
    hours = {**(base.tombstones or {})}
    for hour, n in (now.tombstones or {}).items():
        hours[hour] = max(n, hours.get(hour, 0))
    return base.model_copy(
        update={"users": users, "checkpoint": checkpoint, "tombstones": hours or None}
    )


def commit(
    base: SinkState,
    recorded: Mapping[str, str],
    *,
    checkpoint: datetime,
    partition: str | None,
    account: str | None,
    run_id: str | None = None,
    tombstones: int = 0,
) -> SinkState:
    """The state to write once a sink accepted every batch: the base, every candidate as now
    known, the checkpoint moved forward (never back), the committing run, and the ``tombstones``
    this run sent counted in the hour of ``checkpoint`` (counts older than ``TOMBSTONE_DAYS``
    before it are dropped)."""
    users = {**base.users, **recorded}
    moved = checkpoint if base.checkpoint is None else max(as_utc(base.checkpoint), checkpoint)
    return base.model_copy(
        update={
            "checkpoint": moved,
            "partition": partition or base.partition,
            "account": account or base.account,
            "users": dict(sorted(users.items())),
            "run_id": run_id or base.run_id,
            "tombstones": _count_tombstones(base, tombstones, checkpoint, moved),
        }
    )


def merge_event_run(
    state: SinkState,
    recorded: Mapping[str, str],
    deleted: Iterable[str],
    *,
    at: datetime,
    partition: str | None,
    account: str | None,
    run_id: str | None = None,
    tombstones: int = 0,
) -> SinkState:
    """The state once a sink accepted an event run's events: the users the run read as now
    known (``recorded``), those it found gone (``deleted``) removed, every other user as held, the
    checkpoint unmoved (an event run lists nobody, so it proves nothing about a window), and the
    ``tombstones`` counted in the hour of ``at`` (the run's ``run_after``)."""
    gone = set(deleted)
    users = {uid: v for uid, v in state.users.items() if uid not in gone}
    users.update(recorded)
    latest = max(m for m in (as_utc(at), state.checkpoint and as_utc(state.checkpoint)) if m)
    return state.model_copy(
        update={
            "partition": partition or state.partition,
            "account": account or state.account,
            "users": dict(sorted(users.items())),
            "run_id": run_id or state.run_id,
            "tombstones": _count_tombstones(state, tombstones, at, latest),
        }
    )


def _count_tombstones(
    base: SinkState, sent: int, at: datetime, latest: datetime
) -> dict[str, int] | None:
    """``base``'s tombstone counts with ``sent`` more in the hour of ``at``, those older than
    ``TOMBSTONE_DAYS`` before ``latest`` dropped."""
    hours = dict(base.tombstones or {})
    if sent:
        hour = as_utc(at).strftime(_HOUR)
        hours[hour] = hours.get(hour, 0) + sent
    oldest = (as_utc(latest) - timedelta(days=TOMBSTONE_DAYS)).strftime(_HOUR)
    return {h: n for h, n in sorted(hours.items()) if h >= oldest} or None
