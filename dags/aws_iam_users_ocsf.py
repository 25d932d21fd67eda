"""Inventory the IAM users of an AWS account as OCSF User Inventory Info events.

list_users → enrich_users (mapped per batch) → to_ocsf (mapped) → write_files / push_to_sekoia
(mapped) → commit_checkpoint. The checkpoint moves only when every selected sink succeeded.
Settings are Params: override them in the trigger form or with ``--conf``. See the README.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG, Asset, CronDataIntervalTimetable, Param, XComArg

from airflow_provider_awsiam_ocsf.operators.iam_inventory import (
    BATCH_LABEL_TEMPLATE,
    CommitCheckpointOperator,
    EnrichIamUsersOperator,
    IamUsersToOcsfOperator,
    ListIamUsersOperator,
    WriteOcsfFilesOperator,
)
from airflow_provider_awsiam_ocsf.operators.sekoia import SekoiaPushOperator

DAG_ID = "aws_iam_users_ocsf"
# Emitted by each successful sink task: schedule downstream DAGs on fresh inventory with them.
FILES_ASSET = Asset(name="aws_iam_users_ocsf_files", uri="ocsf-inventory://aws_iam_users_ocsf/file")
SEKOIA_ASSET = Asset(
    name="aws_iam_users_ocsf_sekoia", uri="ocsf-inventory://aws_iam_users_ocsf/sekoia"
)

with DAG(
    dag_id=DAG_ID,
    description="AWS IAM users → OCSF User Inventory Info events (files/S3, Sekoia.io)",
    doc_md=__doc__,
    # Real [start, end) data intervals, so that backfill runs collect the users created in theirs.
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["aws", "iam", "ocsf", "inventory"],
    params={
        "aws_conn_id": Param(
            "aws_default",
            type="string",
            minLength=1,
            description="Airflow 'aws' connection of the account to inventory.",
        ),
        "strategy": Param(
            "auto",
            type="string",
            enum=["auto", "bulk", "per_user"],
            description="auto = bulk, falling back to per_user when denied.",
        ),
        "mode": Param(
            "incremental",
            type="string",
            enum=["incremental", "full"],
            description="incremental = users created since the checkpoint; full = all.",
        ),
        "batch_size": Param(
            500,
            type="integer",
            minimum=10,
            maximum=10000,
            description="Users per enrichment task instance.",
        ),
        "sinks": Param(
            ["file"],
            type="array",
            minItems=1,
            uniqueItems=True,
            items={"type": "string", "enum": ["file", "sekoia"]},
            description="Where events go: file, sekoia.",
        ),
        "output_uri": Param(
            None,
            type=["null", "string"],
            pattern=r"^[a-z][a-z0-9+.-]*://",
            description="file:// or s3:// folder for the file sink "
            "(default: $AIRFLOW_HOME/data/aws_iam_users_ocsf).",
        ),
        "sekoia_conn_id": Param(
            "sekoia_default",
            type="string",
            minLength=1,
            description="Airflow 'sekoia' connection for the sekoia sink.",
        ),
        "settle_seconds": Param(
            5,
            type="integer",
            minimum=0,
            maximum=3600,
            description="Users created this close to the run's start are "
            "left to the next run (IAM is eventually consistent).",
        ),
    },
) as dag:
    listing = ListIamUsersOperator(
        task_id="list_users",
        aws_conn_id="{{ params.aws_conn_id }}",
        strategy="{{ params.strategy }}",
        mode="{{ params.mode }}",
        batch_size="{{ params.batch_size }}",
        settle_seconds="{{ params.settle_seconds }}",
    )
    enriched = EnrichIamUsersOperator.partial(
        task_id="enrich_users",
        map_index_template=BATCH_LABEL_TEMPLATE,
        aws_conn_id="{{ params.aws_conn_id }}",
        catalog=XComArg(listing, key="catalog"),
        # Bounds concurrent per-user IAM calls across workers (IAM throttles per account).
        max_active_tis_per_dag=4,
    ).expand(batch=listing.output)
    events = IamUsersToOcsfOperator.partial(
        task_id="to_ocsf", map_index_template=BATCH_LABEL_TEMPLATE
    ).expand(batch=enriched.output)
    files = WriteOcsfFilesOperator.partial(
        task_id="write_files",
        map_index_template=BATCH_LABEL_TEMPLATE,
        sinks="{{ params.sinks }}",
        output_uri="{{ params.output_uri }}",
        outlets=[FILES_ASSET],
    ).expand(batch=events.output)
    sekoia = SekoiaPushOperator.partial(
        task_id="push_to_sekoia",
        map_index_template=BATCH_LABEL_TEMPLATE,
        sinks="{{ params.sinks }}",
        sekoia_conn_id="{{ params.sekoia_conn_id }}",
        outlets=[SEKOIA_ASSET],
    ).expand(batch=events.output)
    CommitCheckpointOperator(
        task_id="commit_checkpoint",
        aws_conn_id="{{ params.aws_conn_id }}",
        window=XComArg(listing, key="window"),
        listing=XComArg(listing, key="summary"),
        enrichments=XComArg(enriched, key="summary"),
        deliveries=[files.output, sekoia.output],
    )
