"""IAM worlds for tests, built through moto's real HTTP API, and a restricted reader.

``restricted_reader`` creates a user whose policy denies some actions, then turns on moto's
permission enforcement (``/moto-api/reset-auth``): calls made with its keys are really refused.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import requests

from tests.conftest import aws_connection_uri


@contextmanager
def restricted_reader(
    iam,
    endpoint: str,
    monkeypatch,
    denied: list[str],
    conn_id: str = "aws_restricted",
    also_allowed: tuple[dict, ...] = (),
):
    """An ``aws`` connection ``conn_id`` whose keys may do ``iam:*`` except ``denied`` actions,
    and what the ``also_allowed`` policy statements allow (e.g. ``s3:PutObject`` on a prefix)."""
    iam.create_user(UserName="ocsf-reader")
    statements = [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}, *also_allowed]
    if denied:
        statements.append({"Effect": "Deny", "Action": denied, "Resource": "*"})
    iam.put_user_policy(
        UserName="ocsf-reader",
        PolicyName="reader",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    key = iam.create_access_key(UserName="ocsf-reader")["AccessKey"]
    conn = json.loads(aws_connection_uri(endpoint))
    conn.update(login=key["AccessKeyId"], password=key["SecretAccessKey"])
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
    try:
        yield conn_id
    finally:
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=10).raise_for_status()


def add_users(iam, names, groups=()):
    for name in names:
        iam.create_user(UserName=name)
        for group in groups:
            iam.add_user_to_group(GroupName=group, UserName=name)


def seed_demo_with_credentials(iam) -> None:
    """The demo organisation (groups, attached and inline policies, MFA, tags) plus access keys for
    two users and a console password for one: every kind of call a strategy makes."""
    from devtools.demo_org import seed_demo_organisation

    seed_demo_organisation(iam)
    for user in ("leo.ci-bot", "sybil.svc-deploy"):
        iam.create_access_key(UserName=user)
    iam.create_login_profile(UserName="alice.admin", Password="Demo-password-1!")
