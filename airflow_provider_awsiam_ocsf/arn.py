"""The one place that parses ARNs."""

from __future__ import annotations

import re
from typing import NamedTuple

# Console hosts differ by partition; anything unknown falls back to the commercial console.
_CONSOLE_HOSTS = {
    "aws": "console.aws.amazon.com",
    "aws-us-gov": "console.amazonaws-us-gov.com",
    "aws-cn": "console.amazonaws.cn",
}


# A role name, optionally behind a path ("ops/reader"): IAM's characters, at most 64 for the name.
_ROLE_NAME = re.compile(r"(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}", re.ASCII)


class Arn(NamedTuple):
    partition: str
    service: str
    region: str
    account_id: str
    resource: str


def parse_arn(value: str) -> Arn:
    """Split ``arn:partition:service:region:account:resource``; raise ValueError otherwise."""
    parts = value.split(":", 5) if isinstance(value, str) else []
    if len(parts) != 6 or parts[0] != "arn" or not parts[1] or not parts[2]:
        raise ValueError(f"not an ARN: {value!r}")
    return Arn(*parts[1:])


def is_account_id(value: object) -> bool:
    """True for an AWS account id: a string of exactly 12 digits (leading zeros included)."""
    return isinstance(value, str) and len(value) == 12 and value.isascii() and value.isdigit()


def role_arn(partition: str, account_id: str, role_name: str) -> str:
    """``arn:<partition>:iam::<account_id>:role/<role_name>``; a name may carry a path
    (``ops/reader`` gives ``role/ops/reader``). Raise ValueError for a bad account id or name."""
    if not partition:
        raise ValueError("an ARN needs a partition (aws, aws-us-gov, aws-cn, ...)")
    if not is_account_id(account_id):
        raise ValueError(f"not a 12-digit AWS account id: {account_id!r}")
    name = role_name.strip("/") if isinstance(role_name, str) else ""
    if not _ROLE_NAME.fullmatch(name):
        raise ValueError(f"not an IAM role name (optionally with a path): {role_name!r}")
    return f"arn:{partition}:iam::{account_id}:role/{name}"


def account_id_of(value: str) -> str | None:
    """The 12-digit account id of an ARN, or None when the ARN has none or is malformed."""
    try:
        account = parse_arn(value).account_id
    except ValueError:
        return None
    return account if is_account_id(account) else None


def partition_of(value: str, default: str = "aws") -> str:
    try:
        return parse_arn(value).partition
    except ValueError:
        return default


def console_host(partition: str) -> str:
    return _CONSOLE_HOSTS.get(partition, _CONSOLE_HOSTS["aws"])
