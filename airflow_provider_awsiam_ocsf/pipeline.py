"""The inventory pipeline as a DAG you build with one call.

    from airflow_provider_awsiam_ocsf.pipeline import build_inventory_dag

    dag = build_inventory_dag("aws_iam_users_ocsf")
    prod = build_inventory_dag("aws_iam_users_ocsf_prod", aws_conn_id="aws_prod", sinks=["sekoia"])

resolve_accounts → list_users (mapped per group of accounts) → batches → enrich_users (mapped per
batch of users, small accounts sharing one) → to_ocsf (mapped) → write_files / push_to_sekoia
(mapped) → commit_checkpoint. Each sink gets the users it does not hold as they are now (new,
changed, deleted); its state for an account moves only when it accepted every part of that
account. An account that cannot be read, at any stage, fails alone.
Settings are DAG Params (typed, validated before any task runs, shown in the trigger form): the
keyword arguments of :func:`build_inventory_dag` change their defaults, run conf overrides them
per run. See the README.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import pendulum
from airflow import __version__ as AIRFLOW_VERSION
from airflow.providers.common.compat.sdk import DAG, Asset, Param, XComArg

try:  # the Task SDK's, Airflow 3.2+
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # pragma: no cover - Airflow 3.0/3.1
    from airflow.timetables.interval import (  # type: ignore[assignment]
        CronDataIntervalTimetable,
    )

from airflow_provider_awsiam_ocsf.contracts import XComKey
from airflow_provider_awsiam_ocsf.event_schedule import (
    event_settings,
    events_asset,
    events_schedule,
)
from airflow_provider_awsiam_ocsf.identities import DEFAULT_IDENTITIES, IDENTITIES
from airflow_provider_awsiam_ocsf.operators.base import (
    ACCOUNT_LABEL_TEMPLATE,
    BATCH_LABEL_TEMPLATE,
)
from airflow_provider_awsiam_ocsf.operators.batches import FlattenBatchesOperator
from airflow_provider_awsiam_ocsf.operators.commit_checkpoint import CommitCheckpointOperator
from airflow_provider_awsiam_ocsf.operators.enrich_users import EnrichIamUsersOperator
from airflow_provider_awsiam_ocsf.operators.identity_center import (
    InventoryIdentityCenterOperator,
)
from airflow_provider_awsiam_ocsf.operators.list_users import ListIamUsersOperator
from airflow_provider_awsiam_ocsf.operators.push_to_sekoia import SekoiaPushOperator
from airflow_provider_awsiam_ocsf.operators.refresh_from_events import RefreshFromEventsOperator
from airflow_provider_awsiam_ocsf.operators.resolve_accounts import (
    DEFAULT_ACCOUNTS_PER_TASK,
    DEFAULT_MEMBER_ROLE,
    ResolveAccountsOperator,
)
from airflow_provider_awsiam_ocsf.operators.to_ocsf import IamUsersToOcsfOperator
from airflow_provider_awsiam_ocsf.operators.write_files import WriteOcsfFilesOperator
from airflow_provider_awsiam_ocsf.per_account import DEFAULT_CONCURRENCY

DAG_ID = "aws_iam_users_ocsf"
# The first hourly interval; catchup is off, so only backfills reach back to it.
START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")
SINKS = ("file", "sekoia")
# Bounds concurrent per-user IAM calls across workers (IAM throttles per account).
ENRICHMENT_CONCURRENCY = 4
# A task fails on what botocore's and the Sekoia hook's own retries could not overcome (throttling,
# 5xx, timeouts, a connection lost); Airflow then retries the task later, minutes apart, before
# the run fails with its state unmoved. Refusals that a retry cannot fix (denied, bad key, a corrupt
# state) raise AirflowFailException and fail at once. ``dag_kwargs={"default_args": …}`` overrides.
# Airflow 3.0/3.1 take a flag (the delay doubles); 3.2+ a multiplier, where True would mean x1.
_DOUBLING: float | bool = (
    2.0 if tuple(int(n) for n in AIRFLOW_VERSION.split(".")[:2]) >= (3, 2) else True
)
TASK_RETRIES: dict[str, Any] = {
    "retries": 3,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": _DOUBLING,
    "max_retry_delay": timedelta(minutes=15),
}


def inventory_params(**defaults: Any) -> dict[str, Param]:
    """The pipeline's Params; keyword arguments replace their defaults (validated the same way)."""
    params = {
        "aws_conn_id": Param(
            "aws_default",
            type="string",
            minLength=1,
            description="Airflow 'aws' connection of the account to inventory "
            "(in organisation mode: of the management or delegated administrator account).",
        ),
        "accounts": Param(
            "self",
            anyOf=[
                {"type": "string", "enum": ["self", "organization"]},
                {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {"type": "string", "pattern": "^[0-9]{12}$"},
                },
            ],
            description='"self" (the connection\'s account), "organization" (every ACTIVE '
            "account of the AWS Organization) or a list of 12-digit account ids.",
        ),
        "member_role_name": Param(
            DEFAULT_MEMBER_ROLE,
            type="string",
            pattern=r"^[\w+=,.@/-]{1,512}$",
            description="Role assumed in every account other than the connection's own.",
        ),
        "accounts_per_task": Param(
            DEFAULT_ACCOUNTS_PER_TASK,
            type="integer",
            minimum=1,
            maximum=1000,
            description="Accounts read by one list_users task instance (raised when needed to "
            "stay under [core] max_map_length).",
        ),
        "account_concurrency": Param(
            DEFAULT_CONCURRENCY,
            type="integer",
            minimum=1,
            maximum=64,
            description="Accounts read at once inside a list_users or enrich_users task "
            "instance (each with its own session; IAM throttles per account).",
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
            description="incremental = what each sink does not hold yet (new, changed, "
            "deleted users); full = every user.",
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
            items={"type": "string", "enum": list(SINKS)},
            description="Where events go: file, sekoia.",
        ),
        "output_uri": Param(
            None,
            type=["null", "string"],
            pattern=r"^[a-z][a-z0-9+.-]*://",
            description="file:// or s3:// folder for the file sink "
            "(default: $AIRFLOW_HOME/data/<dag_id>, a folder per DAG).",
        ),
        "sekoia_conn_id": Param(
            "sekoia_default",
            type="string",
            minLength=1,
            description="Airflow 'sekoia' connection for the sekoia sink.",
        ),
        "access_key_ids": Param(
            True,
            type="boolean",
            description="Read access key ids (one ListAccessKeys per user holding a key); "
            "false keeps bulk at a handful of IAM calls.",
        ),
        "identities": Param(
            list(DEFAULT_IDENTITIES),
            type="array",
            minItems=1,
            uniqueItems=True,
            items={"type": "string", "enum": list(IDENTITIES)},
            description="Which identities: iam_users (IAM users), root (each account's root "
            "user: the credential report's <root_account> row and one GetAccountSummary), "
            "identity_center (the IAM Identity Center users of the connection's account).",
        ),
        "identity_center_region": Param(
            None,
            type=["null", "string"],
            pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]+$",
            description="Region of the IAM Identity Center instance (default: the aws "
            "connection's extra identity_center_region, else its region_name).",
        ),
        "settle_seconds": Param(
            5,
            type="integer",
            minimum=0,
            maximum=3600,
            description="Users created this close to the run's start are "
            "left to the next run (IAM is eventually consistent).",
        ),
    }
    unknown = set(defaults) - set(params)
    if unknown:
        raise TypeError(f"unknown inventory params {sorted(unknown)}; known: {sorted(params)}")
    for name, value in defaults.items():
        spec = params[name]
        params[name] = Param(value, description=spec.description, **spec.schema)
    return params


