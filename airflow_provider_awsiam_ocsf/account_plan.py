"""Which accounts of an AWS Organization are read, and the role sessions that read them.

Pure: plain ``organizations:ListAccounts`` items in, plain data out; no boto3, no Airflow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_awsiam_ocsf.arn import is_account_id, role_arn
from airflow_provider_awsiam_ocsf.contracts import AccountRef

ACTIVE = "ACTIVE"
DEFAULT_ROLE_SESSION_NAME = "airflow-iam-inventory"

# STS RoleSessionName: 2 to 64 characters of [\w+=,.@-] (ASCII word characters).
_SESSION_NAME_INVALID = re.compile(r"[^\w+=,.@-]+", re.ASCII)
_SESSION_NAME_MAX = 64


def split_active(
    accounts: Iterable[Mapping[str, Any]],
) -> tuple[list[Mapping[str, Any]], list[dict[str, str | None]]]:
    """Split ListAccounts items into the ``ACTIVE`` ones (returned as given) and the skipped ones.

    Reads ``State`` (``Status`` is retired). A skipped item keeps ``Id``, ``Name`` and ``State``
    only (JSON-safe, for the run summary); an item without ``State`` is skipped as ``UNKNOWN``.
    """
    active: list[Mapping[str, Any]] = []
    skipped: list[dict[str, str | None]] = []
    for account in accounts:
        state = account.get("State") or "UNKNOWN"
        if state == ACTIVE:
            active.append(account)
        else:
            skipped.append({"Id": account["Id"], "Name": account.get("Name"), "State": state})
    return active, skipped


def valid_role_session_name(text: str) -> str:
    """A valid STS ``RoleSessionName`` from ``text`` (e.g. ``airflow-<dag_id>``): characters
    outside ``[\\w+=,.@-]`` become ``-``, cut to 64; the default when fewer than 2 are left."""
    name = _SESSION_NAME_INVALID.sub("-", text or "")[:_SESSION_NAME_MAX]
    return name if len(name) >= 2 else DEFAULT_ROLE_SESSION_NAME


def account_ref(account: str, name: str | None, role: str | None) -> AccountRef:
    return AccountRef(
        account=account,
        name=name,
        role_arn=role,
        # Never the bare id: rendered natively, a label of digits becomes an int and fails.
        label=f"{account} · {name}" if name else f"account {account}",
    )


def plan_accounts(
    wanted: Sequence[str],
    names: Mapping[str, str | None],
    *,
    own: str,
    partition: str,
    member_role_name: str,
    limit: int,
) -> list[AccountRef]:
    """An :class:`AccountRef` per wanted account (duplicates dropped, order kept): the
    connection's ``own`` account is read with its credentials, every other one through its
    member role. More than ``limit`` accounts (``[core] max_map_length``: ``list_users`` is mapped
    over them) fails, as does an id that is not 12 digits."""
    wanted = list(dict.fromkeys(wanted))
    bad = [a for a in wanted if not is_account_id(a)]
    if bad:
        raise ValueError(f"accounts must be 12-digit ids, not {bad}")
    if len(wanted) > limit:
        raise ValueError(
            f"{len(wanted)} accounts: more than [core] max_map_length ({limit}); "
            "split them over several DAGs with lists of ids"
        )
    return [
        account_ref(
            account,
            names.get(account),
            None if account == own else role_arn(partition, account, member_role_name),
        )
        for account in wanted
    ]
