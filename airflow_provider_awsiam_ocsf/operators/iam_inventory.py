"""Operators of the inventory pipeline: list → enrich (mapped) → to OCSF (mapped) → sinks → commit.

Each holds configuration and delegates: IAM I/O to ``IamHook`` through ``collection``, the mapping
to ``ocsf``, the checkpoint to ``checkpoint``. Batches travel between tasks as references to their
payload (``operators.batches``): users as dicts for enrichment, then OCSF events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import BaseOperator, ObjectStoragePath
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_awsiam_ocsf.arn import partition_of
from airflow_provider_awsiam_ocsf.checkpoint import (
    advance_checkpoint,
    checkpoint_key,
    read_checkpoint,
)
from airflow_provider_awsiam_ocsf.collection import (
    Strategy,
    Window,
    count_degradations,
    enrich_user,
    list_users,
)
from airflow_provider_awsiam_ocsf.hooks.iam import IamHook
from airflow_provider_awsiam_ocsf.inventory import AccountCatalog, IamUser
from airflow_provider_awsiam_ocsf.links.aws_console import IamUsersConsoleLink
from airflow_provider_awsiam_ocsf.ocsf import to_ocsf_user_inventory
from airflow_provider_awsiam_ocsf.operators.batches import fetch, stash
from airflow_provider_awsiam_ocsf.sinks.files import (
    default_output_uri,
    encode_ndjson,
    write_atomically,
)

MODES = ("incremental", "full")
PROGRESS_EVERY = 100  # users between progress lines of an enrichment task


def is_backfill(context: Any) -> bool:
    return context["dag_run"].run_type == "backfill"


def run_folder(context: Any) -> str:
    """Deterministic per run: a backfill's folder is its data interval, so a re-run replaces it."""
    if is_backfill(context):
        fmt = "%Y%m%dT%H%M%SZ"
        start = context["data_interval_start"].astimezone(timezone.utc).strftime(fmt)
        end = context["data_interval_end"].astimezone(timezone.utc).strftime(fmt)
        return f"interval={start}_{end}"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in context["dag_run"].run_id)
    return f"run={safe}"


def split_into_batches(users: list[IamUser], size: int) -> list[tuple[str, list[IamUser]]]:
    """Consecutive batches labelled by position, e.g. ``users 1–500``, ``users 501–1000``."""
    return [
        (
            f"users {start + 1}–{start + len(users[start : start + size])}",
            users[start : start + size],
        )
        for start in range(0, len(users), size)
    ]


