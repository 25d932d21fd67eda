"""moto's EventBridge and SQS as event runs use them (tests and benchmarks/events.py): the queue, a
rule in us-east-1 with the README's pattern (``docs/events/rule-pattern.json``) sending to it, and
CloudTrail records put on the default bus as AWS would (moto's IAM emits none)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[2]
RULE = "iam-user-changes"


def client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def event_queue(endpoint: str, name: str = "iam-events") -> str:
    """The queue and the rule that sends IAM events to it; returns the queue's URL."""
    sqs, events = client("sqs", endpoint), client("events", endpoint)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = (REPO / "docs" / "events" / "rule-pattern.json").read_text()
    events.put_rule(Name=RULE, EventPattern=pattern, State="ENABLED")
    events.put_targets(Rule=RULE, Targets=[{"Id": "queue", "Arn": arn}])
    return url


def put_records(endpoint: str, *records: dict, events=None) -> None:
    """EventBridge events (``tests.data.cloudtrail_iam.cloudtrail``) on the default bus, at most
    10 a call (PutEvents' limit)."""
    events = events or client("events", endpoint)
    for start in range(0, len(records), 10):
        entries = [
            {
                "Source": r["source"],
                "DetailType": r["detail-type"],
                "Detail": json.dumps(r["detail"]),
            }
            for r in records[start : start + 10]
        ]
        answer = events.put_events(Entries=entries)
        assert answer["FailedEntryCount"] == 0, answer
