"""The one place that reads and writes the destinations' state (Airflow Variables).

``<dag_id>__state__<aws_conn_id>__<account id>__<sink>`` holds a :class:`~.state.SinkState` as
JSON, e.g. ``aws_iam_users_ocsf__state__aws_default__123456789012__file``. It is written once per
run and sink, as a whole, and only after that sink accepted every batch.

The previous release kept one checkpoint for all sinks, ``<dag_id>__checkpoint__<aws_conn_id>``
(an ISO 8601 timestamp). A sink without a state of its own starts from it: users created before
it are taken as delivered (recorded, not re-sent), later ones are sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from airflow.providers.common.compat.sdk import Variable

from airflow_provider_awsiam_ocsf.errors import CorruptCheckpointError, CorruptStateError
from airflow_provider_awsiam_ocsf.state import SinkState, StateError


def state_key_prefix(dag_id: str, aws_conn_id: str | None = None) -> str:
    """What the names of a DAG's state Variables (of one connection, if given) begin with."""
    prefix = f"{dag_id}__state__"
    return prefix if aws_conn_id is None else f"{prefix}{aws_conn_id}__"


def state_key(dag_id: str, aws_conn_id: str, account: str, sink: str) -> str:
    return f"{state_key_prefix(dag_id, aws_conn_id)}{account}__{sink}"


# What a state holds: an account's IAM users (and root user), or the Identity Center users of
# the account that owns the instance (values of Param ``identities``).
StateKind = Literal["iam_users", "identity_center"]
IAM_STATE: StateKind = "iam_users"
IDENTITY_CENTER_STATE: StateKind = "identity_center"


@dataclass(frozen=True)
class StateKey:
    """What a state Variable's name says."""

    dag_id: str
    aws_conn_id: str
    account: str
    sink: str
    kind: StateKind = IAM_STATE


def state_key_prefixes(dag_id: str) -> dict[StateKind, str]:
    """Kind of state -> what the names of a DAG's state Variables of that kind begin with."""
    return {
        IAM_STATE: state_key_prefix(dag_id),
        IDENTITY_CENTER_STATE: f"{dag_id}__identity_center__",
    }


def parse_state_key(key: str, dag_id: str) -> StateKey | None:
    """The parts of a state Variable name of ``dag_id`` (either kind), or None when ``key`` is
    not one (a connection id may hold ``__``: the account and sink are read from the end)."""
    for kind, prefix in state_key_prefixes(dag_id).items():
        if not key.startswith(prefix):
            continue
        conn_id, sep, rest = key[len(prefix) :].rpartition("__")
        conn_id, sep2, account = conn_id.rpartition("__")
        if not (sep and sep2 and conn_id and account.isdigit() and rest):
            return None
        return StateKey(dag_id=dag_id, aws_conn_id=conn_id, account=account, sink=rest, kind=kind)
    return None


def decode_sink_state(key: str, value: str) -> SinkState:
    """A state Variable's value; a corrupt one raises :class:`CorruptStateError` naming it."""
    try:
        return SinkState.from_json(value)
    except StateError as error:
        raise CorruptStateError(key, str(error)) from None
    except ValueError as error:  # not JSON at all
        raise CorruptStateError(key, f"not JSON ({error})") from None


def legacy_checkpoint_key(dag_id: str, aws_conn_id: str) -> str:
    """The previous release's single checkpoint (read, never written)."""
    return f"{dag_id}__checkpoint__{aws_conn_id}"


def parse_checkpoint(key: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except (AttributeError, ValueError):
        raise CorruptCheckpointError(key, value, "not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise CorruptCheckpointError(key, value, "no timezone; write it with +00:00")
    return moment.astimezone(UTC)


def load_sink_state(dag_id: str, aws_conn_id: str, account: str, sink: str) -> SinkState:
    """The sink's state; from the previous release's checkpoint when it has none; else empty
    (the sink then receives everyone)."""
    key = state_key(dag_id, aws_conn_id, account, sink)
    value = Variable.get(key, default=None)
    if value not in (None, ""):
        return decode_sink_state(key, value)
    legacy_key = legacy_checkpoint_key(dag_id, aws_conn_id)
    legacy = Variable.get(legacy_key, default=None)
    if legacy in (None, ""):
        return SinkState()
    since = parse_checkpoint(legacy_key, legacy)
    return SinkState(checkpoint=since, adopt_before=since)


def save_sink_state(
    dag_id: str, aws_conn_id: str, account: str, sink: str, state: SinkState
) -> str:
    """Write the sink's state in one Variable write; returns the Variable's name."""
    return _write_state(
        state_key(dag_id, aws_conn_id, account, sink),
        state,
        f"What the {sink!r} sink holds of account {account}: checkpoint and a fingerprint per "
        "user. Delete it to send everyone to this sink again.",
    )


def _write_state(key: str, state: SinkState, description: str) -> str:
    Variable.set(key, state.to_json(), description=description)
    return key


def identity_center_state_key(dag_id: str, aws_conn_id: str, owner: str, sink: str) -> str:
    """The Identity Center users' own state, beside the IAM ones: the accounts' states and these
    never share a Variable, so neither listing can tombstone the other's users."""
    return f"{state_key_prefixes(dag_id)[IDENTITY_CENTER_STATE]}{aws_conn_id}__{owner}__{sink}"


def load_identity_center_state(dag_id: str, aws_conn_id: str, owner: str, sink: str) -> SinkState:
    """The sink's Identity Center state; empty when it has none (the sink then gets everyone)."""
    key = identity_center_state_key(dag_id, aws_conn_id, owner, sink)
    value = Variable.get(key, default=None)
    return SinkState() if value in (None, "") else decode_sink_state(key, value)


def save_identity_center_state(
    dag_id: str, aws_conn_id: str, owner: str, sink: str, state: SinkState
) -> str:
    return _write_state(
        identity_center_state_key(dag_id, aws_conn_id, owner, sink),
        state,
        f"What the {sink!r} sink holds of the IAM Identity Center users of account {owner}. "
        "Delete it to send every Identity Center user to this sink again.",
    )