class ListIamUsersOperator(BaseOperator):
    """List the users of the run's window and split them into batches for mapped enrichment.

    The window is the backfill run's data interval, or ``[checkpoint, now - settle)`` for
    incremental runs, or everything before ``now - settle`` for full runs. ``settle_seconds``
    leaves the last moments to the next run: IAM is eventually consistent, and a user created
    during this run must be collected by this run or the next, never by neither.

    Returns references to the batches; pushes ``window`` (for the checkpoint commit), ``catalog``
    (account-wide facts for enrichment) and ``summary`` to XCom.
    """

    template_fields: Sequence[str] = (
        "aws_conn_id",
        "strategy",
        "mode",
        "batch_size",
        "settle_seconds",
    )
    operator_extra_links = (IamUsersConsoleLink(),)
    ui_color = "#ffe8cc"

    def __init__(
        self,
        *,
        aws_conn_id: str = "aws_default",
        strategy: str = Strategy.AUTO.value,
        mode: str = "incremental",
        batch_size: int = 500,
        settle_seconds: int = 5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.strategy = strategy
        self.mode = mode
        self.batch_size = batch_size
        self.settle_seconds = settle_seconds

    def window_for(self, context: Any) -> Window:
        if is_backfill(context):
            return Window(since=context["data_interval_start"], until=context["data_interval_end"])
        until = datetime.now(timezone.utc) - timedelta(seconds=int(self.settle_seconds))
        if self.mode == "full":
            return Window(until=until)
        since = read_checkpoint(checkpoint_key(self.dag_id, self.aws_conn_id))
        return Window(since=since, until=until)

    @staticmethod
    def check_batch_count(users: int, size: int) -> None:
        """Fail with a remedy rather than let Airflow refuse to map more than max_map_length."""
        from airflow.configuration import conf

        limit = conf.getint("core", "max_map_length", fallback=1024)
        if -(-users // size) > limit:
            raise ValueError(
                f"{users} users in batches of {size} make more than {limit} mapped task "
                f"instances ([core] max_map_length): raise batch_size to at least "
                f"{-(-users // limit)}."
            )

    def execute(self, context: Any) -> list[dict]:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        window = self.window_for(context)
        self.log.info(
            "Collecting users created in [%s, %s) with strategy %s",
            window.since or "the beginning",
            window.until or "now",
            self.strategy,
        )
        hook = IamHook(aws_conn_id=self.aws_conn_id)
        listing = list_users(hook, self.strategy, window)
        users = listing.users
        # Always persisted: the task runner resolves extra links after every run, empty ones too.
        partition = partition_of(users[0].arn) if users else hook.client.meta.partition
        IamUsersConsoleLink.persist(context, partition=partition)
        size = int(self.batch_size)
        self.check_batch_count(len(users), size)
        batches = [
            stash(context, n, label, [u.model_dump(mode="json") for u in chunk])
            for n, (label, chunk) in enumerate(split_into_batches(users, size))
        ]
        summary = {
            "strategy": listing.strategy.value,
            "users_listed": len(users),
            "batches": len(batches),
            "iam_calls": dict(hook.calls),
            "degraded": dict(Counter(f"{d.api}:{d.code}" for d in listing.degraded)),
        }
        self.log.info(
            "Listed %d users in %d batches (%s strategy) with %d IAM calls",
            len(users),
            len(batches),
            listing.strategy.value,
            sum(hook.calls.values()),
        )
        ti = context["ti"]
        ti.xcom_push(key="window", value=window.model_dump(mode="json"))
        ti.xcom_push(key="catalog", value=listing.catalog.model_dump(mode="json"))
        ti.xcom_push(key="summary", value=summary)
        return batches


# Give it to ``.partial(map_index_template=...)`` so mapped instances are named by their batch.
BATCH_LABEL_TEMPLATE = "{{ batch_label }}"


class _BatchOperator(BaseOperator):
    """Works on one batch of a mapped run; labels its task instance with the batch."""

    def label(self, context: Any, batch: dict) -> None:
        context["batch_label"] = batch["label"]

    def payload(self, context: Any) -> Any:
        return fetch(context, self.batch)


class EnrichIamUsersOperator(_BatchOperator):
    """Per-user IAM calls for the facts the listing left unknown (groups, own policies, MFA)."""

    template_fields: Sequence[str] = ("aws_conn_id", "batch", "catalog")
    ui_color = "#ffd8a8"

    def __init__(
        self, *, batch: Any, catalog: Any, aws_conn_id: str = "aws_default", **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.batch = batch
        self.catalog = catalog

    def execute(self, context: Any) -> dict:
        self.label(context, self.batch)
        users = [IamUser.model_validate(u) for u in self.payload(context)]
        catalog = AccountCatalog.model_validate(self.catalog)
        hook = IamHook(aws_conn_id=self.aws_conn_id)
        enriched = []
        for done, user in enumerate(users, start=1):
            enriched.append(enrich_user(hook, user, catalog))
            if done % PROGRESS_EVERY == 0:
                self.log.info("%s: enriched %d/%d users", self.batch["label"], done, len(users))
        degraded = count_degradations(enriched)
        context["ti"].xcom_push(
            key="summary",
            value={
                "users": len(enriched),
                "degraded_users": sum(1 for u in enriched if u.degraded),
                "degraded": dict(degraded),
                "iam_calls": dict(hook.calls),
            },
        )
        self.log.info(
            "%s: %d users enriched with %d IAM calls; degraded: %s",
            self.batch["label"],
            len(enriched),
            sum(hook.calls.values()),
            dict(degraded) or "none",
        )
        return stash(
            context,
            self.batch["index"],
            self.batch["label"],
            [u.model_dump(mode="json") for u in enriched],
        )


class IamUsersToOcsfOperator(_BatchOperator):
    """Maps a batch of enriched users to OCSF 1.6.0 User Inventory Info events (pure)."""

    template_fields: Sequence[str] = ("batch",)
    ui_color = "#d0ebff"

    def __init__(self, *, batch: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.batch = batch

    def execute(self, context: Any) -> dict:
        self.label(context, self.batch)
        events = [
            to_ocsf_user_inventory(IamUser.model_validate(u)).as_dict()
            for u in self.payload(context)
        ]
        return stash(context, self.batch["index"], self.batch["label"], events)


class SinkOperator(_BatchOperator):
    """A sink for one batch of events; skipped when the run's ``sinks`` does not name it."""

    sink_name: str = ""

    def __init__(self, *, batch: Any, sinks: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.batch = batch
        self.sinks = sinks

    def execute(self, context: Any) -> dict:
        self.label(context, self.batch)
        if self.sinks is not None and self.sink_name not in self.sinks:
            raise AirflowSkipException(
                f"sink {self.sink_name!r} not in this run's sinks {self.sinks}"
            )
        report = self.deliver(context, self.payload(context))
        self.log.info(
            "%s: %s sink delivered %d events", self.batch["label"], self.sink_name, report["events"]
        )
        return report

    def deliver(self, context: Any, events: list[dict]) -> dict:
        raise NotImplementedError


class WriteOcsfFilesOperator(SinkOperator):
    """Writes a batch to ``<output_uri>/<run folder>/part-<index>.ndjson``, replacing old tries."""

    sink_name = "file"
    template_fields: Sequence[str] = ("batch", "sinks", "output_uri")
    ui_color = "#d3f9d8"

    def __init__(self, *, output_uri: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.output_uri = output_uri

    def deliver(self, context: Any, events: list[dict]) -> dict:
        folder = ObjectStoragePath(self.output_uri or default_output_uri()) / run_folder(context)
        target = folder / f"part-{self.batch['index']:05d}.ndjson"
        write_atomically(target, encode_ndjson(events))
        return {"sink": self.sink_name, "events": len(events), "uri": str(target)}


class CommitCheckpointOperator(BaseOperator):
    """Moves the checkpoint to the end of the run's window, then logs the run summary.

    Runs only when no upstream task failed (trigger rule ``none_failed``): every batch of every
    selected sink succeeded, or there was nothing to deliver. Backfill runs never touch it.
    """

    template_fields: Sequence[str] = (
        "aws_conn_id",
        "window",
        "listing",
        "enrichments",
        "deliveries",
    )
    ui_color = "#e5dbff"

    def __init__(
        self,
        *,
        window: Any,
        listing: Any = None,
        enrichments: Any = (),
        deliveries: Any = (),
        aws_conn_id: str = "aws_default",
        **kwargs: Any,
    ):
        kwargs.setdefault("trigger_rule", "none_failed")
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.window = window
        self.listing = listing
        self.enrichments = enrichments
        self.deliveries = deliveries

    def execute(self, context: Any) -> dict:
        summary = run_summary(self.listing, self.enrichments, self.deliveries)
        key = checkpoint_key(self.dag_id, self.aws_conn_id)
        window = Window.model_validate(self.window)
        if is_backfill(context):
            self.log.info("Backfill run: checkpoint %s left alone", key)
        else:
            summary["checkpoint"] = advance_checkpoint(key, window.until).isoformat()
            self.log.info("Checkpoint %s is now %s", key, summary["checkpoint"])
        self.log.info("Run summary: %s", summary)
        return summary


def _flatten(values: Any) -> list:
    """Plain list of the values of XComArgs, some of them mapped (lazy sequences)."""
    if values is None:
        return []
    if isinstance(values, dict):
        return [values]
    # Index by length: iterating a lazy XCom sequence probes one offset too far and logs an error.
    return [v for i in range(len(values)) for v in _flatten(values[i])]


def run_summary(listing: dict | None, enrichments: Any, deliveries: Any) -> dict:
    """Users listed/enriched/degraded, events per sink and IAM calls by action, for the log."""
    listing = listing or {}
    calls: Counter[str] = Counter(listing.get("iam_calls", {}))
    degraded: Counter[str] = Counter(listing.get("degraded", {}))
    enriched = degraded_users = 0
    for part in _flatten(enrichments):
        enriched += part["users"]
        degraded_users += part["degraded_users"]
        calls.update(part["iam_calls"])
        degraded.update(part["degraded"])
    events: Counter[str] = Counter()
    for report in _flatten(deliveries):
        events[report["sink"]] += report["events"]
    return {
        "strategy": listing.get("strategy"),
        "users_listed": listing.get("users_listed", 0),
        "users_enriched": enriched,
        "users_degraded": degraded_users,
        "degraded": dict(degraded),
        "events_per_sink": dict(events),
        "iam_calls": dict(sorted(calls.items())),
        "iam_calls_total": sum(calls.values()),
    }
