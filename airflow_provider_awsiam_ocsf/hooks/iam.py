"""A thin, typed wrapper around one boto3 IAM client.

Connection handling (keys, profile, assume-role, ``endpoint_url``, region, ``config_kwargs``) is
inherited from the amazon provider's ``AwsBaseHook``. This hook adds paginated iterators, a count
of the calls made by API action (for the run summary and the benchmark), a default retry policy
for throttling, and a clear error when there are no credentials.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore.config import Config
from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

from airflow_provider_awsiam_ocsf.errors import NoAwsCredentialsError

# IAM throttles without publishing a rate; "standard" retries Throttling with jittered exponential
# backoff. A connection's own ``config_kwargs.retries`` wins over this default.
DEFAULT_RETRIES = {"mode": "standard", "max_attempts": 10}

# IAM's account-wide listings default to 100 items a page; 1,000 is their maximum.
LARGE_PAGES = {"PageSize": 1000}

REPORT_NOT_READY_CODES = {"ReportInProgress", "LimitExceeded", "ReportNotPresent"}


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "Unknown")


class IamHook(AwsBaseHook):
    """Interact with AWS IAM through one boto3 client per hook (one hook per task).

    .. seealso:: https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/iam.html
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "iam"
        super().__init__(*args, **kwargs)
        self.calls: Counter[str] = Counter()

    @property
    def config(self) -> Config:
        """The botocore config of the connection (or the hook's ``config``), with
        :data:`DEFAULT_RETRIES` when neither says how to retry."""
        config = super().config
        if config.retries is None:
            config = Config(retries=dict(DEFAULT_RETRIES)).merge(config)
        return config

    @cached_property
    def client(self):
        """The task's IAM client; every call through it is counted by action."""
        client = self.conn
        client.meta.events.register("before-call.iam", self._count_call)
        return client

    def _count_call(self, model, **_: Any) -> None:
        self.calls[model.name] += 1

    @contextmanager
    def _credentials_required(self) -> Iterator[None]:
        try:
            yield
        except (NoCredentialsError, PartialCredentialsError) as error:
            raise NoAwsCredentialsError(self.aws_conn_id) from error

    def _paginate(self, operation: str, result_key: str, **kwargs: Any) -> Iterator[dict]:
        with self._credentials_required():
            for page in self.client.get_paginator(operation).paginate(**kwargs):
                yield from page.get(result_key, [])

    def _call(self, operation: str, **kwargs: Any) -> dict:
        with self._credentials_required():
            return getattr(self.client, operation)(**kwargs)

    # --- users ---------------------------------------------------------------------------------

    def iter_users(self) -> Iterator[dict]:
        """Every IAM user of the account. .. seealso:: IAM.Client.list_users"""
        return self._paginate("list_users", "Users", PaginationConfig=LARGE_PAGES)

    def list_groups_for_user(self, user_name: str) -> list[dict]:
        """.. seealso:: IAM.Client.list_groups_for_user"""
        return list(self._paginate("list_groups_for_user", "Groups", UserName=user_name))

    def list_attached_user_policies(self, user_name: str) -> list[dict]:
        """.. seealso:: IAM.Client.list_attached_user_policies"""
        return list(
            self._paginate("list_attached_user_policies", "AttachedPolicies", UserName=user_name)
        )

    def list_user_policy_documents(self, user_name: str) -> list[Any]:
        """The user's inline policy documents (ListUserPolicies, then GetUserPolicy for each)."""
        return self._inline_documents("user", UserName=user_name)

    def list_mfa_devices(self, user_name: str) -> list[dict]:
        """Virtual, hardware and FIDO devices alike. .. seealso:: IAM.Client.list_mfa_devices"""
        return list(self._paginate("list_mfa_devices", "MFADevices", UserName=user_name))

    def get_user(self, user_name: str) -> dict:
        """Path, tags, boundary, password last use. .. seealso:: IAM.Client.get_user"""
        return self._call("get_user", UserName=user_name)["User"]

    def get_login_profile(self, user_name: str) -> dict | None:
        """None when the user has no console password. .. seealso:: IAM.Client.get_login_profile"""
        try:
            return self._call("get_login_profile", UserName=user_name)["LoginProfile"]
        except ClientError as error:
            if error_code(error) == "NoSuchEntity":
                return None
            raise

    def list_access_keys(self, user_name: str) -> list[dict]:
        """Ids, status and creation of the user's keys. .. seealso:: IAM.Client.list_access_keys"""
        return list(self._paginate("list_access_keys", "AccessKeyMetadata", UserName=user_name))

    def get_access_key_last_used(self, access_key_id: str) -> dict:
        """.. seealso:: IAM.Client.get_access_key_last_used"""
        response = self._call("get_access_key_last_used", AccessKeyId=access_key_id)
        return response["AccessKeyLastUsed"]

    # --- groups and policies -------------------------------------------------------------------

    def iter_groups(self) -> Iterator[dict]:
        """.. seealso:: IAM.Client.list_groups"""
        return self._paginate("list_groups", "Groups", PaginationConfig=LARGE_PAGES)

    def list_attached_group_policies(self, group_name: str) -> list[dict]:
        """.. seealso:: IAM.Client.list_attached_group_policies"""
        return list(
            self._paginate("list_attached_group_policies", "AttachedPolicies", GroupName=group_name)
        )

    def list_group_policy_documents(self, group_name: str) -> list[Any]:
        """The group's inline policy documents (ListGroupPolicies, then GetGroupPolicy for each)."""
        return self._inline_documents("group", GroupName=group_name)

    def _inline_documents(self, holder: str, **key: str) -> list[Any]:
        names = list(self._paginate(f"list_{holder}_policies", "PolicyNames", **key))
        return [
            self._call(f"get_{holder}_policy", PolicyName=name, **key)["PolicyDocument"]
            for name in names
        ]

    def iter_attached_local_policies(self) -> Iterator[dict]:
        """Customer-managed policies attached to something. .. seealso:: IAM.Client.list_policies"""
        return self._paginate(
            "list_policies",
            "Policies",
            Scope="Local",
            OnlyAttached=True,
            PaginationConfig=LARGE_PAGES,
        )

    def get_policy_document(self, policy_arn: str, version_id: str) -> Any:
        """.. seealso:: IAM.Client.get_policy_version"""
        response = self._call("get_policy_version", PolicyArn=policy_arn, VersionId=version_id)
        return response["PolicyVersion"]["Document"]

    # --- account-wide --------------------------------------------------------------------------

    def iter_authorization_details(self, filters: list[str]) -> Iterator[dict]:
        """Pages of GetAccountAuthorizationDetails (1,000 items each).

        .. seealso:: IAM.Client.get_account_authorization_details
        """
        with self._credentials_required():
            paginator = self.client.get_paginator("get_account_authorization_details")
            yield from paginator.paginate(Filter=filters, PaginationConfig=LARGE_PAGES)

    def get_credential_report(self, timeout: float = 120.0, first_wait: float = 0.5) -> bytes:
        """Generate the credential report if needed, wait for it, and return its CSV.

        AWS regenerates only reports older than four hours and answers COMPLETE otherwise, so the
        report's own age is never a reason to loop here (moto always dates it 2015).
        """
        deadline = time.monotonic() + timeout
        wait = first_wait
        while True:
            try:
                state = self._call("generate_credential_report")["State"]
            except ClientError as error:
                if error_code(error) not in REPORT_NOT_READY_CODES:
                    raise
                state = error_code(error)
            if state == "COMPLETE":
                try:
                    return self._call("get_credential_report")["Content"]
                except ClientError as error:
                    if error_code(error) not in REPORT_NOT_READY_CODES | {"ReportExpired"}:
                        raise
            if time.monotonic() + wait > deadline:
                raise TimeoutError(
                    f"credential report not ready after {timeout:.0f}s (last: {state})"
                )
            self.log.info("Credential report %s; asking again in %.1fs", state, wait)
            time.sleep(wait)
            wait = min(wait * 2, 10.0)
