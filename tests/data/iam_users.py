"""IAM API payloads for the users of ``credential_report``, as boto3 returns them.

* ``AUTHORIZATION_DETAILS``: one GetAccountAuthorizationDetails page (filters User, Group,
  LocalManagedPolicy). Tags and PermissionsBoundary are absent when a user has none.
* ``ACCESS_KEYS``: ListAccessKeys ``AccessKeyMetadata`` per user; CreateDate has sub-second
  digits (moto sends them), the report's ``access_key_N_last_rotated`` whole seconds.
* ``GET_USER``: GetUser ``User`` of alice.keys: the same identity facts as her GAAD entry, plus
  PasswordLastUsed.
"""

from datetime import UTC, datetime

DEVELOPERS = {
    "Path": "/",
    "GroupName": "Developers",
    "GroupId": "AGPADEVELOPERS000001",
    "Arn": "arn:aws:iam::123456789012:group/Developers",
    "CreateDate": datetime(2022, 1, 1, tzinfo=UTC),
    "GroupPolicyList": [],
    "AttachedManagedPolicies": [
        {"PolicyName": "PowerUserAccess", "PolicyArn": "arn:aws:iam::aws:policy/PowerUserAccess"}
    ],
}

ALICE_TAGS = [
    {"Key": "team", "Value": "platform"},
    {"Key": "Owner", "Value": "alice@example.com"},
    {"Key": "cost-center", "Value": ""},
]
ALICE_BOUNDARY = {
    "PermissionsBoundaryType": "Policy",
    "PermissionsBoundaryArn": "arn:aws:iam::123456789012:policy/DeveloperBoundary",
}


def _detail(name, user_id, created, path="/", groups=(), **extra):
    return {
        "Path": path,
        "UserName": name,
        "UserId": user_id,
        "Arn": f"arn:aws:iam::123456789012:user{path}{name}",
        "CreateDate": created,
        "GroupList": list(groups),
        "AttachedManagedPolicies": [],
        "UserPolicyList": [],
        **extra,
    }


AUTHORIZATION_DETAILS = {
    "UserDetailList": [
        _detail(
            "alice.keys",
            "AIDAALICEKEYS0000001",
            datetime(2023, 1, 10, 9, 0, 0, 250000, tzinfo=UTC),
            path="/eng/",
            groups=["Developers"],
            Tags=ALICE_TAGS,
            PermissionsBoundary=ALICE_BOUNDARY,
        ),
        _detail("bob.console", "AIDABOBCONSOLE000001", datetime(2023, 2, 1, 10, tzinfo=UTC)),
        _detail(
            "carol.ci",
            "AIDACAROLCI000000001",
            datetime(2023, 3, 5, 11, tzinfo=UTC),
            Tags=[{"Key": "team", "Value": "ci"}],
        ),
        _detail("erin.idle", "AIDAERINIDLE00000001", datetime(2023, 4, 1, tzinfo=UTC)),
        _detail("dave,contractor", "AIDADAVECONTRACTOR01", datetime(2023, 5, 1, tzinfo=UTC)),
        _detail("dave", "AIDADAVE000000000001", datetime(2023, 5, 2, tzinfo=UTC)),
        _detail("frank.new", "AIDAFRANKNEW00000001", datetime(2024, 12, 1, tzinfo=UTC)),
    ],
    "GroupDetailList": [DEVELOPERS],
    "Policies": [],
    "IsTruncated": False,
}

ACCESS_KEYS = {
    "alice.keys": [
        {
            "UserName": "alice.keys",
            "AccessKeyId": "AKIAALICEKEYTWO00002",
            "Status": "Inactive",
            "CreateDate": datetime(2023, 9, 14, 16, 20, 30, 4000, tzinfo=UTC),
        },
        {
            "UserName": "alice.keys",
            "AccessKeyId": "AKIAALICEKEYONE00001",
            "Status": "Active",
            "CreateDate": datetime(2023, 1, 10, 9, 5, 0, 731000, tzinfo=UTC),
        },
    ],
    "carol.ci": [
        {
            "UserName": "carol.ci",
            "AccessKeyId": "AKIACAROLCIKEY000001",
            "Status": "Active",
            "CreateDate": datetime(2023, 3, 5, 11, 1, 2, tzinfo=UTC),
        }
    ],
}

GET_USER = {
    "Path": "/eng/",
    "UserName": "alice.keys",
    "UserId": "AIDAALICEKEYS0000001",
    "Arn": "arn:aws:iam::123456789012:user/eng/alice.keys",
    "CreateDate": datetime(2023, 1, 10, 9, 0, 0, 250000, tzinfo=UTC),
    "PasswordLastUsed": datetime(2024, 11, 20, 7, 45, 12, 380000, tzinfo=UTC),
    "PermissionsBoundary": ALICE_BOUNDARY,
    "Tags": ALICE_TAGS,
}
