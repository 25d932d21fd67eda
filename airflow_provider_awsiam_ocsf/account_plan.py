"""Which accounts of an AWS Organization are read, and the role sessions that read them.

Pure: plain ``organizations:ListAccounts`` items in, plain data out; no boto3, no Airflow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

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
