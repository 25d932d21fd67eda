"""Literal EventBridge events of CloudTrail-recorded IAM calls, as AWS delivers them to SQS."""

from __future__ import annotations

import json
from typing import Any

ACCOUNT = "123456789012"
ADMIN = {
    "type": "IAMUser",
    "principalId": "AIDAADMINEXAMPLE00001",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/admin",
    "accountId": ACCOUNT,
    "accessKeyId": "AKIAADMINEXAMPLE0001",
    "userName": "admin",
}


def cloudtrail(
    event_name: str,
    request: dict[str, Any] | None = None,
    *,
    account: str = ACCOUNT,
    identity: dict[str, Any] | None = None,
    read_only: bool = False,
    source: str = "iam.amazonaws.com",
    **record: Any,
) -> dict[str, Any]:
    """An EventBridge event ("AWS API Call via CloudTrail") of one IAM call."""
    return {
        "version": "0",
        "id": f"6a7e8feb-b491-4cf7-a9f1-{abs(hash(event_name)) % 10**12:012d}",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam" if source == "iam.amazonaws.com" else source.split(".")[0],
        "account": account,
        "time": "2026-12-03T07:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": identity or ADMIN,
            "eventTime": "2026-12-03T07:00:00Z",
            "eventSource": source,
            "eventName": event_name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.7",
            "userAgent": "aws-cli/2.15.0",
            "requestParameters": request,
            "responseElements": None,
            "requestID": "3b2c1a2e-0000-4000-8000-000000000000",
            "eventID": "5d1c9a7e-0000-4000-8000-000000000000",
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": account,
            "eventCategory": "Management",
            **record,
        },
    }


def body(event: dict[str, Any]) -> str:
    return json.dumps(event)
