"""AWS Organizations worlds for tests, built through moto's real HTTP API, and a moto server in a
process of its own (for IAM enforcement, which is process-wide in moto).

moto's management account is 123456789012, the account of the ``testing`` keys. Without
enforcement every AssumeRole succeeds, role or not; with it, the caller's own policies decide
AssumeRole, and the member role's policies decide what its credentials may do.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import requests

MANAGEMENT = "123456789012"
READER_ROLE = "iam-inventory-reader"
READ_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["iam:Get*", "iam:List*", "iam:GenerateCredentialReport"],
            "Resource": "*",
        }
    ],
}


def client(endpoint: str, service: str, **credentials: str):
    """A boto3 client on ``endpoint``, with the ``testing`` keys unless ``credentials`` say."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=credentials.get("access_key", "testing"),
        aws_secret_access_key=credentials.get("secret_key", "testing"),
        aws_session_token=credentials.get("token"),
    )


def create_organization(endpoint: str, names: list[str]) -> dict[str, str]:
    """An organisation managed by 123456789012 with one created member per name; ids by name."""
    org = client(endpoint, "organizations")
    org.create_organization(FeatureSet="ALL")
    ids = {}
    for name in names:
        status = org.create_account(AccountName=name, Email=f"{name.lower()}@example.com")
        ids[name] = status["CreateAccountStatus"]["AccountId"]
    return ids


def member_client(endpoint: str, account_id: str, service: str = "iam", role: str = READER_ROLE):
    """A client in ``account_id``, through an AssumeRole made with the ``testing`` keys."""
    credentials = client(endpoint, "sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{role}", RoleSessionName="test-setup"
    )["Credentials"]
    return client(
        endpoint,
        service,
        access_key=credentials["AccessKeyId"],
        secret_key=credentials["SecretAccessKey"],
        token=credentials["SessionToken"],
    )


def create_reader_role(endpoint: str, account_id: str, role: str = READER_ROLE) -> None:
    """The member role of the README (trusting the management account), with a read policy."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{MANAGEMENT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam = member_client(endpoint, account_id, role=role)
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=role, PolicyName="read", PolicyDocument=json.dumps(READ_POLICY))


def set_enforcement(endpoint: str, on: bool) -> None:
    """moto's IAM enforcement: the body is a bare number of anonymous calls left ("0" or "inf")."""
    body = b"0" if on else b"inf"
    requests.post(f"{endpoint}/moto-api/reset-auth", data=body, timeout=10).raise_for_status()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def moto_server_process(timeout: float = 20.0, managed_policies: bool = True) -> Iterator[str]:
    """``python -m moto.server`` in its own process (AWS managed policies loaded unless
    ``managed_policies`` is False: loading them into each of many accounts costs seconds);
    yields its endpoint and stops it on exit."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": str(managed_policies).lower()}
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    requests.get(f"{endpoint}/moto-api/data.json", timeout=1).raise_for_status()
                    break
                except requests.RequestException as error:
                    if process.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        output = log.read().decode(errors="replace")[-2000:]
                        raise RuntimeError(
                            f"moto server did not start on {endpoint}:\n{output}"
                        ) from error
                    time.sleep(0.1)
            yield endpoint
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
