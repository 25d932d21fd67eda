"""What the IAM events of an event run ask for (pure): SQS message bodies in, users to read out.

Each body is an EventBridge event whose ``detail`` is a CloudTrail record of an IAM management
call (``source`` ``aws.iam``, ``detail-type`` "AWS API Call via CloudTrail"). A listed call names
users directly (``requestParameters.userName``, or the caller for calls on one's own credentials),
through a group (its members) or through a managed policy (every user it reaches); anything else
is counted under the reason it was ignored, never raised: bad input must not break the feed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

IAM_SOURCE = "iam.amazonaws.com"
CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"

# Every call that changes a user fact of SPEC §4/§4.1, by what it names.
USER_EVENTS = frozenset(
    {
        "CreateUser",
        "DeleteUser",
        "UpdateUser",
        "TagUser",
        "UntagUser",
        "PutUserPermissionsBoundary",
        "DeleteUserPermissionsBoundary",
        "AttachUserPolicy",
        "DetachUserPolicy",
        "PutUserPolicy",
        "DeleteUserPolicy",
        "AddUserToGroup",
        "RemoveUserFromGroup",
        "CreateLoginProfile",
        "UpdateLoginProfile",
        "DeleteLoginProfile",
        "ChangePassword",
        "CreateAccessKey",
        "UpdateAccessKey",
        "DeleteAccessKey",
        "EnableMFADevice",
        "DeactivateMFADevice",
    }
)
GROUP_EVENTS = frozenset(
    {"AttachGroupPolicy", "DetachGroupPolicy", "PutGroupPolicy", "DeleteGroupPolicy", "UpdateGroup"}
)
POLICY_EVENTS = frozenset({"CreatePolicyVersion", "SetDefaultPolicyVersion"})
EVENT_NAMES = USER_EVENTS | GROUP_EVENTS | POLICY_EVENTS


class Ignored(StrEnum):
    """Why a message asks for nothing; the value is how the run summary counts it."""

    NOT_JSON = "not JSON"
    NOT_CLOUDTRAIL = "not a CloudTrail API call"
    OTHER_SERVICE = "other services"
    READ_ONLY = "read-only calls"
    NOT_LISTED = "IAM calls that change no user"
    FAILED_CALL = "failed calls"
    NOT_DEFAULT_VERSION = "policy versions not made default"
    NO_USER = "no user named"
    NO_ACCOUNT = "no account"
    OUTSIDE_ACCOUNTS = "account outside `accounts`"


@dataclass(frozen=True)
class Request:
    """What one listed call asks an event run to read in one account."""

    account: str
    event_name: str
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()  # managed policy ARNs


def parse_message(body: Any) -> Request | Ignored:
    """One SQS message body (text, or already decoded) as a :class:`Request`, or why not."""
    if isinstance(body, str | bytes):
        try:
            body = json.loads(body)
        except ValueError:
            return Ignored.NOT_JSON
    if not isinstance(body, Mapping):
        return Ignored.NOT_JSON
    detail = body.get("detail")
    if body.get("detail-type") != CLOUDTRAIL_DETAIL_TYPE or not isinstance(detail, Mapping):
        return Ignored.NOT_CLOUDTRAIL
    return parse_record(detail)


def parse_record(record: Mapping[str, Any]) -> Request | Ignored:
    """One CloudTrail record (an EventBridge event's ``detail``)."""
    if record.get("eventSource") != IAM_SOURCE:
        return Ignored.OTHER_SERVICE
    if record.get("readOnly") is True:
        return Ignored.READ_ONLY
    name = record.get("eventName")
    if name not in EVENT_NAMES:
        return Ignored.NOT_LISTED
    if record.get("errorCode"):
        return Ignored.FAILED_CALL
    account = record.get("recipientAccountId")
    if not isinstance(account, str) or not account:
        return Ignored.NO_ACCOUNT
    params = record.get("requestParameters")
    params = params if isinstance(params, Mapping) else {}
    if name in USER_EVENTS:
        users = _named_users(name, params, record.get("userIdentity"))
        return Request(account, name, users=users) if users else Ignored.NO_USER
    if name in GROUP_EVENTS:
        # UpdateGroup may rename the group: its members are found under the new name.
        group = _text(params.get("newGroupName")) or _text(params.get("groupName"))
        return Request(account, name, groups=(group,)) if group else Ignored.NO_USER
    if name == "CreatePolicyVersion" and params.get("setAsDefault") is not True:
        return Ignored.NOT_DEFAULT_VERSION
    policy = _text(params.get("policyArn"))
    return Request(account, name, policies=(policy,)) if policy else Ignored.NO_USER


def _named_users(name: str, params: Mapping[str, Any], identity: Any) -> tuple[str, ...]:
    user = _text(params.get("userName"))
    if user is None:
        # Calls on one's own credentials (ChangePassword, CreateAccessKey without userName, …)
        # are about the caller; the root user's own keys are not an IAM user's.
        if isinstance(identity, Mapping) and identity.get("type") == "IAMUser":
            user = _text(identity.get("userName"))
    if user is None:
        return ()
    if name == "UpdateUser":
        # A rename: the new name is read, and the old one found gone (its tombstone).
        renamed = _text(params.get("newUserName"))
        if renamed and renamed != user:
            return (user, renamed)
    return (user,)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass
class AccountReads:
    """Everything an event run reads in one account, each name once."""

    users: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    policies: set[str] = field(default_factory=set)


@dataclass
class EventPlan:
    """The messages of a run, coalesced: what to read per account, and what was ignored."""

    messages: int = 0
    reads: dict[str, AccountReads] = field(default_factory=dict)
    ignored: Counter[str] = field(default_factory=Counter)


def plan_event_reads(bodies: Iterable[Any], accounts: Iterable[str] | None = None) -> EventPlan:
    """Coalesce message ``bodies``; ``accounts`` (None: any) are those the DAG reads."""
    wanted = None if accounts is None else set(accounts)
    plan = EventPlan()
    for body in bodies:
        plan.messages += 1
        request = parse_message(body)
        if isinstance(request, Ignored):
            plan.ignored[request.value] += 1
            continue
        if wanted is not None and request.account not in wanted:
            plan.ignored[Ignored.OUTSIDE_ACCOUNTS.value] += 1
            continue
        reads = plan.reads.setdefault(request.account, AccountReads())
        reads.users.update(request.users)
        reads.groups.update(request.groups)
        reads.policies.update(request.policies)
    return plan


def message_bodies(asset_event_extras: Iterable[Mapping[str, Any] | None]) -> list[Any]:
    """The SQS message bodies carried by asset events (the SQS trigger's payload, as the
    triggerer stores it: ``{"payload": {"message_batch": [{"Body": …}, …]}}``); an extra of
    another shape carries none."""
    bodies: list[Any] = []
    for extra in asset_event_extras:
        payload = (extra or {}).get("payload")
        batch = payload.get("message_batch") if isinstance(payload, Mapping) else None
        for message in batch if isinstance(batch, list) else []:
            bodies.append(message.get("Body") if isinstance(message, Mapping) else message)
    return bodies
