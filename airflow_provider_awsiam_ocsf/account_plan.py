"""Which accounts of an AWS Organization are read, and the role sessions that read them.

Pure: plain ``organizations:ListAccounts`` items in, plain data out; no boto3, no Airflow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_awsiam_ocsf.arn import is_account_id, role_arn
from airflow_provider_awsiam_ocsf.contracts import AccountGroup, AccountRef

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
) -> list[AccountRef]:
    """An :class:`AccountRef` per wanted account (duplicates dropped, order kept): the
    connection's ``own`` account is read with its credentials, every other one through its
    member role. An id that is not 12 digits fails. There is no limit on the number of accounts:
    :func:`group_accounts` keeps the mapped instances under ``[core] max_map_length``."""
    wanted = list(dict.fromkeys(wanted))
    bad = [a for a in wanted if not is_account_id(a)]
    if bad:
        raise ValueError(f"accounts must be 12-digit ids, not {bad}")
    return [
        account_ref(
            account,
            names.get(account),
            None if account == own else role_arn(partition, account, member_role_name),
        )
        for account in wanted
    ]


def accounts_per_group(accounts: int, per_task: int, limit: int) -> int:
    """``per_task``, raised when that many accounts per task would make more than ``limit``
    (``[core] max_map_length``) listing instances."""
    if per_task < 1:
        raise ValueError(f"accounts_per_task must be at least 1, not {per_task}")
    return max(per_task, -(-accounts // max(limit, 1)))


def group_label(first: int, refs: Sequence[AccountRef]) -> str:
    """``accounts 1–25 · Prod … Sandbox-17`` (numbers in the run, from 1; first and last names);
    one account keeps its own label. Never bare digits (native rendering makes them an int)."""
    if len(refs) == 1:
        return refs[0]["label"]
    names = [r["name"] or r["account"] for r in (refs[0], refs[-1])]
    return f"accounts {first}–{first + len(refs) - 1} · {names[0]} … {names[1]}"


def group_accounts(refs: Sequence[AccountRef], per_group: int) -> list[AccountGroup]:
    """The accounts in consecutive groups of ``per_group``, each read by one list_users
    instance."""
    groups = []
    for start in range(0, len(refs), per_group):
        chunk = list(refs[start : start + per_group])
        groups.append(
            AccountGroup(first=start + 1, label=group_label(start + 1, chunk), accounts=chunk)
        )
    return groups
