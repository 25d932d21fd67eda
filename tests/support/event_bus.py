"""moto's EventBridge and SQS as event runs use them (tests and benchmarks/events.py): the queue, a
rule in us-east-1 with the README's pattern (``docs/events/rule-pattern.json``) sending to it, and
CloudTrail records put on the default bus as AWS would (moto's IAM emits none)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import aws_connection_uri
from tests.support.airflow_stack import DAG_PROCESSOR, AirflowStack, start_stack
from tests.support.org_world import client

REPO = Path(__file__).resolve().parents[2]
RULE = "iam-user-changes"


def event_queue(endpoint: str, name: str = "iam-events") -> str:
    """The queue and the rule that sends IAM events to it; returns the queue's URL."""
    sqs, events = client(endpoint, "sqs"), client(endpoint, "events")
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
    events = events or client(endpoint, "events")
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


def start_event_stack(home: Path, endpoint: str, queue_url: str) -> AirflowStack:
    """An Airflow stack with event runs on: ``aws_default`` on ``endpoint`` for IAM and SQS, the
    DAG processor and the triggerer (its watcher reads ``queue_url``), and the job schedule, which
    creates asset-triggered runs (and scheduled ones)."""
    return start_stack(
        home,
        {"aws_default": aws_connection_uri(endpoint)},
        components=[DAG_PROCESSOR],
        triggerer=True,
        extra_env={
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True",
            "AIRFLOW__AWSIAM_OCSF__EVENTS_QUEUE_URL": queue_url,
        },
        timeout=120,
    )
