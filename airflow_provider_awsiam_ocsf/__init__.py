"""Airflow provider: AWS IAM users as OCSF User Inventory events.

Runs on Airflow 3.0.6 through 3.3.x. Task SDK names (``BaseOperator``, ``BaseHook``, ``Variable``,
the exceptions, ``mask_secret``…) are imported from ``airflow.providers.common.compat.sdk``, never
from ``airflow.sdk``: several moved between 3.0 and 3.3 (``BaseHook`` and the task exceptions are
not in ``airflow.sdk`` on 3.0), and the shims resolve each to where the running Airflow has it.
"""

from __future__ import annotations

__version__ = "0.1.0"

DISTRIBUTION = "airflow-provider-awsiam-ocsf"


def get_provider_info() -> dict:
    """Provider metadata for Airflow's providers manager (entry point apache_airflow_provider)."""
    return {
        "package-name": DISTRIBUTION,
        "name": "AWS IAM users to OCSF",
        "description": "Inventories AWS IAM users as OCSF 1.6.0 User Inventory Info events "
        "and delivers them to files/S3 or the Sekoia.io asset connector API.",
        "versions": [__version__],
        "integrations": [
            {"integration-name": "AWS IAM (OCSF inventory)", "tags": ["aws"]},
            {"integration-name": "Sekoia.io", "tags": ["service"]},
            {"integration-name": "AWS IAM Identity Center (OCSF inventory)", "tags": ["aws"]},
        ],
        "hooks": [
            {
                "integration-name": "AWS IAM (OCSF inventory)",
                "python-modules": [
                    "airflow_provider_awsiam_ocsf.hooks.iam",
                    "airflow_provider_awsiam_ocsf.hooks.organizations",
                ],
            },
            {
                "integration-name": "Sekoia.io",
                "python-modules": ["airflow_provider_awsiam_ocsf.hooks.sekoia"],
            },
            {
                "integration-name": "AWS IAM Identity Center (OCSF inventory)",
                "python-modules": ["airflow_provider_awsiam_ocsf.hooks.identity_center"],
            },
        ],
        "operators": [
            {
                "integration-name": "AWS IAM (OCSF inventory)",
                "python-modules": [
                    "airflow_provider_awsiam_ocsf.operators.resolve_accounts",
                    "airflow_provider_awsiam_ocsf.operators.list_users",
                    "airflow_provider_awsiam_ocsf.operators.batches",
                    "airflow_provider_awsiam_ocsf.operators.enrich_users",
                    "airflow_provider_awsiam_ocsf.operators.to_ocsf",
                    "airflow_provider_awsiam_ocsf.operators.write_files",
                    "airflow_provider_awsiam_ocsf.operators.commit_checkpoint",
                    "airflow_provider_awsiam_ocsf.operators.refresh_from_events",
                ],
            },
            {
                "integration-name": "Sekoia.io",
                "python-modules": ["airflow_provider_awsiam_ocsf.operators.push_to_sekoia"],
            },
            {
                "integration-name": "AWS IAM Identity Center (OCSF inventory)",
                "python-modules": ["airflow_provider_awsiam_ocsf.operators.identity_center"],
            },
        ],
        "connection-types": [
            {
                "connection-type": "sekoia",
                "hook-class-name": "airflow_provider_awsiam_ocsf.hooks.sekoia.SekoiaAssetHook",
                "hook-name": "Sekoia.io asset connector",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login"],
                    "relabeling": {"host": "Base URL", "password": "API key"},
                    "placeholders": {"host": "https://api.sekoia.io"},
                },
                "conn-fields": {
                    "connector_uuid": {
                        "label": "Asset connector UUID",
                        "description": "UUID of the asset connector created in Sekoia.io "
                        "(Assets > Asset connectors).",
                        "schema": {"type": ["string", "null"]},
                    },
                },
            }
        ],
        "config": {
            "awsiam_ocsf": {
                "description": 'Event-driven refresh (README, "Changes in seconds"): IAM '
                "changes read from CloudTrail events on an SQS queue.\n",
                "options": {
                    "events_queue_url": {
                        "description": "URL of the SQS queue the EventBridge rule feeds. Empty: "
                        "no event runs, the DAG is scheduled on its timetable only.\n",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "https://sqs.us-east-1.amazonaws.com/123456789012/iam-events",
                        "default": "",
                    },
                    "events_conn_id": {
                        "description": "The aws connection that polls the queue (its region_name "
                        "is the queue's: us-east-1 for IAM events).\n",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "aws_default",
                        "default": "aws_default",
                    },
                    "events_wait_time_seconds": {
                        "description": "SQS long poll (ReceiveMessage WaitTimeSeconds, at most "
                        "20): a message is seen as it arrives, an idle queue costs few requests.\n",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "20",
                        "default": "20",
                    },
                    "events_poll_delay_seconds": {
                        "description": "Pause after an empty poll before the next one.\n",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "1",
                        "default": "1",
                    },
                    "events_max_messages": {
                        "description": "Messages per ReceiveMessage (1 to 10).\n",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "10",
                        "default": "10",
                    },
                },
            }
        },
        "extra-links": ["airflow_provider_awsiam_ocsf.links.aws_console.IamUsersConsoleLink"],
        "plugins": [
            {
                "name": "awsiam_ocsf_inventory",
                "plugin-class": "airflow_provider_awsiam_ocsf.plugins.inventory_page."
                "IamInventoryPlugin",
            }
        ],
    }
