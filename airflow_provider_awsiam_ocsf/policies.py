"""The admin rule: which IAM policies make their holder an administrator.

A policy counts when it is the AWS managed ``AdministratorAccess`` policy (any partition), or when
its document has an ``Allow`` statement granting action ``*`` (or ``*:*``) on resource ``*``.
A policy's *name* is never evidence: ``ReadOnlyAdminNotes`` is just a name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from airflow_provider_awsiam_ocsf.arn import parse_arn

ADMINISTRATOR_ACCESS = "AdministratorAccess"
_ALL_ACTIONS = {"*", "*:*"}


def is_administrator_access_arn(policy_arn: str) -> bool:
    """True for ``arn:<partition>:iam::aws:policy/AdministratorAccess``."""
    try:
        arn = parse_arn(policy_arn)
    except ValueError:
        return False
    return (
        arn.service == "iam"
        and arn.account_id == "aws"
        and arn.resource == f"policy/{ADMINISTRATOR_ACCESS}"
    )


def load_document(document: Mapping[str, Any] | str) -> Mapping[str, Any]:
    """A policy document as a mapping (the raw API URL-encodes it; botocore usually decodes it)."""
    if isinstance(document, Mapping):
        return document
    text = document.strip()
    if not text.startswith("{"):
        text = unquote(text)
    return json.loads(text)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def statement_grants_admin(statement: Mapping[str, Any]) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    actions = {str(a).strip() for a in _as_list(statement.get("Action"))}
    resources = {str(r).strip() for r in _as_list(statement.get("Resource"))}
    return bool(actions & _ALL_ACTIONS) and "*" in resources


def document_grants_admin(document: Mapping[str, Any] | str) -> bool:
    """True when any statement allows every action on every resource."""
    statements = load_document(document).get("Statement", [])
    return any(statement_grants_admin(s) for s in _as_list(statements) if isinstance(s, Mapping))


def any_grants_admin(documents: Iterable[Mapping[str, Any] | str]) -> bool:
    return any(document_grants_admin(d) for d in documents)
