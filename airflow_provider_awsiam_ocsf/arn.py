"""The one place that parses ARNs."""

from __future__ import annotations

from typing import NamedTuple

# Console hosts differ by partition; anything unknown falls back to the commercial console.
_CONSOLE_HOSTS = {
    "aws": "console.aws.amazon.com",
    "aws-us-gov": "console.amazonaws-us-gov.com",
    "aws-cn": "console.amazonaws.cn",
}


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


def account_id_of(value: str) -> str | None:
    """The 12-digit account id of an ARN, or None when the ARN has none or is malformed."""
    try:
        account = parse_arn(value).account_id
    except ValueError:
        return None
    return account if account.isdigit() and len(account) == 12 else None


def partition_of(value: str, default: str = "aws") -> str:
    try:
        return parse_arn(value).partition
    except ValueError:
        return default


def console_host(partition: str) -> str:
    return _CONSOLE_HOSTS.get(partition, _CONSOLE_HOSTS["aws"])
