"""``resolve_accounts``: which AWS accounts the run reads, and how (own credentials or a role)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import Context

from airflow_provider_awsiam_ocsf.account_plan import split_active
from airflow_provider_awsiam_ocsf.arn import is_account_id, role_arn
from airflow_provider_awsiam_ocsf.contracts import AccountRef, XComKey
from airflow_provider_awsiam_ocsf.hooks.iam import IamHook
from airflow_provider_awsiam_ocsf.hooks.organizations import OrganizationsHook

DEFAULT_MEMBER_ROLE = "iam-inventory-reader"
MAX_ACCOUNTS = 1024  # [core] max_map_length: list_users is mapped over the accounts


def account_ref(account: str, name: str | None, role: str | None) -> AccountRef:
    return AccountRef(
        account=account,
        name=name,
        role_arn=role,
        # Never the bare id: rendered natively, a label of digits becomes an int and fails.
        label=f"{account} · {name}" if name else f"account {account}",
    )


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
    :param botocore_config: botocore client configuration (templated)
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
        own = self.hook.account_id_of_caller
        partition = self.hook.conn_partition
        skipped: list[dict] = []
        names: dict[str, str | None] = {}
        if self.accounts == "self":
            wanted = [own]
        elif self.accounts == "organization":
            listed = OrganizationsHook(**self._hook_parameters).list_accounts()
            active, skipped = split_active(listed)
            if not active:
                raise ValueError(
                    f"organizations:ListAccounts from account {own} (connection "
                    f"{self.aws_conn_id!r}) found no ACTIVE account: use the management or a "
                    "delegated administrator account, or list the account ids"
                )
            names = {a["Id"]: a.get("Name") for a in active}
            wanted = sorted(names)
        else:
            wanted = list(dict.fromkeys(str(a) for a in self.accounts))
            bad = [a for a in wanted if not is_account_id(a)]
            if bad:
                raise ValueError(f"accounts must be 12-digit ids, not {bad}")
        if len(wanted) > MAX_ACCOUNTS:
            raise ValueError(
                f"{len(wanted)} accounts: more than [core] max_map_length ({MAX_ACCOUNTS}); "
                "split them over several DAGs with lists of ids"
            )
        refs = [
            account_ref(
                account,
                names.get(account),
                None if account == own else role_arn(partition, account, self.member_role_name),
            )
            for account in wanted
        ]
        context["ti"].xcom_push(key=XComKey.SKIPPED, value=skipped)
        self.log.info(
            "Reading %d account(s): %s; own account %s; skipped (not ACTIVE): %s",
            len(refs),
            ", ".join(r["label"] for r in refs),
            own,
            skipped or "none",
        )
        return refs