def sink_assets(dag_id: str) -> dict[str, Asset]:
    """Emitted by each successful sink task: schedule downstream DAGs on fresh inventory."""
    return {
        sink: Asset(
            name=f"{dag_id}_{'files' if sink == 'file' else sink}",
            uri=f"ocsf-inventory://{dag_id}/{sink}",
        )
        for sink in SINKS
    }


def build_inventory_dag(
    dag_id: str = DAG_ID,
    *,
    schedule: Any = None,
    start_date: datetime = START_DATE,
    tags: Iterable[str] = ("aws", "iam", "ocsf", "inventory"),
    dag_kwargs: dict[str, Any] | None = None,
    events_queue_url: str | None = None,
    events_conn_id: str | None = None,
    **param_defaults: Any,
) -> DAG:
    """The inventory DAG. ``param_defaults`` change Param defaults (e.g. ``aws_conn_id``,
    ``sinks``); ``schedule`` defaults to hourly with real data intervals, so backfill runs
    collect the users created in theirs; ``dag_kwargs`` go to ``DAG`` as they are (their
    ``default_args`` are laid over :data:`TASK_RETRIES`).

    ``events_queue_url`` and ``events_conn_id`` (default: ``[awsiam_ocsf]``'s options) switch on
    event runs: the DAG is then scheduled on ``schedule`` **or** the IAM events on that SQS queue
    (``""`` switches them off whatever the config says)."""
    dag_kwargs = dict(dag_kwargs or {})
    default_args = {**TASK_RETRIES, **dag_kwargs.pop("default_args", {})}
    timetable = schedule or CronDataIntervalTimetable("0 * * * *", timezone="UTC")
    events = event_settings(events_queue_url, events_conn_id)
    watched = None if events is None else events_asset(dag_id, events)
    if watched is not None:
        timetable = events_schedule(timetable, watched)
    with DAG(
        dag_id=dag_id,
        description="AWS IAM users → OCSF User Inventory Info events (files/S3, Sekoia.io)",
        doc_md=__doc__,
        schedule=timetable,
        start_date=start_date,
        catchup=False,
        max_active_runs=1,
        render_template_as_native_obj=True,
        tags=list(tags),
        params=inventory_params(**param_defaults),
        default_args=default_args,
        **dag_kwargs,
    ) as dag:
        inventory_tasks(sink_assets(dag_id), event_runs=watched)
    return dag


