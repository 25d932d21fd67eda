"""Which identities are inventoried (Param ``identities``), and the root user (pure).

``iam_users`` are the IAM users (§4). ``root`` is the account's root user, read from the
credential report's ``<root_account>`` row and ``GetAccountSummary`` (SPEC §11).
``identity_center`` are the IAM Identity Center users (``identity_center.py``), read once a run.
Nothing here talks to AWS or Airflow: ``collection`` reads, this decides.

The root user travels through the pipeline as an :class:`~.inventory.IamUser` of ``kind`` root
whose ``user_id`` is the account id: that id is its key in each sink's state (IAM UserIds are
``AIDA…``, never all digits, so the two never meet). It is fingerprinted and re-sent on change as
any user, but never concluded deleted from a listing: an account's root user goes only with the
account, and a run that could not read it (report denied) or did not select it keeps it held.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from airflow_provider_awsiam_ocsf.arn import parse_arn
from airflow_provider_awsiam_ocsf.credential_report import CredentialReportRow
from airflow_provider_awsiam_ocsf.inventory import IamUser


class Identity(StrEnum):
    IAM_USERS = "iam_users"
    ROOT = "root"
    IDENTITY_CENTER = "identity_center"


IDENTITIES = tuple(i.value for i in Identity)
DEFAULT_IDENTITIES = (Identity.IAM_USERS.value, Identity.ROOT.value)
ROOT_NAME = "root"


def check_identities(identities: str | Iterable[str]) -> frozenset[Identity]:
    """The selected identities; a clear error for an empty selection or an unknown kind."""
    chosen = [identities] if isinstance(identities, str) else list(identities)
    unknown = sorted(set(chosen) - set(IDENTITIES))
    if unknown or not chosen:
        raise ValueError(
            f"identities must be a non-empty list of {list(IDENTITIES)}, not {chosen!r}"
            + (f" (unknown: {unknown})" if unknown else "")
        )
    return frozenset(Identity(i) for i in chosen)


def is_root_key(user_id: str) -> bool:
    """Is this state key (a user id) the root user's (the account id)?"""
    return user_id.isdigit()


def root_user(row: CredentialReportRow, summary: Mapping[str, Any] | None) -> IamUser | None:
    """The root user from the report's ``<root_account>`` row and, when read, GetAccountSummary's
    ``SummaryMap``; None when the row lacks its creation time (nothing to date the event with).

    * MFA: ``AccountMFAEnabled`` (live), else the report's ``mfa_active`` (up to 4 hours old).
    * password: AWS reports ``not_supported`` for root; only ``false`` means no password.
    * access keys: the report's slots (no ids: root key ids are not listable).
    """
    if row.user_creation_time is None:
        return None
    account = parse_arn(row.arn).account_id
    has_mfa = row.mfa_active
    keys_present = None
    if summary is not None:
        if "AccountMFAEnabled" in summary:
            has_mfa = bool(summary["AccountMFAEnabled"])
        if "AccountAccessKeysPresent" in summary:
            keys_present = bool(summary["AccountAccessKeysPresent"])
    keys = [k.facts() for k in row.access_keys]
    return IamUser(
        kind="root",
        name=ROOT_NAME,
        user_id=account,
        arn=row.arn,
        created=row.user_creation_time,
        groups=[],
        grants_admin=True,
        has_mfa=has_mfa,
        password_enabled=row.password_enabled is not False,
        password_last_used=row.password_last_used,
        password_last_used_read=True,
        password_last_changed=row.password_last_changed,
        access_keys=[k for k in keys if k is not None],
        access_keys_present=keys_present,
    )
