"""Plumbing shared by the demo, the tests and the bench: a throwaway Airflow home, an ``aws``
connection for a loopback IAM endpoint, moto's server and a boto3 client on it. Not shipped."""

from __future__ import annotations

import json
import logging
import os


def local_airflow_env(home, dags_folder) -> dict[str, str]:
    """Settings of a throwaway Airflow home running the sample DAG against moto (demo, tests,
    bench); set them before anything imports Airflow or moto."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
    }


def aws_connection_json(endpoint_url: str, **config_kwargs) -> str:
    """An ``AIRFLOW_CONN_*`` value for an IAM endpoint such as moto's (dummy keys, us-east-1);
    ``config_kwargs`` go to botocore, e.g. ``retries={"max_attempts": 2}``."""
    extra = {"endpoint_url": endpoint_url, "region_name": "us-east-1"}
    if config_kwargs:
        extra["config_kwargs"] = config_kwargs
    return json.dumps(
        {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
    )


def start_iam_server(host: str = "127.0.0.1", port: int = 0):
    """A moto server (AWS managed policies loaded) on ``host``; returns (server, endpoint_url)."""
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=host, port=port)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    return server, f"http://{bound_host}:{bound_port}"


def write_root_rows() -> None:
    """Make this process's moto write the ``<root_account>`` row AWS puts first in every
    credential report (moto 5.2 writes none): the demo then shows the root user as AWS would.

    Demo only: the tests keep moto as it is and add the row through a proxy where they need it.
    """
    from moto.iam.models import IAMBackend

    plain = IAMBackend.get_credential_report
    if getattr(plain, "writes_root_row", False):
        return

    def with_root_row(self: IAMBackend) -> str:
        header, _, rows = plain(self).partition("\n")
        # As AWS writes root's row: no password column (not_supported), no key, no certificate.
        root = (
            f"<root_account>,arn:{self.partition}:iam::{self.account_id}:root,"
            "2026-01-05T09:00:00+00:00,not_supported,2026-11-30T08:12:00+00:00,"
            "not_supported,not_supported,false,"
            "false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
        )
        return f"{header}\n{root}\n{rows}"

    with_root_row.writes_root_row = True  # type: ignore[attr-defined]
    IAMBackend.get_credential_report = with_root_row  # type: ignore[method-assign]


def iam_client(endpoint_url: str):
    import boto3

    return boto3.client(
        "iam",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
