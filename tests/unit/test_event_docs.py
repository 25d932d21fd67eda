"""The README's EventBridge pattern and templates (docs/events/) name exactly the calls the parser
reads, and the pattern matches what the parser is tested on."""

from __future__ import annotations

import json

import pytest
import yaml

from airflow_provider_awsiam_ocsf.iam_events import EVENT_NAMES
from tests.conftest import REPO

EVENTS = REPO / "docs" / "events"


class _CfnLoader(yaml.SafeLoader):
    """CloudFormation's short tags (!Ref, !GetAtt, !Sub) read as plain values."""


_CfnLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: (
        loader.construct_scalar(node)
        if isinstance(node, yaml.ScalarNode)
        else loader.construct_sequence(node)
    ),
)


def rule_pattern() -> dict:
    return json.loads((EVENTS / "rule-pattern.json").read_text())


def test_rule_pattern_names_exactly_the_calls_the_parser_reads():
    pattern = rule_pattern()
    assert pattern["source"] == ["aws.iam"]
    assert pattern["detail-type"] == ["AWS API Call via CloudTrail"]
    assert pattern["detail"]["eventSource"] == ["iam.amazonaws.com"]
    assert set(pattern["detail"]["eventName"]) == EVENT_NAMES


@pytest.mark.parametrize(
    ("template", "rule"),
    [("queue-and-rule.yaml", "Rule"), ("member-forwarding-stackset.yaml", "ForwardRule")],
)
def test_templates_carry_the_readme_pattern(template, rule):
    doc = yaml.load((EVENTS / template).read_text(), Loader=_CfnLoader)
    assert doc["Resources"][rule]["Properties"]["EventPattern"] == rule_pattern()


def test_readme_shows_the_pattern_file():
    readme = (REPO / "README.md").read_text()
    assert "docs/events/rule-pattern.json" in readme
    blocks = [b.split("```", 1)[0] for b in readme.split("```json\n")[1:]]
    assert rule_pattern() in [json.loads(b) for b in blocks]
