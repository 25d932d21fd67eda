"""The IAM credential report (CSV) as typed rows, and how its key slots meet listed keys (pure).

A row that does not parse cleanly is unusable as a whole: its user gets no facts from the report
and is read per user instead, so a fact is never read from another user's row. Nothing here talks
to AWS or Airflow.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from airflow_provider_awsiam_ocsf.arn import parse_arn
from airflow_provider_awsiam_ocsf.inventory import AccessKeyFacts, as_utc

REPORT_COLUMNS = (
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    *(
        f"access_key_{n}_{field}"
        for n in (1, 2)
        for field in (
            "active",
            "last_rotated",
            "last_used_date",
            "last_used_region",
            "last_used_service",
        )
    ),
    *(f"cert_{n}_{field}" for n in (1, 2) for field in ("active", "last_rotated")),
)
ROOT_ROW = "<root_account>"
# AWS's words for "no value": N/A (does not apply: no password, no key, never used),
# no_information (password never used, or last used before AWS recorded it), not_supported.
ABSENT_VALUES = frozenset({"N/A", "no_information", "not_supported", ""})


class ReportKeySlot(BaseModel):
    """One ``access_key_N_*`` slot; ``last_rotated`` is the key's creation (None: empty slot)."""

    active: bool | None
    last_rotated: datetime | None
    last_used_date: datetime | None
    last_used_region: str | None
    last_used_service: str | None

    def facts(self) -> AccessKeyFacts | None:
        if self.last_rotated is None or self.active is None:
            return None
        return AccessKeyFacts(
            status="Active" if self.active else "Inactive",
            created=self.last_rotated,
            last_used=self.last_used_date,
        )


class ReportCertSlot(BaseModel):
    active: bool | None
    last_rotated: datetime | None


class CredentialReportRow(BaseModel):
    """One user's row of the credential report, every column parsed."""

    user: str
    arn: str
    user_creation_time: datetime | None
    password_enabled: bool | None
    password_last_used: datetime | None
    password_last_changed: datetime | None
    password_next_rotation: datetime | None
    mfa_active: bool | None
    access_keys: list[ReportKeySlot]
    certificates: list[ReportCertSlot]

    def user_facts(self) -> dict[str, Any]:
        """The IamUser facts this row gives. Without a password, AWS reports its last use and
        change as N/A; moto fills password_last_changed with the user's creation: ignored."""
        has_password = self.password_enabled
        keys = [k.facts() for k in self.access_keys]
        return {
            "has_mfa": self.mfa_active,
            "password_enabled": has_password,
            "password_last_used": self.password_last_used if has_password else None,
            "password_last_used_read": has_password is not None,
            "password_last_changed": self.password_last_changed if has_password else None,
            "access_keys": [k for k in keys if k is not None],
        }


class CredentialReport(BaseModel):
    """The usable rows of a credential report by user name, and how many rows were not usable.

    A row that does not parse cleanly is dropped whole, never read with shifted columns: its user
    gets no facts from the report (it is read per user instead).
    """

    rows: dict[str, CredentialReportRow] = Field(default_factory=dict)
    root: CredentialReportRow | None = Field(
        default=None,
        description="The <root_account> row (the root user), when present and usable.",
    )
    unusable_rows: int = 0
    problems: dict[str, int] = Field(
        default_factory=dict, description="Why rows were unusable: reason -> rows."
    )

    def row_for(self, name: str, arn: str) -> CredentialReportRow | None:
        """The user's row, only when its ARN is the user's too."""
        row = self.rows.get(name)
        return row if row is not None and row.arn == arn else None


class _UnusableRow(ValueError):
    pass


def _report_bool(value: str) -> bool | None:
    if value in ABSENT_VALUES:
        return None
    if value not in ("true", "false"):
        raise _UnusableRow("bad value")
    return value == "true"


def _report_time(value: str) -> datetime | None:
    if value in ABSENT_VALUES:
        return None
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        raise _UnusableRow("bad value") from None


def _report_text(value: str) -> str | None:
    return None if value in ABSENT_VALUES else value


def _user_matches_arn(name: str, arn: str) -> bool:
    try:
        resource = parse_arn(arn).resource
    except ValueError:
        return False
    return resource.startswith("user/") and resource.rsplit("/", 1)[-1] == name


def _is_root_arn(arn: str) -> bool:
    try:
        return parse_arn(arn).resource == "root"
    except ValueError:
        return False


