"""A thin, typed wrapper around one boto3 AWS Organizations client."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from airflow_provider_awsiam_ocsf.errors import OrganizationAccountsUnreadableError
from airflow_provider_awsiam_ocsf.hooks.base import CountingAwsHook, error_code, error_message

# ListAccounts returns at most 20 accounts a page. botocore does not enforce the model's maximum
# (nor does moto), so the page size is asked for explicitly.
ACCOUNTS_PAGE = {"PageSize": 20}


class OrganizationsHook(CountingAwsHook):
    """Interact with AWS Organizations, from the management or a delegated administrator account.

    .. seealso:: https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/organizations.html
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "organizations"
        super().__init__(*args, **kwargs)

    def list_accounts(self) -> list[dict]:
        """Every account of the organisation, whatever its ``State``, in the API's order.

        Pages of 20 accounts; an empty page that carries a ``NextToken`` does not end the list.
        Raise :class:`OrganizationAccountsUnreadableError` when ListAccounts is refused.

        .. seealso:: Organizations.Client.list_accounts
        """
        accounts: list[dict] = []
        try:
            with self._credentials_required():
                paginator = self.client.get_paginator("list_accounts")
                for page in paginator.paginate(PaginationConfig=ACCOUNTS_PAGE):
                    accounts.extend(page.get("Accounts", []))
        except ClientError as error:
            raise OrganizationAccountsUnreadableError(
                self.aws_conn_id, error_code(error), error_message(error)
            ) from error
        return accounts