def inventory_tasks(
    assets: Mapping[str, Asset] | None = None, *, event_runs: Asset | None = None
) -> None:
    """The pipeline's tasks, in the current DAG (or task group), whose Params are
    :func:`inventory_params`'; each sink task updates its Asset of ``assets`` when given.
    ``event_runs`` (the watched events asset): add ``refresh_from_events``, which does event runs
    (the others skip in them).
    Tasks find each other's values through references the values carry, never by task id, so a
    task group's prefix, or a second pipeline beside this one, changes nothing."""
    assets = assets or {}
    accounts = ResolveAccountsOperator(
        task_id="resolve_accounts",
        aws_conn_id="{{ params.aws_conn_id }}",
        accounts="{{ params.accounts }}",
        member_role_name="{{ params.member_role_name }}",
        accounts_per_task="{{ params.accounts_per_task }}",
    )
    listing = ListIamUsersOperator.partial(
        task_id="list_users",
        map_index_template=ACCOUNT_LABEL_TEMPLATE,
        aws_conn_id="{{ params.aws_conn_id }}",
        sinks="{{ params.sinks }}",
        strategy="{{ params.strategy }}",
        mode="{{ params.mode }}",
        batch_size="{{ params.batch_size }}",
        settle_seconds="{{ params.settle_seconds }}",
        identities="{{ params.identities }}",
        concurrency="{{ params.account_concurrency }}",
    ).expand(accounts=accounts.output)
    # The keyed XCom, not the return value: a list_users instance that failed for some of its
    # accounts pushed the others' listing before failing.
    listed = XComArg(listing, key=XComKey.LISTINGS)
    batches = FlattenBatchesOperator(
        task_id="batches", listings=listed, batch_size="{{ params.batch_size }}"
    )
    enriched = EnrichIamUsersOperator.partial(
        task_id="enrich_users",
        map_index_template=BATCH_LABEL_TEMPLATE,
        aws_conn_id="{{ params.aws_conn_id }}",
        access_key_ids="{{ params.access_key_ids }}",
        concurrency="{{ params.account_concurrency }}",
        max_active_tis_per_dag=ENRICHMENT_CONCURRENCY,
    ).expand(batch=batches.output)
    events = IamUsersToOcsfOperator.partial(
        task_id="to_ocsf",
        map_index_template=BATCH_LABEL_TEMPLATE,
        access_key_ids="{{ params.access_key_ids }}",
    ).expand(batch=enriched.output)
    files = WriteOcsfFilesOperator.partial(
        task_id="write_files",
        map_index_template=BATCH_LABEL_TEMPLATE,
        sinks="{{ params.sinks }}",
        output_uri="{{ params.output_uri }}",
        aws_conn_id="{{ params.aws_conn_id }}",
        outlets=[assets["file"]] if "file" in assets else [],
    ).expand(batch=events.output)
    sekoia = SekoiaPushOperator.partial(
        task_id="push_to_sekoia",
        map_index_template=BATCH_LABEL_TEMPLATE,
        sinks="{{ params.sinks }}",
        sekoia_conn_id="{{ params.sekoia_conn_id }}",
        outlets=[assets["sekoia"]] if "sekoia" in assets else [],
    ).expand(batch=events.output)
    identity_center = InventoryIdentityCenterOperator(
        task_id="inventory_identity_center",
        identities="{{ params.identities }}",
        sinks="{{ params.sinks }}",
        mode="{{ params.mode }}",
        aws_conn_id="{{ params.aws_conn_id }}",
        identity_center_region="{{ params.identity_center_region }}",
        member_role_name="{{ params.member_role_name }}",
        output_uri="{{ params.output_uri }}",
        sekoia_conn_id="{{ params.sekoia_conn_id }}",
        settle_seconds="{{ params.settle_seconds }}",
    )
    if event_runs:
        RefreshFromEventsOperator(
            task_id="refresh_from_events",
            aws_conn_id="{{ params.aws_conn_id }}",
            accounts="{{ params.accounts }}",
            member_role_name="{{ params.member_role_name }}",
            sinks="{{ params.sinks }}",
            output_uri="{{ params.output_uri }}",
            sekoia_conn_id="{{ params.sekoia_conn_id }}",
            access_key_ids="{{ params.access_key_ids }}",
            identities="{{ params.identities }}",
            sink_assets=assets,
            inlets=[event_runs],
        )
    CommitCheckpointOperator(
        task_id="commit_checkpoint",
        aws_conn_id="{{ params.aws_conn_id }}",
        sinks="{{ params.sinks }}",
        accounts=accounts.output,
        skipped=XComArg(accounts, key=XComKey.SKIPPED),
        listings=listed,
        errors=[
            XComArg(listing, key=XComKey.ERROR),
            XComArg(enriched, key=XComKey.ERROR),
            XComArg(files, key=XComKey.ERROR),
            XComArg(sekoia, key=XComKey.ERROR),
        ],
        batches=batches.output,
        updates=XComArg(events, key=XComKey.STATE_UPDATES),
        enrichments=XComArg(enriched, key=XComKey.SUMMARY),
        deliveries=[files.output, sekoia.output],
        identities="{{ params.identities }}",
        identity_center=identity_center.output,
    )
