"""BASELINE — the product page's workflow, as the page describes it. Not product code.

"API Call Workflow" of the Sekoia.io "AWS users" asset connector page
(seed/aws_users_asset_connector.md):
``list_users``, then for each user ``list_groups_for_user``, for each of that user's groups
``list_attached_group_policies``, and ``list_mfa_devices``. Deliberately no caching: a group's
policies are read again for every member, as the page describes. The page reads no user-attached or
inline policies, so its admin check can only see AdministratorAccess attached to a group.

The result goes through the product's own mapping (``to_ocsf_user_inventory``) so that the mapping
cost is the same for every workflow measured.
"""

from __future__ import annotations

from collections.abc import Iterator

from airflow_provider_awsiam_ocsf.inventory import GroupFacts, IamUser


def page_workflow(iam) -> Iterator[IamUser]:
    """Every user, with groups, group policy names and MFA, over a plain boto3 IAM client."""
    for page in iam.get_paginator("list_users").paginate():
        for u in page["Users"]:
            groups = []
            for groups_page in iam.get_paginator("list_groups_for_user").paginate(
                UserName=u["UserName"]
            ):
                for g in groups_page["Groups"]:
                    attached = [
                        p
                        for policies_page in iam.get_paginator(
                            "list_attached_group_policies"
                        ).paginate(GroupName=g["GroupName"])
                        for p in policies_page["AttachedPolicies"]
                    ]
                    groups.append(
                        GroupFacts(
                            name=g["GroupName"],
                            arn=g["Arn"],
                            policy_names=[p["PolicyName"] for p in attached],
                            grants_admin=any(
                                p["PolicyName"] == "AdministratorAccess" for p in attached
                            ),
                        )
                    )
            devices = iam.list_mfa_devices(UserName=u["UserName"])[
                "MFADevices"
            ]  # page: no pagination
            yield IamUser(
                name=u["UserName"],
                user_id=u["UserId"],
                arn=u["Arn"],
                created=u["CreateDate"],
                groups=groups,
                grants_admin=False,  # the page never reads the user's own policies
                has_mfa=bool(devices),
            )
