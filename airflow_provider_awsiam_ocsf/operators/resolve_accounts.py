"""``resolve_accounts``: which AWS accounts the run reads, and how (own credentials or a role)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import Context

from airflow_provider_awsiam_ocsf.account_plan import plan_accounts, split_active
from airflow_provider_awsiam_ocsf.contracts import AccountRef, XComKey
from airflow_provider_awsiam_ocsf.hooks.iam import IamHook
from airflow_provider_awsiam_ocsf.hooks.organizations import OrganizationsHook
from airflow_provider_awsiam_ocsf.operators.base import (
    event_messages,
    max_map_length,
    skip_in_event_runs,
)

DEFAULT_MEMBER_ROLE = "iam-inventory-reader"


class ResolveAccountsOperator(AwsBaseOperator[IamHook]):
    """Resolve the run's ``accounts`` into the accounts to read.

    ``"self"`` is the connection's own account; ``"organization"`` every ``ACTIVE`` account of
    the AWS Organization (``organizations:ListAccounts`` from the management or a delegated
    administrator account; the others are pushed as ``skipped``); a list names the accounts.
    The connection's own account is read with its credentials, every other one through
    ``sts:AssumeRole`` on ``arn:<partition>:iam::<id>:role/<member_role_name>``.

    Returns an :class:`AccountRef` per account.

    :param accounts: ``"self"``, ``"organization"`` or a list of 12-digit ids (templated)
    :param member_role_name: the role assumed in every other account (templated)
    :param aws_conn_id: the ``aws`` connection (templated)
    :param region_name: AWS region of the clients (templated)
    :param verify: whether to verify SSL certificates (templated)
    :param botocore_config: botocore client configuration (a dict; not templated)
    """

    aws_hook_class = IamHook
    template_fields: Sequence[str] = aws_template_fields("accounts", "member_role_name")
    ui_color = "#fff3bf"

    def __init__(
        self,
        *,
        accounts: str | Sequence[str] = "self",
        member_role_name: str = DEFAULT_MEMBER_ROLE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.accounts = accounts
        self.member_role_name = member_role_name

    def execute(self, context: Context) -> list[AccountRef]:
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
        self.log.info(
            "Reading %d account(s): %s; own account %s; skipped (not ACTIVE): %s",
            len(refs),
            ", ".join(r["label"] for r in refs),
            own,
            skipped or "none",
        )
        return refs

    def account_refs(self, own: str, wanted: Any, names: Any) -> list[AccountRef]:
        """The accounts to read (:func:`plan_accounts`), each with its member role."""
        return plan_accounts(
            wanted,
            names,
            own=own,
            partition=self.hook.conn_partition,
            member_role_name=self.member_role_name,
            limit=max_map_length(),
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
