"""Collection strategies: how the facts about users are read from IAM.

The seam is two steps, run in different tasks:

* ``list_users`` (one task): the users inside the run's window plus an ``AccountCatalog`` of the
  account-wide facts (groups, customer-managed policies) read once per run.
* ``enrich_users`` (one mapped task per batch): fills, with per-user calls, every fact the listing
  left unknown (``None``).

``per_user`` lists with ``ListUsers`` and leaves groups, own policies, MFA, identity (GetUser),
password (GetLoginProfile) and access keys to enrichment. ``bulk`` reads everything account-wide
(GetAccountAuthorizationDetails + the credential report), so enrichment has nothing left to do but
read access key ids (``access_key_ids``), and the report's facts of users it could not give them for
(report denied, user missing from it, row unusable). ``auto`` is ``bulk`` with a fall-back to
``per_user`` when the account-wide call is denied.

With ``root`` among the ``identities``, the listing also holds the root user (identities.py): from
the credential report's ``<root_account>`` row (the report ``bulk`` reads anyway; ``per_user`` and
a root-only listing read it for root alone) and one ``GetAccountSummary``. It needs no enrichment.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from airflow_provider_awsiam_ocsf.collection_plan import (
    Fact,
    Listing,
    Strategy,
    Window,
    facts_to_read,
)
from airflow_provider_awsiam_ocsf.credential_report import (
    CredentialReport,
    attach_report_last_use,
    parse_credential_report,
)
from airflow_provider_awsiam_ocsf.hooks.base import is_transient
from airflow_provider_awsiam_ocsf.hooks.iam import IamHook, error_code
from airflow_provider_awsiam_ocsf.identities import Identity, check_identities, root_user
from airflow_provider_awsiam_ocsf.inventory import (
    AccessKeyFacts,
    AccountCatalog,
    Degradation,
    GroupFacts,
    IamUser,
    PolicyCatalog,
    access_key_from_metadata,
    catalog_from_authorization_details,
    identity_facts,
    password_use_facts,
    policy_verdict,
    user_from_authorization_detail,
    user_from_listing,
)
from airflow_provider_awsiam_ocsf.policies import document_grants_admin

log = logging.getLogger(__name__)

ACCESS_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
# The only errors that leave a user's fact out (the user is delivered, marked degraded, and read
# again by later runs): a refusal, or a user deleted while the run reads it. Anything else that
# botocore's retries did not overcome fails the task, so Airflow retries it and no state moves.
PERMANENT_USER_ERRORS = ACCESS_DENIED_CODES | {"NoSuchEntity"}
AUTHORIZATION_DETAILS_FILTERS = ["User", "Group", "LocalManagedPolicy"]


def _denied(error: ClientError) -> bool:
    return error_code(error) in ACCESS_DENIED_CODES


def _degradation(error: ClientError) -> Degradation:
    return Degradation(api=error.operation_name, code=error_code(error))


# What bulk's listing made of the credential report: the report, the degradation that kept it
# out, or None (not read: per_user, or IAM users not selected).
_ReportRead = CredentialReport | Degradation | None


def list_users(
    hook: IamHook,
    strategy: Strategy | str,
    window: Window,
    *,
    identities: Iterable[str] = (Identity.IAM_USERS,),
) -> Listing:
    """Users created inside ``window`` of the selected ``identities`` (IAM users, root), sorted
    by creation time then name."""
    strategy = Strategy(strategy)
    kinds = check_identities(identities)
    report: _ReportRead = None
    if Identity.IAM_USERS not in kinds:
        listing = Listing(strategy=strategy, users=[], catalog=AccountCatalog())
    elif strategy is Strategy.PER_USER:
        listing = _list_per_user(hook, window)
    else:
        try:
            listing, report = _list_bulk(hook, window)
        except ClientError as error:
            if strategy is Strategy.BULK or not _denied(error):
                raise
            log.warning(
                "GetAccountAuthorizationDetails was denied (%s): falling back to the per_user "
                "strategy, which costs about 7 IAM calls per user. Allow "
                "iam:GetAccountAuthorizationDetails and iam:GenerateCredentialReport/"
                "iam:GetCredentialReport for the fast path.",
                error_code(error),
            )
            listing = _list_per_user(hook, window)
    listing.identities = sorted(kinds)
    if Identity.ROOT in kinds:
        before = dict(hook.calls)
        _list_root(hook, listing, window, report)
        listing.root_calls = {
            api: n - before.get(api, 0) for api, n in hook.calls.items() if n > before.get(api, 0)
        }
    listing.users.sort(key=lambda u: u.sort_key)
    return listing


def _list_root(hook: IamHook, listing: Listing, window: Window, report: _ReportRead) -> None:
    """Add the root user to ``listing`` when its report row can be read; otherwise leave it out
    (counted in ``listing.degraded``, logged), never guessed."""
    if report is None:
        read, degraded = _credential_report(hook)
        report = read if read is not None else degraded[0]
        listing.degraded.extend(degraded)
    if isinstance(report, Degradation):
        log.warning("Root user left out: the credential report is unavailable (%s).", report.code)
        return
    # Read whenever the report is: AWS always writes the root row, so the call is always
    # needed, and a run costs the same whatever the report holds.
    summary, failed = None, None
    try:
        summary = hook.get_account_summary()
    except ClientError as error:
        _raise_unless_permanent(error)
        log.warning(
            "GetAccountSummary failed (%s): root MFA comes from the credential report, and "
            "whether root holds keys right now is left out.",
            error_code(error),
        )
        failed = _degradation(error)
    if report.root is None:
        log.warning(
            "Root user left out: the credential report has no usable <root_account> row "
            "(AWS always writes one; moto does not)."
        )
        return
    root = root_user(report.root, summary)
    if root is None or not window.contains(root.created):
        return
    if failed is not None:
        root.degraded.append(failed)
    listing.users.append(root)


def _raise_unless_permanent(error: ClientError, whose: str = "the account") -> None:
    """Re-raise ``error`` unless it is one of :data:`PERMANENT_USER_ERRORS`."""
    if error_code(error) in PERMANENT_USER_ERRORS:
        return
    log.error(
        "Reading %s: %s failed with %s%s after botocore's retries: failing the task so that "
        "Airflow retries it (nothing is delivered or recorded for this batch until then).",
        whose,
        error.operation_name,
        error_code(error),
        " (transient)" if is_transient(error) else "",
    )
    raise error


# --- bulk --------------------------------------------------------------------------------------


def _list_bulk(hook: IamHook, window: Window) -> tuple[Listing, _ReportRead]:
    # Asked first, so that AWS builds the report while the details are paged: the same calls
    # as asking after them (two GenerateCredentialReport when it is not ready, one when it is),
    # without waiting for it once they are read.
    ready = hook.request_credential_report()
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
    report, degraded = _credential_report(hook, ready)
    fallbacks = 0
    for user in users:
        row = report.row_for(user.name, user.arn) if report else None
        if row is None:
            fallbacks += 1
        else:
            user.learn(row.user_facts())
    if report and fallbacks:
        log.warning(
            "%d users got no facts from the credential report (newer than it, or an unusable "
            "row; unusable rows: %d, %s): their MFA, password and keys are read per user.",
            fallbacks,
            report.unusable_rows,
            report.problems or "none",
        )
    listing = Listing(
        strategy=Strategy.BULK,
        users=users,
        catalog=catalog,
        degraded=degraded,
        report_unusable_rows=report.unusable_rows if report else 0,
        report_fallback_users=fallbacks,
    )
    return listing, report if report is not None else degraded[0]


def _credential_report(
    hook: IamHook, ready: bool = False
) -> tuple[CredentialReport | None, list[Degradation]]:
    try:
        return parse_credential_report(hook.get_credential_report(ready=ready)), []
    except (ClientError, TimeoutError) as error:
        if isinstance(error, ClientError) and is_transient(error):
            raise
        code = error_code(error) if isinstance(error, ClientError) else "Timeout"
        log.warning(
            "Credential report unavailable (%s): MFA, password and access keys will be read per "
            "user (ListMFADevices, GetLoginProfile, ListAccessKeys, GetUser). Allow "
            "iam:GenerateCredentialReport and iam:GetCredentialReport to avoid those calls.",
            code,
        )
        return None, [Degradation(api="GetCredentialReport", code=code)]


# --- per_user ----------------------------------------------------------------------------------


def _list_per_user(hook: IamHook, window: Window) -> Listing:
    users = [user_from_listing(u) for u in hook.iter_users() if window.contains(u["CreateDate"])]
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
        _raise_unless_permanent(error)
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
        _raise_unless_permanent(error)
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
            _raise_unless_permanent(error)
            log.warning(
                "Group %s: %s failed (%s)", facts.name, error.operation_name, error_code(error)
            )
            degraded.append(_degradation(error))
        groups[facts.name] = facts
    return AccountCatalog(groups=groups, policies=policies), degraded


# --- enrichment (per batch) --------------------------------------------------------------------


PROGRESS_EVERY = 100  # users between progress lines


def enrich_users(
    hook: IamHook,
    users: Iterable[IamUser],
    catalog: AccountCatalog,
    *,
    access_key_ids: bool = True,
    label: str = "batch",
) -> list[IamUser]:
    """Fill every fact the listing left unknown, one user at a time, logging progress every
    :data:`PROGRESS_EVERY` users of ``label``. A refused call or a user deleted meanwhile
    degrades that user; any other error (throttling past retries, 5xx) raises."""
    users = list(users)
    enriched = []
    for done, user in enumerate(users, start=1):
        enriched.append(enrich_user(hook, user, catalog, access_key_ids=access_key_ids))
        if done % PROGRESS_EVERY == 0:
            log.info("%s: enriched %d/%d users", label, done, len(users))
    return enriched


def enrich_user(
    hook: IamHook, user: IamUser, catalog: AccountCatalog, *, access_key_ids: bool = True
) -> IamUser:
    """The user with every unknown fact read by per-user calls (``collection_plan.facts_to_read``
    says which, :data:`READERS` how).

    ``access_key_ids``: read key ids (ListAccessKeys) for keys known from the credential report
    only, and each key's last use (GetAccessKeyLastUsed) unless the report gives it exactly.
    """
    reading = _Reading(hook, user.model_copy(deep=True), catalog, access_key_ids)
    for fact in facts_to_read(reading.user, access_key_ids=access_key_ids):
        reading.attempt(READERS[fact])
    return reading.user


@dataclass
class _Reading:
    """One user being enriched, and what its readers read with."""

    hook: IamHook
    user: IamUser
    catalog: AccountCatalog
    access_key_ids: bool

    def attempt(self, read: Callable[[_Reading], None]) -> None:
        """Run ``read``; a refusal or a deleted user leaves its fact out and degrades the user."""
        try:
            read(self)
        except ClientError as error:
            _raise_unless_permanent(error, f"user {self.user.name}")
            self.user.degraded.append(_degradation(error))
            log.warning(
                "User %s: %s failed with %s; that fact is left out, the user is kept.",
                self.user.name,
                error.operation_name,
                error_code(error),
            )

    def read_last_uses(self, keys: Iterable[AccessKeyFacts]) -> None:
        for key in keys:
            self.attempt(partial(_read_last_use, key=key))


def _read_groups(r: _Reading) -> None:
    listed = r.hook.list_groups_for_user(r.user.name)
    r.user.groups = [r.catalog.group(g["GroupName"], g["Arn"]) for g in listed]


def _read_own_policies(r: _Reading) -> None:
    attached = r.hook.list_attached_user_policies(r.user.name)
    inline = r.hook.list_user_policy_documents(r.user.name)
    r.user.grants_admin = policy_verdict(
        (p["PolicyArn"] for p in attached), inline, r.catalog.policies
    )


def _read_mfa(r: _Reading) -> None:
    r.user.has_mfa = bool(r.hook.list_mfa_devices(r.user.name))


def _read_identity(r: _Reading) -> None:
    read = r.hook.get_user(r.user.name)
    r.user.learn({**identity_facts(read), **password_use_facts(read)})


def _read_login_profile(r: _Reading) -> None:
    # NoSuchEntity (None) is a fact: no console password. Its last change is known only from the
    # credential report (the profile's CreateDate is the first password's creation).
    r.user.password_enabled = r.hook.get_login_profile(r.user.name) is not None


def _read_last_use(r: _Reading, key: AccessKeyFacts) -> None:
    if key.id is not None:  # always, for keys read from ListAccessKeys
        key.last_used = r.hook.get_access_key_last_used(key.id).get("LastUsedDate")


def _read_access_keys(r: _Reading) -> None:
    r.user.access_keys = [access_key_from_metadata(k) for k in r.hook.list_access_keys(r.user.name)]
    if r.access_key_ids:
        r.read_last_uses(r.user.access_keys)


def _read_access_key_ids(r: _Reading) -> None:
    listed = [access_key_from_metadata(k) for k in r.hook.list_access_keys(r.user.name)]
    r.user.access_keys, unmatched = attach_report_last_use(listed, r.user.access_keys or [])
    r.read_last_uses(unmatched)


# One reader per fact: a new per-user fact is a Fact, a line in facts_to_read and a reader here.
READERS: dict[Fact, Callable[[_Reading], None]] = {
    Fact.GROUPS: _read_groups,
    Fact.OWN_POLICIES: _read_own_policies,
    Fact.MFA: _read_mfa,
    Fact.IDENTITY: _read_identity,
    Fact.LOGIN_PROFILE: _read_login_profile,
    Fact.ACCESS_KEYS: _read_access_keys,
    Fact.ACCESS_KEY_IDS: _read_access_key_ids,
}


# --- event runs: the users named by IAM events, read live -----------------------------------------


@dataclass
class NamedUsers:
    """What an event run read of the users its events name, in one account."""

    users: list[IamUser]  # read live, every fact the per-user calls give
    gone: list[str]  # names IAM no longer has
    unreadable: list[str]  # names whose GetUser was refused


def read_named_users(
    hook: IamHook,
    users: Iterable[str] = (),
    groups: Iterable[str] = (),
    policies: Iterable[str] = (),
    *,
    access_key_ids: bool = True,
) -> NamedUsers:
    """Each user the names reach (a group: its members; a managed policy: the users it is attached
    to, directly or through a group), read once with per-user calls, never from the credential
    report (it can be 4 hours old). A refusal or a vanished group or policy reads nothing more
    for it; any other error (throttling past retries, 5xx) raises, so the task is retried."""
    names = set(users)
    group_names = set(groups)
    for policy in sorted(set(policies)):
        found = _attempt_listing(partial(hook.list_entities_for_policy, policy), f"policy {policy}")
        if found is not None:
            names.update(found[0])
            group_names.update(found[1])
    for group in sorted(group_names):
        members = _attempt_listing(partial(hook.list_group_members, group), f"group {group}")
        names.update(members or [])
    result = NamedUsers(users=[], gone=[], unreadable=[])
    if not names:
        return result
    catalog, _ = _catalog_per_api(hook)
    for name in sorted(names):
        try:
            read = hook.get_user(name)
        except ClientError as error:
            if error_code(error) == "NoSuchEntity":
                result.gone.append(name)
                continue
            _raise_unless_permanent(error, f"user {name}")
            log.warning("User %s: GetUser refused (%s): not read this run", name, error_code(error))
            result.unreadable.append(name)
            continue
        user = user_from_listing(read)
        user.learn({**identity_facts(read), **password_use_facts(read)})
        result.users.append(enrich_user(hook, user, catalog, access_key_ids=access_key_ids))
    return result


def _attempt_listing(read: Callable[[], Any], what: str) -> Any:
    try:
        return read()
    except ClientError as error:
        _raise_unless_permanent(error, what)
        log.warning(
            "%s: %s failed (%s): its users are not read",
            what,
            error.operation_name,
            error_code(error),
        )
        return None


def count_degradations(users: Iterable[IamUser]) -> Counter[str]:
    """``"API:Code" -> users affected`` for the run summary."""
    return Counter(d.label for u in users for d in set(u.degraded))
