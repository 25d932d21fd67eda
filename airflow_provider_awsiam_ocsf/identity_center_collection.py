"""Reading IAM Identity Center: one :class:`~.identity_center.IdentityCenterSnapshot` per run.

Calls (README, "IAM Identity Center users"): ``sso-admin ListInstances``; ``identitystore
ListUsers`` and ``ListGroups`` (100 a page) and ``ListGroupMemberships`` per group; per permission
set ``DescribePermissionSet``, ``ListManagedPoliciesInPermissionSet``,
``GetInlinePolicyForPermissionSet``, ``ListCustomerManagedPolicyReferencesInPermissionSet`` and
``ListAccountsForProvisionedPermissionSet``, then ``ListAccountAssignments`` per account it is
provisioned to; for a customer-managed reference, ``iam:GetPolicy`` + ``GetPolicyVersion`` in the
assignment's account (through its member role). The cost grows with users / 100, groups and
permission sets (and their accounts), never with users × accounts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from airflow_provider_awsiam_ocsf.arn import parse_arn
from airflow_provider_awsiam_ocsf.errors import (
    IdentityCenterUnreadableError,
    MemberAccountUnreadableError,
)
from airflow_provider_awsiam_ocsf.hooks.base import error_code, is_transient
from airflow_provider_awsiam_ocsf.hooks.identity_center import IdentityCenterHook
from airflow_provider_awsiam_ocsf.identity_center import (
    Assignment,
    IdentityCenterSnapshot,
    PermissionSet,
    permission_set_grants_admin,
    verdict_key,
)
from airflow_provider_awsiam_ocsf.policies import document_grants_admin

log = logging.getLogger(__name__)

# (account, policy ARN) -> the policy's default document; raises when it cannot be read
PolicyReader = Callable[[str, str], Any]


def read_identity_center(
    hook: IdentityCenterHook, read_policy: PolicyReader, *, caller_account: str
) -> IdentityCenterSnapshot:
    """The instance visible to ``hook`` (its region), read in full; a refusal anywhere raises
    :class:`IdentityCenterUnreadableError` (what to fix), a transient error raises as it is."""
    try:
        return _read(hook, read_policy, caller_account)
    except ClientError as error:
        if is_transient(error):
            raise
        raise IdentityCenterUnreadableError(
            hook.aws_conn_id,
            hook.region_name,
            f"{error.operation_name} failed ({error_code(error)})",
        ) from error


def _read(
    hook: IdentityCenterHook, read_policy: PolicyReader, caller_account: str
) -> IdentityCenterSnapshot:
    instances = hook.list_instances()
    if not instances:
        raise IdentityCenterUnreadableError(
            hook.aws_conn_id, hook.region_name, "sso:ListInstances found no instance there"
        )
    instance = instances[0]
    instance_arn, store = instance["InstanceArn"], instance["IdentityStoreId"]
    owner = instance.get("OwnerAccountId") or caller_account
    partition = parse_arn(instance_arn).partition
    users = list(hook.iter_users(store))
    groups = {g["GroupId"]: g.get("DisplayName") or g["GroupId"] for g in hook.iter_groups(store)}
    memberships: dict[str, list[str]] = {}
    for group_id in groups:
        for membership in hook.list_group_memberships(store, group_id):
            user_id = (membership.get("MemberId") or {}).get("UserId")
            if user_id:
                memberships.setdefault(user_id, []).append(group_id)
    permission_sets: dict[str, PermissionSet] = {}
    assignments: list[Assignment] = []
    for arn in hook.list_permission_sets(instance_arn):
        described = hook.describe_permission_set(instance_arn, arn)
        managed = [p["Arn"] for p in hook.list_managed_policies(instance_arn, arn)]
        references = hook.list_customer_managed_policy_references(instance_arn, arn)
        permission_sets[arn] = PermissionSet(
            arn=arn,
            name=described.get("Name") or arn,
            grants_admin=permission_set_grants_admin(
                managed, hook.get_inline_policy(instance_arn, arn)
            ),
            customer_policies=[f"{r.get('Path') or '/'}{r['Name']}" for r in references],
        )
        for account in hook.list_accounts_for_permission_set(instance_arn, arn):
            for a in hook.list_account_assignments(instance_arn, account, arn):
                assignments.append(
                    Assignment(
                        account=a["AccountId"],
                        permission_set_arn=a["PermissionSetArn"],
                        principal_type=a["PrincipalType"],
                        principal_id=a["PrincipalId"],
                    )
                )
    snapshot = IdentityCenterSnapshot(
        instance_arn=instance_arn,
        identity_store_id=store,
        owner=owner,
        partition=partition,
        users=users,
        groups=groups,
        memberships=memberships,
        permission_sets=permission_sets,
        assignments=assignments,
    )
    snapshot.customer_verdicts = _customer_verdicts(snapshot, read_policy)
    return snapshot


def _customer_verdicts(
    snapshot: IdentityCenterSnapshot, read_policy: PolicyReader
) -> dict[str, bool | None]:
    """For each (account, permission set) assigned whose set references customer-managed
    policies: do they grant ``*`` on ``*`` in that account (None when one is unreadable and none
    grants). Each policy is read once per account."""
    documents: dict[tuple[str, str], Any] = {}
    verdicts: dict[str, bool | None] = {}
    for a in snapshot.assignments:
        permission_set = snapshot.permission_sets.get(a.permission_set_arn)
        key = verdict_key(a.account, a.permission_set_arn)
        if permission_set is None or permission_set.grants_admin or key in verdicts:
            continue
        if not permission_set.customer_policies:
            continue
        found: list[bool | None] = []
        for reference in permission_set.customer_policies:
            arn = f"arn:{snapshot.partition}:iam::{a.account}:policy{reference}"
            if (a.account, arn) not in documents:
                try:
                    documents[(a.account, arn)] = read_policy(a.account, arn)
                except (ClientError, MemberAccountUnreadableError) as error:
                    if isinstance(error, ClientError) and is_transient(error):
                        raise
                    log.warning(
                        "Customer-managed policy %s of permission set %s unreadable (%s): the "
                        "admin type of its holders may be left out.",
                        arn,
                        permission_set.name,
                        error_code(error) if isinstance(error, ClientError) else error.aws_code,
                    )
                    documents[(a.account, arn)] = None
            document = documents[(a.account, arn)]
            found.append(None if document is None else document_grants_admin(document))
        if any(f is True for f in found):
            verdicts[key] = True
        elif any(f is None for f in found):
            verdicts[key] = None
        else:
            verdicts[key] = False
    return verdicts
