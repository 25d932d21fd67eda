"""What a sink task's asset event says in its ``extra``: per account, the events this task
instance delivered and how many of them were tombstones (pure).

The Assets view of every supported Airflow shows an event's ``extra``, so what each delivery
carried is visible there even without the IAM inventory page. Counts only: never a user's name,
ARN or key id (the asset event is readable by anyone who may read assets).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def delivery_extra(sink: str, events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """``{"sink": …, "events": n, "accounts": {<account id>: {"events": n, "tombstones": n}}}``;
    the account of an event is its ``user.org.uid``."""
    accounts: dict[str, dict[str, int]] = {}
    total = 0
    for event in events:
        user = event.get("user", {})
        account = str(user.get("org", {}).get("uid", "unknown"))
        counts = accounts.setdefault(account, {"events": 0, "tombstones": 0})
        counts["events"] += 1
        if "deleted_time" in user.get("ldap_person", {}):
            counts["tombstones"] += 1
        total += 1
    return {"sink": sink, "events": total, "accounts": dict(sorted(accounts.items()))}
