"""``resolve_accounts``: which AWS accounts the run reads, and how (own credentials or a role)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import Context

from airflow_provider_awsiam_ocsf.account_plan import (
    accounts_per_group,
    group_accounts,
    plan_accounts,
    split_active,
)
from airflow_provider_awsiam_ocsf.contracts import AccountGroup, AccountRef, XComKey
from airflow_provider_awsiam_ocsf.hooks.iam import IamHook
from airflow_provider_awsiam_ocsf.hooks.organizations import OrganizationsHook
from airflow_provider_awsiam_ocsf.operators.base import (
    event_messages,
    max_map_length,
    skip_in_event_runs,
)

DEFAULT_MEMBER_ROLE = "iam-inventory-reader"
# Accounts read by one list_users task instance (SPEC §8.1: ⌈accounts / 25⌉ listing instances).
DEFAULT_ACCOUNTS_PER_TASK = 25


class ResolveAccountsOperator(AwsBaseOperator[IamHook]):
    """Resolve the run's ``accounts`` into the accounts to read.

    ``"self"`` is the connection's own account; ``"organization"`` every ``ACTIVE`` account of
    the AWS Organization (``organizations:ListAccounts`` from the management or a delegated
    administrator account; the others are pushed as ``skipped``); a list names the accounts.
    The connection's own account is read with its credentials, every other one through
    ``sts:AssumeRole`` on ``arn:<partition>:iam::<id>:role/<member_role_name>``.

    Returns the accounts in :class:`AccountGroup` s of ``accounts_per_task``, one per list_users
    instance; more when that would make more instances than ``[core] max_map_length`` (so there
    is no limit on the number of accounts).

    :param accounts: ``"self"``, ``"organization"`` or a list of 12-digit ids (templated)
    :param member_role_name: the role assumed in every other account (templated)
    :param accounts_per_task: accounts per list_users task instance (templated)
    :param aws_conn_id: the ``aws`` connection (templated)
    :param region_name: AWS region of the clients (templated)
    :param verify: whether to verify SSL certificates (templated)
    :param botocore_config: botocore client configuration (a dict; not templated)
    """

    aws_hook_class = IamHook
    template_fields: Sequence[str] = aws_template_fields(
        "accounts", "member_role_name", "accounts_per_task"
    )
    ui_color = "#fff3bf"

    def __init__(
        self,
        *,
        accounts: str | Sequence[str] = "self",
        member_role_name: str = DEFAULT_MEMBER_ROLE,
        accounts_per_task: int | str = DEFAULT_ACCOUNTS_PER_TASK,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.accounts = accounts
        self.member_role_name = member_role_name
        self.accounts_per_task = accounts_per_task

    def execute(self, context: Context) -> list[AccountGroup]:
        skipped: list[dict] = []
        if event_messages(context, self.dag_id) is not None:
            # commit_checkpoint renders this XCom before it can stand aside too.
            context["ti"].xcom_push(key=XComKey.SKIPPED, value=skipped)
            skip_in_event_runs(context, self.dag_id)
        try:
            own = self.hook.account_id_of_caller
            wanted, names, skipped = self.wanted_accounts(own)
        finally:
            # Always pushed, even when this task fails, so commit_checkpoint's XComArg of it
            # resolves and that task fails with its own message.
            context["ti"].xcom_push(key=XComKey.SKIPPED, value=skipped)
        refs = self.account_refs(own, wanted, names)
        limit = max_map_length()
        per_group = accounts_per_group(len(refs), int(self.accounts_per_task), limit)
        if per_group != int(self.accounts_per_task):
            self.log.warning(
                "%d accounts at %s per task would make more list_users instances than [core] "
                "max_map_length (%d): reading %d per task",
                len(refs),
                self.accounts_per_task,
                limit,
                per_group,
            )
        groups = group_accounts(refs, per_group)
        self.log.info(
            "Reading %d account(s) in %d listing task(s) of up to %d; own account %s; "
            "skipped (not ACTIVE): %d",
            len(refs),
            len(groups),
            per_group,
            own,
            len(skipped),
        )
        for group in groups[:20]:
            self.log.info("  %s", group["label"])
        if len(groups) > 20:
            self.log.info("  … and %d more listing tasks", len(groups) - 20)
        return groups

    def account_refs(self, own: str, wanted: Any, names: Any) -> list[AccountRef]:
        """The accounts to read (:func:`plan_accounts`), each with its member role."""
        return plan_accounts(
            wanted,
            names,
            own=own,
            partition=self.hook.conn_partition,
            member_role_name=self.member_role_name,
        )

    def wanted_accounts(
        self, own: str
    ) -> tuple[list[str], dict[str, str | None], list[dict[str, str | None]]]:
        """The ids to read, their names (organisation mode), the accounts skipped."""
        if self.accounts == "self":
            return [own], {}, []
        if self.accounts == "organization":
            active, skipped = split_active(
                OrganizationsHook(**self._hook_parameters).list_accounts()
            )
            if not active:
                raise ValueError(
                    f"organizations:ListAccounts from account {own} (connection "
                    f"{self.aws_conn_id!r}) found no ACTIVE account: use the management or a "
                    "delegated administrator account, or list the account ids"
                )
            names = {a["Id"]: a.get("Name") for a in active}
            return sorted(names), names, skipped
        return [str(a) for a in self.accounts], {}, []