def _report_row(header: list[str], fields: list[str]) -> CredentialReportRow:
    if len(fields) != len(header):
        raise _UnusableRow("wrong number of fields")
    row = dict(zip(header, fields, strict=True))
    if row["user"] == ROOT_ROW:
        if not _is_root_arn(row["arn"]):
            raise _UnusableRow("root row without the root ARN")
    elif not _user_matches_arn(row["user"], row["arn"]):
        raise _UnusableRow("user and arn disagree")
    return CredentialReportRow(
        user=row["user"],
        arn=row["arn"],
        user_creation_time=_report_time(row["user_creation_time"]),
        password_enabled=_report_bool(row["password_enabled"]),
        password_last_used=_report_time(row["password_last_used"]),
        password_last_changed=_report_time(row["password_last_changed"]),
        password_next_rotation=_report_time(row["password_next_rotation"]),
        mfa_active=_report_bool(row["mfa_active"]),
        access_keys=[
            ReportKeySlot(
                active=_report_bool(row[f"access_key_{n}_active"]),
                last_rotated=_report_time(row[f"access_key_{n}_last_rotated"]),
                last_used_date=_report_time(row[f"access_key_{n}_last_used_date"]),
                last_used_region=_report_text(row[f"access_key_{n}_last_used_region"]),
                last_used_service=_report_text(row[f"access_key_{n}_last_used_service"]),
            )
            for n in (1, 2)
        ],
        certificates=[
            ReportCertSlot(
                active=_report_bool(row[f"cert_{n}_active"]),
                last_rotated=_report_time(row[f"cert_{n}_last_rotated"]),
            )
            for n in (1, 2)
        ],
    )


def parse_credential_report(content: bytes | str) -> CredentialReport:
    """The credential report CSV, row by row; the root account's row is kept apart (``root``).

    The header must name exactly the 22 documented columns (in any order), else no row is used.
    A row with the wrong number of fields (moto does not quote a name containing a comma), a
    user name that is not the last part of its ARN, or a value that does not parse is unusable,
    and so are rows that name the same user twice.
    """
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    lines = [fields for fields in csv.reader(io.StringIO(text)) if fields]
    if not lines:
        return CredentialReport()
    # No user name can contain "<": wherever the user column is, this is the root account's row.
    header = lines[0]
    data = [f for f in lines[1:] if ROOT_ROW not in f]
    root_rows = [f for f in lines[1:] if ROOT_ROW in f]
    problems: Counter[str] = Counter()
    if len(header) != len(REPORT_COLUMNS) or set(header) != set(REPORT_COLUMNS):
        problems["header is not the 22 documented columns"] = len(data)
        return CredentialReport(unusable_rows=len(data), problems=dict(problems))
    root = None
    if len(root_rows) == 1:
        try:
            root = _report_row(header, root_rows[0])
        except _UnusableRow:
            root = None  # root's facts are left out, never read from a misaligned row
    parsed: list[CredentialReportRow] = []
    for fields in data:
        try:
            parsed.append(_report_row(header, fields))
        except _UnusableRow as problem:
            problems[str(problem)] += 1
    per_user = Counter(row.user for row in parsed)
    rows = {row.user: row for row in parsed if per_user[row.user] == 1}
    duplicates = sum(n for n in per_user.values() if n > 1)
    if duplicates:
        problems["user named by several rows"] = duplicates
    return CredentialReport(
        rows=rows, root=root, unusable_rows=sum(problems.values()), problems=dict(problems)
    )


def attach_report_last_use(
    listed: Iterable[AccessKeyFacts], slots: Iterable[AccessKeyFacts]
) -> tuple[list[AccessKeyFacts], list[AccessKeyFacts]]:
    """Give listed keys (with ids) the last use of the credential report slot created in the same
    second. A match must be exact and one-to-one: a second shared by two keys or two slots matches
    nothing. Returns (every listed key, the listed keys left unmatched)."""
    listed = [k.model_copy() for k in listed]
    slots = list(slots)
    listed_per_second = Counter(k.created for k in listed)
    slot_per_second = {s.created: s for s in slots}
    slots_per_second = Counter(s.created for s in slots)
    unmatched = []
    for key in listed:
        if listed_per_second[key.created] == 1 and slots_per_second[key.created] == 1:
            key.last_used = slot_per_second[key.created].last_used
        else:
            unmatched.append(key)
    return listed, unmatched
