"""The IAM events parser (pure): literal CloudTrail records of every listed call, and junk."""

from __future__ import annotations

import json

import pytest

from airflow_provider_awsiam_ocsf.iam_events import (
    EVENT_NAMES,
    GROUP_EVENTS,
    POLICY_EVENTS,
    USER_EVENTS,
    Ignored,
    Request,
    message_bodies,
    parse_message,
    plan_event_reads,
)
from tests.data.cloudtrail_iam import ACCOUNT, cloudtrail

POLICY = f"arn:aws:iam::{ACCOUNT}:policy/Ops"
MFA = f"arn:aws:iam::{ACCOUNT}:mfa/alice"
# requestParameters of each user-level call, as CloudTrail records them.
USER_REQUESTS = {
    "CreateUser": {"userName": "alice", "path": "/"},
    "DeleteUser": {"userName": "alice"},
    "UpdateUser": {"userName": "alice", "newPath": "/ops/"},
    "TagUser": {"userName": "alice", "tags": [{"key": "team", "value": "ops"}]},
    "UntagUser": {"userName": "alice", "tagKeys": ["team"]},
    "PutUserPermissionsBoundary": {"userName": "alice", "permissionsBoundary": POLICY},
    "DeleteUserPermissionsBoundary": {"userName": "alice"},
    "AttachUserPolicy": {"userName": "alice", "policyArn": POLICY},
    "DetachUserPolicy": {"userName": "alice", "policyArn": POLICY},
    "PutUserPolicy": {"userName": "alice", "policyName": "inline", "policyDocument": "{}"},
    "DeleteUserPolicy": {"userName": "alice", "policyName": "inline"},
    "AddUserToGroup": {"userName": "alice", "groupName": "Admins"},
    "RemoveUserFromGroup": {"userName": "alice", "groupName": "Admins"},
    "CreateLoginProfile": {"userName": "alice", "passwordResetRequired": True},
    "UpdateLoginProfile": {"userName": "alice", "passwordResetRequired": False},
    "DeleteLoginProfile": {"userName": "alice"},
    "ChangePassword": None,  # the caller's own password
    "CreateAccessKey": {"userName": "alice"},
    "UpdateAccessKey": {"userName": "alice", "accessKeyId": "AKIAEXAMPLE", "status": "Inactive"},
    "DeleteAccessKey": {"userName": "alice", "accessKeyId": "AKIAEXAMPLE"},
    "EnableMFADevice": {"userName": "alice", "serialNumber": MFA},
    "DeactivateMFADevice": {"userName": "alice", "serialNumber": MFA},
}
GROUP_REQUESTS = {
    "AttachGroupPolicy": {"groupName": "Admins", "policyArn": POLICY},
    "DetachGroupPolicy": {"groupName": "Admins", "policyArn": POLICY},
    "PutGroupPolicy": {"groupName": "Admins", "policyName": "i", "policyDocument": "{}"},
    "DeleteGroupPolicy": {"groupName": "Admins", "policyName": "i"},
    "UpdateGroup": {"groupName": "Admins", "newPath": "/x/"},
}
POLICY_REQUESTS = {
    "CreatePolicyVersion": {"policyArn": POLICY, "policyDocument": "{}", "setAsDefault": True},
    "SetDefaultPolicyVersion": {"policyArn": POLICY, "versionId": "v2"},
}
ALICE = {**json.loads(json.dumps(cloudtrail("X")["detail"]["userIdentity"]))}
ALICE.update(userName="alice", arn=f"arn:aws:iam::{ACCOUNT}:user/alice")


def test_every_listed_call_has_a_literal_record_here():
    assert set(USER_REQUESTS) == USER_EVENTS
    assert set(GROUP_REQUESTS) == GROUP_EVENTS
    assert set(POLICY_REQUESTS) == POLICY_EVENTS
    assert len(EVENT_NAMES) == 29


@pytest.mark.parametrize("name", sorted(USER_EVENTS))
def test_user_call_names_the_user(name):
    event = cloudtrail(name, USER_REQUESTS[name], identity=ALICE)
    assert parse_message(json.dumps(event)) == Request(ACCOUNT, name, users=("alice",))


@pytest.mark.parametrize("name", sorted(GROUP_EVENTS))
def test_group_call_names_the_group(name):
    assert parse_message(cloudtrail(name, GROUP_REQUESTS[name])) == Request(
        ACCOUNT, name, groups=("Admins",)
    )


@pytest.mark.parametrize("name", sorted(POLICY_EVENTS))
def test_policy_call_names_the_policy(name):
    assert parse_message(cloudtrail(name, POLICY_REQUESTS[name])) == Request(
        ACCOUNT, name, policies=(POLICY,)
    )


def test_rename_names_the_old_and_the_new_user():
    event = cloudtrail("UpdateUser", {"userName": "alice", "newUserName": "alicia"})
    assert parse_message(event).users == ("alice", "alicia")


