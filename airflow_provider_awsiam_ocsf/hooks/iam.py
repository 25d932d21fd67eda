"""A thin, typed wrapper around one boto3 IAM client, of the connection's account or of another
account reached through ``sts:AssumeRole``.

Connection handling (keys, profile, assume-role, ``endpoint_url``, region, ``config_kwargs``) is
inherited from the amazon provider's ``AwsBaseHook``. This hook adds paginated iterators, a count
of the calls made by API action (for the run summary and the benchmark), a default retry policy
for throttling, a clear error when there are no credentials, and member-account sessions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import cached_property
from typing import Any

import boto3
import botocore.session
from botocore.credentials import DeferredRefreshableCredentials
from botocore.exceptions import ClientError

from airflow_provider_awsiam_ocsf.account_plan import (
    DEFAULT_ROLE_SESSION_NAME,
    valid_role_session_name,
)
from airflow_provider_awsiam_ocsf.arn import account_id_of
from airflow_provider_awsiam_ocsf.errors import MemberAccountUnreadableError
from airflow_provider_awsiam_ocsf.hooks.base import (
    CountingAwsHook,
    error_code,
    error_message,
    is_transient,
    mask_temporary_keys,
    share_data_loader,
)

# IAM's account-wide listings default to 100 items a page; 1,000 is their maximum.
LARGE_PAGES = {"PageSize": 1000}

REPORT_NOT_READY_CODES = {"ReportInProgress", "LimitExceeded", "ReportNotPresent"}


class IamHook(CountingAwsHook):
    """Interact with AWS IAM through one boto3 client per hook (one hook per task).

    With ``member_role_arn``, the client reads that role's account: its credentials come from
    ``sts:AssumeRole``, always made with the connection's own session (never chained from another
    member's credentials), on the first call, and again only when they near expiry.

    :param member_role_arn: the role to assume in another account; None (default) reads the
        connection's own account with its own credentials
    :param role_session_name: the ``RoleSessionName`` of that AssumeRole, e.g.
        ``airflow-<dag_id>`` (made valid: ``[\\w+=,.@-]``, at most 64 characters)

    .. seealso:: https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/iam.html
    """

    def __init__(
        self,
        *args: Any,
        member_role_arn: str | None = None,
        role_session_name: str = DEFAULT_ROLE_SESSION_NAME,
        **kwargs: Any,
    ) -> None:
        kwargs["client_type"] = "iam"
        super().__init__(*args, **kwargs)
        self.member_role_arn = member_role_arn or None
        self.role_session_name = valid_role_session_name(role_session_name)

    # --- sessions ------------------------------------------------------------------------------

    @cached_property
    def base_session(self) -> boto3.session.Session:
        """The connection's own session (keys, profile or its ``role_arn``), as AwsBaseHook
        builds it."""
        return super().get_session(region_name=self.region_name)

    @cached_property
    def base_sts(self):
        """An STS client of :attr:`base_session` (the connection's ``endpoint_url`` applies);
        its calls are counted."""
        sts = self.base_session.client(
            "sts",
            endpoint_url=self.conn_config.get_service_endpoint_url("sts"),
            config=self.config,
            verify=self.verify,
        )
        self._count_calls_of(sts)
        return sts

    @cached_property
    def member_session(self) -> boto3.session.Session:
        """A session on :attr:`member_role_arn`'s credentials, assumed from :attr:`base_sts` when
        first needed and refreshed (re-assumed from the base session) near expiry."""
        credentials = DeferredRefreshableCredentials(
            refresh_using=self._assume_member_role, method="sts-assume-role"
        )
        core = botocore.session.get_session()
        core._credentials = credentials  # as AwsBaseHook does for a connection's role_arn
        core.set_config_variable("region", self.base_session.region_name)
        return share_data_loader(boto3.session.Session(botocore_session=core))

    def _assume_member_role(self) -> dict[str, str]:
        role_arn = self.member_role_arn
        assert role_arn is not None
        try:
            with self._credentials_required():
                response = self.base_sts.assume_role(
                    RoleArn=role_arn, RoleSessionName=self.role_session_name
                )
        except ClientError as error:
            if is_transient(error):
                raise  # the task's retries may get through; a refusal would not
            raise MemberAccountUnreadableError(
                account_id_of(role_arn), role_arn, error_code(error), error_message(error)
            ) from error
        credentials = response["Credentials"]
        # All three, as for the connection's own keys (hooks/base.py): botocore's DEBUG log
        # prints the key id and the token in every request's headers.
        mask_temporary_keys(
            credentials[secret] for secret in ("AccessKeyId", "SecretAccessKey", "SessionToken")
        )
        self.log.info(
            "Assumed %s as session %s (until %s)",
            role_arn,
            self.role_session_name,
            credentials["Expiration"].isoformat(),
        )
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }

    def get_session(
        self, region_name: str | None = None, deferrable: bool = False
    ) -> boto3.session.Session:
        """The member session with ``member_role_arn``, the connection's own otherwise."""
        if self.member_role_arn:
            if deferrable:
                raise NotImplementedError("member-account sessions are synchronous only")
            return self.member_session
        if deferrable or region_name not in (None, self.region_name):
            return super().get_session(region_name=region_name, deferrable=deferrable)
        return self.base_session

    @cached_property
    def caller_identity(self) -> dict[str, str]:
        """``sts:GetCallerIdentity`` of the connection's own credentials (``Account``, ``Arn``,
        ``UserId``), whatever ``member_role_arn`` says.

        .. seealso:: STS.Client.get_caller_identity
        """
        with self._credentials_required():
            response = self.base_sts.get_caller_identity()
        return {key: response[key] for key in ("Account", "Arn", "UserId")}

    @property
    def account_id_of_caller(self) -> str:
        """The connection's own account id (see :attr:`caller_identity`)."""
        return self.caller_identity["Account"]

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

    def list_group_members(self, group_name: str) -> list[str]:
        """Names of the group's users. .. seealso:: IAM.Client.get_group"""
        return [u["UserName"] for u in self._paginate("get_group", "Users", GroupName=group_name)]

    def list_entities_for_policy(self, policy_arn: str) -> tuple[list[str], list[str]]:
        """Names of the users and of the groups the managed policy is attached to.
        .. seealso:: IAM.Client.list_entities_for_policy"""
        users: list[str] = []
        groups: list[str] = []
        with self._credentials_required():
            pages = self.client.get_paginator("list_entities_for_policy").paginate(
                PolicyArn=policy_arn, EntityFilter="All"
            )
            for page in pages:
                users += [u["UserName"] for u in page.get("PolicyUsers", [])]
                groups += [g["GroupName"] for g in page.get("PolicyGroups", [])]
        return users, groups

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

    def get_default_policy_document(self, policy_arn: str) -> Any:
        """The default version's document (GetPolicy, then GetPolicyVersion).

        .. seealso:: IAM.Client.get_policy"""
        version = self._call("get_policy", PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
        return self.get_policy_document(policy_arn, version)

    def get_policy_document(self, policy_arn: str, version_id: str) -> Any:
        """.. seealso:: IAM.Client.get_policy_version"""
        response = self._call("get_policy_version", PolicyArn=policy_arn, VersionId=version_id)
        return response["PolicyVersion"]["Document"]

    # --- account-wide --------------------------------------------------------------------------

    def get_account_summary(self) -> dict[str, int]:
        """The account's ``SummaryMap`` (root MFA, root keys present, quotas).

        .. seealso:: IAM.Client.get_account_summary
        """
        return self._call("get_account_summary")["SummaryMap"]

    def iter_authorization_details(self, filters: list[str]) -> Iterator[dict]:
        """Pages of GetAccountAuthorizationDetails (1,000 items each).

        .. seealso:: IAM.Client.get_account_authorization_details
        """
        with self._credentials_required():
            paginator = self.client.get_paginator("get_account_authorization_details")
            yield from paginator.paginate(Filter=filters, PaginationConfig=LARGE_PAGES)

    def request_credential_report(self) -> bool:
        """``GenerateCredentialReport`` ahead of :meth:`get_credential_report`, so that AWS builds
        the report while the caller reads something else; whether it is ready (COMPLETE).

        A refusal or an error is not raised here: :meth:`get_credential_report` asks again and
        raises it where its caller handles it.
        """
        try:
            return bool(self._call("generate_credential_report")["State"] == "COMPLETE")
        except ClientError:
            return False

    def get_credential_report(
        self, timeout: float = 120.0, first_wait: float = 0.5, *, ready: bool = False
    ) -> bytes:
        """Generate the credential report if needed, wait for it, and return its CSV.

        AWS regenerates only reports older than four hours and answers COMPLETE otherwise, so the
        report's own age is never a reason to loop here (moto always dates it 2015).

        :param ready: :meth:`request_credential_report` answered that the report is ready, so it
            is fetched without asking again
        """
        deadline = time.monotonic() + timeout
        wait = first_wait
        while True:
            try:
                if ready:
                    state, ready = "COMPLETE", False
                else:
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
