"""The temporary keys of STS answers are found before botocore logs the body."""

from __future__ import annotations

from airflow_provider_awsiam_ocsf.hooks.base import secrets_in_sts_answer

XML = b"""<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult><Credentials>
    <AccessKeyId>ASIAEXAMPLEKEY123456</AccessKeyId>
    <SecretAccessKey>wJalr/XUtnFEMI+K7MDENG=bPxRfiCY</SecretAccessKey>
    <SessionToken>IQoJb3JpZ2luX2VjEXAMPLE//+token==</SessionToken>
    <Expiration>2026-12-02T19:32:43Z</Expiration>
  </Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn>
  </AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>"""


def test_keys_of_an_xml_assume_role_answer_are_found():
    assert secrets_in_sts_answer(XML) == [
        "ASIAEXAMPLEKEY123456",
        "wJalr/XUtnFEMI+K7MDENG=bPxRfiCY",
        "IQoJb3JpZ2luX2VjEXAMPLE//+token==",
    ]


def test_keys_of_a_json_answer_are_found():
    body = '{"Credentials": {"AccessKeyId": "ASIAJSON", "SecretAccessKey": "s/3+", '
    body += '"SessionToken": "t0k==", "Expiration": 1.7e9}}'
    assert secrets_in_sts_answer(body) == ["ASIAJSON", "s/3+", "t0k=="]


def test_an_answer_without_keys_yields_nothing():
    assert secrets_in_sts_answer(b"<GetCallerIdentityResponse><Account>1</Account>") == []
