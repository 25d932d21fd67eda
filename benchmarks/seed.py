"""A synthetic IAM organisation, written straight into moto's backend (boto3 manages ~150 users/s).

30 groups, users in 1–3 groups, 20 % with MFA (virtual or hardware), and every way of being an
admin: the ``Admins`` group (AdministratorAccess), a group with an inline ``*``/``*`` policy, a
group holding a customer-managed ``*``/``*`` policy, and users with AdministratorAccess, the
customer-managed admin policy or an inline ``*``/``*`` policy of their own. Deterministic per seed.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace

ACCOUNT_ID = "123456789012"  # moto's default account, used for requests signed with "testing" keys
REGION = "us-east-1"

STAR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
NOT_ADMIN = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}
DEPLOY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["ecs:*", "ecr:*"], "Resource": "*"}],
}

# Customer-managed policies: name -> document.
LOCAL_POLICIES = {
    "PlatformFullControl": STAR,  # admin by its document, not its name
    "ReadOnlyAdminNotes": NOT_ADMIN,  # "Admin" in the name, not an admin
    "DeployPipeline": DEPLOY,
}

# 30 groups: name -> policies attached ("local:" = customer-managed). Admin groups are rare picks.
ADMIN_GROUPS = {
    "Admins": ["AdministratorAccess"],
    "BreakGlass": [],  # + inline */*
    "Platform": ["local:PlatformFullControl", "AmazonEC2FullAccess"],
}
GROUPS = {
    **ADMIN_GROUPS,
    "Developers": ["PowerUserAccess"],
    "Auditors": ["SecurityAudit", "ReadOnlyAccess"],
    "Support": ["AWSSupportAccess"],
    "Finance": ["local:ReadOnlyAdminNotes", "AWSBillingReadOnlyAccess"],
    "ReadOnly": ["ReadOnlyAccess"],
    "ViewOnly": ["ViewOnlyAccess"],
    "DataEng": ["AmazonS3FullAccess", "AmazonDynamoDBReadOnlyAccess"],
    "Analysts": ["AmazonS3ReadOnlyAccess"],
    "DBA": ["AmazonRDSReadOnlyAccess"],
    "Monitoring": ["CloudWatchReadOnlyAccess"],
    "CodeReviewers": ["AWSCodeCommitPowerUser"],
    "IamReaders": ["IAMReadOnlyAccess"],
    "Serverless": ["AWSLambda_ReadOnlyAccess"],
    "Network": ["AmazonVPCReadOnlyAccess"],
    "Compliance": ["AWSCloudTrail_ReadOnlyAccess", "SecurityAudit"],
    "Messaging": ["AmazonSQSFullAccess", "AmazonSNSReadOnlyAccess"],
    "Infra": ["AWSCloudFormationReadOnlyAccess"],
    "Containers": ["AmazonECS_FullAccess", "local:DeployPipeline"],
    "Kubernetes": ["AmazonEKSClusterPolicy"],
    "Interns": [],
    "Contractors": ["ViewOnlyAccess"],
    "QA": ["ReadOnlyAccess"],
    "Sales": [],
    "Marketing": ["AmazonS3ReadOnlyAccess"],
    "Legal": [],
    "HR": [],
    "Partners": ["ViewOnlyAccess"],
}
assert len(GROUPS) == 30
COMMON_GROUPS = [g for g in GROUPS if g not in ADMIN_GROUPS]


@dataclass
class Population:
    """What was seeded, for the report and for checking the results."""

    users: int = 0
    memberships: int = 0
    mfa: int = 0
    user_inline_policies: int = 0
    expected_admins: int = 0
    admins_seen_by_page: int = 0  # admin only through a group's AdministratorAccess
    access_keys: int = 0
    key_holders: int = 0
    passwords: int = 0
    tagged: int = 0
    groups_per_user: dict[int, int] = field(default_factory=dict)


class Organisation:
    """Seeds the groups once, then users in increments (1,000 first, then up to 5,000)."""

    def __init__(self, backend, seed: int = 20260101, account_id: str = ACCOUNT_ID) -> None:
        self.backend = backend
        self.account_id = account_id
        self.rng = random.Random(seed)
        # A stream of its own for credentials and tags, so groups and admins stay as they were.
        self.credentials_rng = random.Random(seed + 1)
        self.population = Population()
        self._aws_managed = {p.name: p.arn for p in backend.aws_managed_policies}
        self._seed_policies_and_groups()

    def _arn(self, policy: str) -> str:
        if policy.startswith("local:"):
            return f"arn:aws:iam::{self.account_id}:policy/{policy[len('local:') :]}"
        return self._aws_managed[policy]  # some have a path (job-function/ViewOnlyAccess)

    def _seed_policies_and_groups(self) -> None:
        b = self.backend
        for name, document in LOCAL_POLICIES.items():
            b.create_policy(
                description="",
                path="/",
                policy_document=json.dumps(document),
                policy_name=name,
                tags=[],
            )
        for name, policies in GROUPS.items():
            b.create_group(name)
            for policy in policies:
                b.attach_group_policy(self._arn(policy), name)
        b.put_group_policy("BreakGlass", "everything", json.dumps(STAR))

    def _credentials_and_tags(self, name: str) -> None:
        """~30 % hold access keys (a tenth of them a second, inactive one), ~40 % a console
        password, ~half carry tags: the facts the living inventory fingerprints."""
        b, rng, pop = self.backend, self.credentials_rng, self.population
        if rng.random() < 0.30:
            b.create_access_key(name)
            pop.access_keys += 1
            pop.key_holders += 1
            if rng.random() < 0.10:
                b.create_access_key(name, status="Inactive")
                pop.access_keys += 1
        if rng.random() < 0.40:
            b.create_login_profile(name, "Bench-Password-1")
            pop.passwords += 1
        if rng.random() < 0.50:
            b.tag_user(name, [{"Key": "team", "Value": rng.choice(["red", "blue", "green"])}])
            pop.tagged += 1

    def grow_to(self, total: int) -> Population:
        """Add users up to ``total``; returns what has been seeded so far."""
        b, rng, pop = self.backend, self.rng, self.population
        for n in range(pop.users, total):
            name = f"user{n:05d}"
            b.create_user(REGION, name)
            count = rng.choices([1, 2, 3], weights=[50, 30, 20])[0]
            groups = rng.sample(COMMON_GROUPS, count)
            roll = rng.random()  # ~4 % of users are admins, by six different routes
            own_admin = False
            if roll < 0.015:
                groups[0] = "Admins"
            elif roll < 0.020:
                groups[0] = "BreakGlass"
            elif roll < 0.025:
                groups[0] = "Platform"
            elif roll < 0.030:
                b.attach_user_policy(self._arn("AdministratorAccess"), name)
                own_admin = True
            elif roll < 0.035:
                b.attach_user_policy(self._arn("local:PlatformFullControl"), name)
                own_admin = True
            elif roll < 0.040:
                b.put_user_policy(name, "inline-star", json.dumps(STAR))
                pop.user_inline_policies += 1
                own_admin = True
            elif roll < 0.060:
                b.put_user_policy(name, "inline-read", json.dumps(NOT_ADMIN))
                pop.user_inline_policies += 1
            elif roll < 0.100:
                b.attach_user_policy(self._arn("ReadOnlyAccess"), name)
            for group in groups:
                b.add_user_to_group(group, name)
            if rng.random() < 0.20:
                if rng.random() < 0.75:
                    serial = b.create_virtual_mfa_device(f"{name}-mfa", "/").serial_number
                else:
                    serial = f"GAHT{n:08d}"  # hardware token: no virtual device
                b.enable_mfa_device(name, serial, "123456", "654321")
                pop.mfa += 1
            self._credentials_and_tags(name)
            pop.users += 1
            pop.memberships += len(groups)
            pop.groups_per_user[len(groups)] = pop.groups_per_user.get(len(groups), 0) + 1
            group_admin = any(g in ADMIN_GROUPS for g in groups)
            pop.expected_admins += own_admin or group_admin
            pop.admins_seen_by_page += "Admins" in groups
        return replace(pop, groups_per_user=dict(pop.groups_per_user))  # a snapshot
