"""Real parts for tests: a temporary Airflow home with a SQLite metadata DB, moto's IAM server on
127.0.0.1 reached through the ``aws`` connection's ``endpoint_url``, and the OCSF 1.6.0 schema.

Why not pytest-airflow: it is a 2019 plugin that imports modules pytest 6+ and Airflow 2+ removed,
and since it auto-registers, merely installing it breaks every pytest run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from devtools.local import aws_connection_json, local_airflow_env

REPO = Path(__file__).resolve().parents[1]

# Airflow reads its configuration when first imported: set it up before anything imports it.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="awsiam-ocsf-airflow-")
os.environ.update(
    **local_airflow_env(_AIRFLOW_HOME, REPO / "dags"),
    AIRFLOW__CORE__UNIT_TEST_MODE="False",
    AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
)
for leaked in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(leaked, None)

import pytest  # noqa: E402  (after the environment above)

pytest_plugins = [
    "tests.support.sekoia_server",
    "tests.support.airflow_stack",
    "tests.support.dag_runs",
    "tests.support.faults",
]


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """A migrated SQLite metadata DB in a temporary AIRFLOW_HOME (once per session), holding the
    sample DAG as a dag-processor would store it (``dags reserialize``): Airflow 3.0's
    ``dag.test()`` neither stores the DAG nor activates its Assets, and fails the tasks that
    update an inactive Asset (3.3's does both itself)."""
    from tests.support.airflow_compat import log_tasks_at_info, reuse_in_process_execution_api

    for command in (["db", "migrate"], ["dags", "reserialize"]):
        subprocess.run(
            [sys.executable, "-m", "airflow", *command],
            check=True,
            capture_output=True,
            env=os.environ.copy(),
        )
    log_tasks_at_info()
    reuse_in_process_execution_api()
    return Path(_AIRFLOW_HOME)


@pytest.fixture(scope="session")
def iam_endpoint() -> str:
    """moto's IAM server on 127.0.0.1, AWS managed policies loaded."""
    from devtools.local import start_iam_server

    server, endpoint = start_iam_server()
    yield endpoint
    server.stop()


def aws_connection_uri(endpoint: str) -> str:
    """The tests' ``aws`` connection: few retries, so a failing call fails fast."""
    return aws_connection_json(endpoint, retries={"mode": "standard", "max_attempts": 2})


@pytest.fixture
def iam(iam_endpoint, monkeypatch):
    """A boto3 IAM client on an emptied moto; the ``aws_default`` connection points at it."""
    import requests

    from devtools.local import iam_client

    # A reset reloads the AWS managed policies of every account moto knows: after an organisation
    # test with member accounts, on a busy machine, that takes more than 10 s.
    requests.post(f"{iam_endpoint}/moto-api/reset", timeout=120).raise_for_status()
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_uri(iam_endpoint))
    return iam_client(iam_endpoint)


@pytest.fixture(scope="session")
def ocsf_validator():
    """Validates an event against the official OCSF 1.6.0 ``user_inventory`` schema."""
    from jsonschema import Draft202012Validator
    from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version="1.6.0")).get_class_schema(
        class_name="user_inventory", profiles=[]
    )
    validator = Draft202012Validator(schema)

    def validate(event: dict) -> None:
        errors = sorted(validator.iter_errors(event), key=str)
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
        assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]

    return validate
