"""A thin, typed wrapper around the two boto3 clients of IAM Identity Center: ``sso-admin`` (the
instance, permission sets, account assignments) and ``identitystore`` (users, groups,
memberships), both in the instance's region.

Connection handling is the amazon provider's ``AwsBaseHook``'s; every call of either client is
counted in :attr:`calls` (for the run summary).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any

from airflow_provider_awsiam_ocsf.hooks.base import CountingAwsHook

# identitystore's and sso-admin's listings give at most 100 items a page.
PAGES = {"PageSize": 100}


class IdentityCenterHook(CountingAwsHook):
    """Read one IAM Identity Center instance, in ``region_name`` (the instance's region).

    .. seealso:: https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/sso-admin.html
    .. seealso:: https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/identitystore.html
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "sso-admin"
        super().__init__(*args, **kwargs)

    @cached_property
    def identitystore(self):
        """The ``identitystore`` client, from the same session and region; counted too."""
        client = self.get_session(region_name=self.region_name).client(
            "identitystore",
            region_name=self.region_name,
            endpoint_url=self.conn_config.get_service_endpoint_url("identitystore"),
            config=self.config,
            verify=self.verify,
        )
        self._count_calls_of(client)
        return client

    def _paginate(self, client, operation: str, result_key: str, **kwargs: Any) -> Iterator:
        with self._credentials_required():
            for page in client.get_paginator(operation).paginate(**kwargs, PaginationConfig=PAGES):
                yield from page.get(result_key, [])

    def _call(self, client, operation: str, **kwargs: Any) -> dict:
        with self._credentials_required():
            return getattr(client, operation)(**kwargs)

    # --- sso-admin -----------------------------------------------------------------------------

    def list_instances(self) -> list[dict]:
        """.. seealso:: SSOAdmin.Client.list_instances"""
        return list(self._paginate(self.client, "list_instances", "Instances"))

    def list_permission_sets(self, instance_arn: str) -> list[str]:
        """.. seealso:: SSOAdmin.Client.list_permission_sets"""
        return list(
            self._paginate(
                self.client, "list_permission_sets", "PermissionSets", InstanceArn=instance_arn
            )
        )

    def describe_permission_set(self, instance_arn: str, permission_set_arn: str) -> dict:
        """.. seealso:: SSOAdmin.Client.describe_permission_set"""
        return self._call(
            self.client,
            "describe_permission_set",
            InstanceArn=instance_arn,
            PermissionSetArn=permission_set_arn,
        )["PermissionSet"]

    def list_managed_policies(self, instance_arn: str, permission_set_arn: str) -> list[dict]:
        """.. seealso:: SSOAdmin.Client.list_managed_policies_in_permission_set"""
        return list(
            self._paginate(
                self.client,
                "list_managed_policies_in_permission_set",
                "AttachedManagedPolicies",
                InstanceArn=instance_arn,
                PermissionSetArn=permission_set_arn,
            )
        )

    def get_inline_policy(self, instance_arn: str, permission_set_arn: str) -> str:
        """The inline policy's JSON, ``""`` when none.

        .. seealso:: SSOAdmin.Client.get_inline_policy_for_permission_set"""
        return self._call(
            self.client,
            "get_inline_policy_for_permission_set",
            InstanceArn=instance_arn,
            PermissionSetArn=permission_set_arn,
        ).get("InlinePolicy", "")

    def list_customer_managed_policy_references(
        self, instance_arn: str, permission_set_arn: str
    ) -> list[dict]:
        """``{Name, Path}`` of each. .. seealso::
        SSOAdmin.Client.list_customer_managed_policy_references_in_permission_set"""
        return list(
            self._paginate(
                self.client,
                "list_customer_managed_policy_references_in_permission_set",
                "CustomerManagedPolicyReferences",
                InstanceArn=instance_arn,
                PermissionSetArn=permission_set_arn,
            )
        )

    def list_accounts_for_permission_set(
        self, instance_arn: str, permission_set_arn: str
    ) -> list[str]:
        """The accounts the permission set is provisioned to.

        .. seealso:: SSOAdmin.Client.list_accounts_for_provisioned_permission_set"""
        return list(
            self._paginate(
                self.client,
                "list_accounts_for_provisioned_permission_set",
                "AccountIds",
                InstanceArn=instance_arn,
                PermissionSetArn=permission_set_arn,
            )
        )

    def list_account_assignments(
        self, instance_arn: str, account_id: str, permission_set_arn: str
    ) -> list[dict]:
        """.. seealso:: SSOAdmin.Client.list_account_assignments"""
        return list(
            self._paginate(
                self.client,
                "list_account_assignments",
                "AccountAssignments",
                InstanceArn=instance_arn,
                AccountId=account_id,
                PermissionSetArn=permission_set_arn,
            )
        )

    # --- identitystore -------------------------------------------------------------------------

    def iter_users(self, identity_store_id: str) -> Iterator[dict]:
        """.. seealso:: IdentityStore.Client.list_users"""
        return self._paginate(
            self.identitystore, "list_users", "Users", IdentityStoreId=identity_store_id
        )

    def iter_groups(self, identity_store_id: str) -> Iterator[dict]:
        """.. seealso:: IdentityStore.Client.list_groups"""
        return self._paginate(
            self.identitystore, "list_groups", "Groups", IdentityStoreId=identity_store_id
        )

    def list_group_memberships(self, identity_store_id: str, group_id: str) -> list[dict]:
        """.. seealso:: IdentityStore.Client.list_group_memberships"""
        return list(
            self._paginate(
                self.identitystore,
                "list_group_memberships",
                "GroupMemberships",
                IdentityStoreId=identity_store_id,
                GroupId=group_id,
            )
        )
