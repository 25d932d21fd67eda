"""Collection strategies: how the facts about users are read from IAM.

The seam is two steps, run in different tasks:

* ``list_users`` (one task): the users inside the run's window plus an ``AccountCatalog`` of the
  account-wide facts (groups, customer-managed policies) read once per run.
* ``enrich_users`` (one mapped task per batch): fills, with per-user calls, every fact the listing
  left unknown (``None``).

``per_user`` lists with ``ListUsers`` and leaves groups, own policies and MFA to enrichment.
``bulk`` reads everything account-wide (GetAccountAuthorizationDetails + the credential report), so
enrichment has nothing left to do unless the credential report was denied (then MFA is read per
user). ``auto`` is ``bulk`` with a fall-back to ``per_user`` when the account-wide call is denied.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from enum import Enum

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from airflow_provider_awsiam_ocsf.hooks.iam import IamHook, error_code
from airflow_provider_awsiam_ocsf.policies import document_grants_admin
from airflow_provider_awsiam_ocsf.inventory import (
    AccountCatalog,
    Degradation,
    GroupFacts,
    IamUser,
    PolicyCatalog,
    as_utc,
    catalog_from_authorization_details,
    mfa_by_user_from_credential_report,
    policy_verdict,
    user_from_authorization_detail,
)

log = logging.getLogger(__name__)

ACCESS_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
AUTHORIZATION_DETAILS_FILTERS = ["User", "Group", "LocalManagedPolicy"]


class Strategy(str, Enum):
    AUTO = "auto"
    BULK = "bulk"
    PER_USER = "per_user"


class Window(BaseModel):
    """Users created in ``[since, until)``; an open end is ``None``."""

    since: datetime | None = None
    until: datetime | None = None

    def contains(self, created: datetime) -> bool:
        created = as_utc(created)
        return (self.since is None or created >= self.since) and (
            self.until is None or created < self.until
        )


class Listing(BaseModel):
    strategy: Strategy
    users: list[IamUser]
    catalog: AccountCatalog
    degraded: list[Degradation] = Field(default_factory=list)


def _denied(error: ClientError) -> bool:
    return error_code(error) in ACCESS_DENIED_CODES


def _degradation(error: ClientError) -> Degradation:
    return Degradation(api=error.operation_name, code=error_code(error))


def list_users(hook: IamHook, strategy: Strategy | str, window: Window) -> Listing:
    """Users created inside ``window``, sorted by creation time then name."""
    strategy = Strategy(strategy)
    if strategy is Strategy.PER_USER:
        listing = _list_per_user(hook, window)
    else:
        try:
            listing = _list_bulk(hook, window)
        except ClientError as error:
            if strategy is Strategy.BULK or not _denied(error):
                raise
            log.warning(
                "GetAccountAuthorizationDetails was denied (%s): falling back to the per_user "
                "strategy, which costs about 4 IAM calls per user. Allow "
                "iam:GetAccountAuthorizationDetails and iam:GenerateCredentialReport/"
                "iam:GetCredentialReport for the fast path.",
                error_code(error),
            )
            listing = _list_per_user(hook, window)
    listing.users.sort(key=lambda u: u.sort_key)
    return listing


# --- bulk --------------------------------------------------------------------------------------


def _list_bulk(hook: IamHook, window: Window) -> Listing:
    pages = []
    for page in hook.iter_authorization_details(AUTHORIZATION_DETAILS_FILTERS):
        pages.append(page)
        log.info(
            "GetAccountAuthorizationDetails page %d: %d users so far",
            len(pages),
            sum(len(p.get("UserDetailList", [])) for p in pages),
        )
    catalog = catalog_from_authorization_details(pages)
    users = [
        user_from_authorization_detail(detail, catalog)
        for page in pages
        for detail in page.get("UserDetailList", [])
        if window.contains(detail["CreateDate"])
    ]
    degraded = []
    try:
        mfa = mfa_by_user_from_credential_report(hook.get_credential_report())
    except (ClientError, TimeoutError) as error:
        # MFA is then read per user during enrichment (ListMFADevices).
        code = error_code(error) if isinstance(error, ClientError) else "Timeout"
        log.warning(
            "Credential report unavailable (%s): MFA will be read per user with ListMFADevices. "
            "Allow iam:GenerateCredentialReport and iam:GetCredentialReport to avoid those calls.",
            code,
        )
        degraded.append(Degradation(api="GetCredentialReport", code=code))
        mfa = {}
    for user in users:
        user.has_mfa = mfa.get(user.name)
    return Listing(strategy=Strategy.BULK, users=users, catalog=catalog, degraded=degraded)


# --- per_user ----------------------------------------------------------------------------------


def _list_per_user(hook: IamHook, window: Window) -> Listing:
    users = [
        IamUser(name=u["UserName"], user_id=u["UserId"], arn=u["Arn"], created=u["CreateDate"])
        for u in hook.iter_users()
        if window.contains(u["CreateDate"])
    ]
    if not users:
        return Listing(strategy=Strategy.PER_USER, users=[], catalog=AccountCatalog())
    catalog, degraded = _catalog_per_api(hook)
    return Listing(strategy=Strategy.PER_USER, users=users, catalog=catalog, degraded=degraded)


def _catalog_per_api(hook: IamHook) -> tuple[AccountCatalog, list[Degradation]]:
    """Groups and customer-managed policies, each read once per run."""
    degraded: list[Degradation] = []
    try:
        admin_arns = {
            p["Arn"]
            for p in hook.iter_attached_local_policies()
            if document_grants_admin(hook.get_policy_document(p["Arn"], p["DefaultVersionId"]))
        }
        policies = PolicyCatalog(admin_arns=admin_arns)
    except ClientError as error:
        log.warning(
            "Customer-managed policies unreadable (%s): admin status may be undecided "
            "for users holding them.",
            error_code(error),
        )
        degraded.append(_degradation(error))
        policies = PolicyCatalog(readable=False)

    groups = {}
    try:
        listed = list(hook.iter_groups())
    except ClientError as error:
        log.warning("ListGroups failed (%s): group privileges will be left out.", error_code(error))
        degraded.append(_degradation(error))
        listed = []
    for group in listed:
        facts = GroupFacts(name=group["GroupName"], arn=group["Arn"])
        try:
            attached = hook.list_attached_group_policies(facts.name)
            facts.policy_names = [p["PolicyName"] for p in attached]
            inline = hook.list_group_policy_documents(facts.name)
            facts.grants_admin = policy_verdict(
                (p["PolicyArn"] for p in attached), inline, policies
            )
        except ClientError as error:
            log.warning(
                "Group %s: %s failed (%s)", facts.name, error.operation_name, error_code(error)
            )
            degraded.append(_degradation(error))
        groups[facts.name] = facts
    return AccountCatalog(groups=groups, policies=policies), degraded


# --- enrichment (per batch) --------------------------------------------------------------------


def enrich_users(hook: IamHook, users: Iterable[IamUser], catalog: AccountCatalog) -> list[IamUser]:
    """Fill every fact the listing left unknown, one user at a time; failures degrade that user."""
    return [enrich_user(hook, user, catalog) for user in users]


def enrich_user(hook: IamHook, user: IamUser, catalog: AccountCatalog) -> IamUser:
    user = user.model_copy(deep=True)

    def attempt(read):
        try:
            read()
        except ClientError as error:
            user.degraded.append(_degradation(error))
            log.warning(
                "User %s: %s failed with %s; that fact is left out, the user is kept.",
                user.name,
                error.operation_name,
                error_code(error),
            )

    def read_groups():
        user.groups = [
            catalog.group(g["GroupName"], g["Arn"]) for g in hook.list_groups_for_user(user.name)
        ]

    def read_own_policies():
        attached = hook.list_attached_user_policies(user.name)
        inline = hook.list_user_policy_documents(user.name)
        user.grants_admin = policy_verdict(
            (p["PolicyArn"] for p in attached), inline, catalog.policies
        )

    def read_mfa():
        user.has_mfa = bool(hook.list_mfa_devices(user.name))

    if user.groups is None:
        attempt(read_groups)
    if user.grants_admin is None:
        attempt(read_own_policies)
    if user.has_mfa is None:
        attempt(read_mfa)
    return user


def count_degradations(users: Iterable[IamUser]) -> Counter[str]:
    """``"API:Code" -> users affected`` for the run summary."""
    return Counter(f"{d.api}:{d.code}" for u in users for d in set(u.degraded))