def test_renamed_group_is_read_under_its_new_name():
    event = cloudtrail("UpdateGroup", {"groupName": "Admins", "newGroupName": "Root-ish"})
    assert parse_message(event).groups == ("Root-ish",)


def test_delete_access_key_without_user_name_is_about_the_caller():
    event = cloudtrail("DeleteAccessKey", {"accessKeyId": "AKIAEXAMPLE"}, identity=ALICE)
    assert parse_message(event).users == ("alice",)


def test_root_on_its_own_keys_names_no_iam_user():
    root = {"type": "Root", "arn": f"arn:aws:iam::{ACCOUNT}:root", "accountId": ACCOUNT}
    event = cloudtrail("CreateAccessKey", {}, identity=root)
    assert parse_message(event) is Ignored.NO_USER


def test_policy_version_not_made_default_changes_nobody():
    event = cloudtrail("CreatePolicyVersion", {"policyArn": POLICY, "setAsDefault": False})
    assert parse_message(event) is Ignored.NOT_DEFAULT_VERSION


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json {", Ignored.NOT_JSON),
        (b"\xff\xfe", Ignored.NOT_JSON),
        ("[1, 2]", Ignored.NOT_JSON),
        ("null", Ignored.NOT_JSON),
        (json.dumps({"hello": "world"}), Ignored.NOT_CLOUDTRAIL),
        (
            json.dumps({"detail-type": "AWS API Call via CloudTrail", "detail": "x"}),
            Ignored.NOT_CLOUDTRAIL,
        ),
        (
            json.dumps(cloudtrail("GetUser", {"userName": "alice"}, read_only=True)),
            Ignored.READ_ONLY,
        ),
        (json.dumps(cloudtrail("CreateRole", {"roleName": "r"})), Ignored.NOT_LISTED),
        (json.dumps(cloudtrail("UploadSSHPublicKey", {"userName": "alice"})), Ignored.NOT_LISTED),
        (json.dumps(cloudtrail("PutObject", {}, source="s3.amazonaws.com")), Ignored.OTHER_SERVICE),
        (
            json.dumps(cloudtrail("CreateUser", {"userName": "x"}, errorCode="AccessDenied")),
            Ignored.FAILED_CALL,
        ),
        (
            json.dumps(
                cloudtrail(
                    "AttachUserPolicy", {"policyArn": POLICY}, identity={"type": "AssumedRole"}
                )
            ),
            Ignored.NO_USER,
        ),
        (json.dumps(cloudtrail("AttachGroupPolicy", {"policyArn": POLICY})), Ignored.NO_USER),
        (
            json.dumps(cloudtrail("CreateUser", {"userName": "x"}, recipientAccountId=None)),
            Ignored.NO_ACCOUNT,
        ),
    ],
)
def test_junk_is_ignored_with_its_reason(body, reason):
    assert parse_message(body) is reason


def test_a_run_reads_each_user_once_and_counts_what_it_ignored():
    other = "210987654321"
    bodies = [
        json.dumps(cloudtrail("CreateUser", {"userName": "bob"})),
        json.dumps(cloudtrail("AddUserToGroup", {"userName": "bob", "groupName": "Admins"})),
        json.dumps(cloudtrail("CreateAccessKey", {"userName": "bob"})),
        json.dumps(cloudtrail("AttachGroupPolicy", GROUP_REQUESTS["AttachGroupPolicy"])),
        json.dumps(
            cloudtrail("SetDefaultPolicyVersion", POLICY_REQUESTS["SetDefaultPolicyVersion"])
        ),
        json.dumps(cloudtrail("CreateUser", {"userName": "eve"}, account=other)),
        "garbage",
        json.dumps(cloudtrail("ListUsers", {}, read_only=True)),
    ]
    plan = plan_event_reads(bodies, accounts=[ACCOUNT])
    assert plan.messages == 8
    assert list(plan.reads) == [ACCOUNT]
    reads = plan.reads[ACCOUNT]
    assert (reads.users, reads.groups, reads.policies) == ({"bob"}, {"Admins"}, {POLICY})
    assert plan.ignored == {
        "not JSON": 1,
        "read-only calls": 1,
        "account outside `accounts`": 1,
    }


def test_bodies_come_from_the_sqs_triggers_asset_event_payload():
    extras = [
        {
            "from_trigger": True,
            "payload": {
                "status": "success",
                "message_batch": [{"MessageId": "1", "Body": "a"}, {"MessageId": "2", "Body": "b"}],
            },
        },
        {
            "from_trigger": True,
            "payload": {"status": "success", "message_batch": [{"MessageId": "3", "Body": "c"}]},
        },
        {"something": "else"},
        None,
    ]
    assert message_bodies(extras) == ["a", "b", "c"]
