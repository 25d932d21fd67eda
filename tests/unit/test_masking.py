"""The temporary keys of STS answers are found before botocore logs the body, and registered
with Airflow's secrets masker when botocore could print them (DEBUG)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from airflow.providers.common.compat.sdk import redact

from airflow_provider_awsiam_ocsf.hooks.base import mask_sts_credentials, secrets_in_sts_answer

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


def answer_with(token: str) -> dict:
    return {"body": XML.replace(b"IQoJb3JpZ2luX2VjEXAMPLE//+token==", token.encode())}


@contextmanager
def botocore_level(level: int) -> Iterator[None]:
    logger = logging.getLogger("botocore")
    before = logger.level
    logger.setLevel(level)  # (setLevel, not the attribute: isEnabledFor caches its answers)
    try:
        yield
    finally:
        logger.setLevel(before)


def test_keys_are_masked_when_botocore_logs_at_debug():
    token = "IQoJb3JpZ2luX2VjDEBUGONLY" + secrets.token_hex(16)
    with botocore_level(logging.DEBUG):
        mask_sts_credentials(answer_with(token))
    assert redact(f"SessionToken: {token}") == "SessionToken: ***"


def test_keys_are_not_registered_when_botocore_cannot_print_them():
    """At INFO botocore prints no key; registering them anyway costs a regex recompile each."""
    token = "IQoJb3JpZ2luX2VjINFO" + secrets.token_hex(16)
    with botocore_level(logging.INFO):
        mask_sts_credentials(answer_with(token))
    assert redact(f"SessionToken: {token}") == f"SessionToken: {token}"
