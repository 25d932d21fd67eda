"""``list_users``: the users of the run's window, split into batches for mapped enrichment."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, timedelta
from typing import Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk import Context

from airflow_provider_awsiam_ocsf.arn import account_id_of, partition_of
from airflow_provider_awsiam_ocsf.batching import check_batch_count
from airflow_provider_awsiam_ocsf.collection import Strategy, Window, list_users
from airflow_provider_awsiam_ocsf.contracts import BatchRef, ListingSummary, XComKey
from airflow_provider_awsiam_ocsf.delivery import plan_batches
from airflow_provider_awsiam_ocsf.hooks.iam import IamHook
from airflow_provider_awsiam_ocsf.inventory import IamUser
from airflow_provider_awsiam_ocsf.links.aws_console import IamUsersConsoleLink
from airflow_provider_awsiam_ocsf.operators.base import data_interval, is_backfill, stash
from airflow_provider_awsiam_ocsf.state_store import load_sink_state

MODES = ("incremental", "full")


class ListIamUsersOperator(AwsBaseOperator[IamHook]):
    """List the account's users and plan what each sink needs of them, in batches.

    Scheduled and manual runs list every user created before ``run_after - settle_seconds`` (a
    complete listing: deletions are concluded from it), read each selected sink's state and keep
    as candidates the users some sink needs: new, changed (when the listing carries every posture
    fact, i.e. ``bulk``), delivered incomplete, or everyone on ``full`` runs. Backfill runs take
    the users created in their data interval and never read state. ``settle_seconds`` leaves the
    last moments to the next run: IAM is eventually consistent.

    Returns a :class:`BatchRef` per batch of candidates; pushes the window, the account catalog,
    the listing summary and the :class:`DeliveryPlan` to XCom (:class:`XComKey`).

    :param sinks: the sinks of the run (templated)
    :param strategy: ``auto``, ``bulk`` or ``per_user`` (templated)
    :param mode: ``incremental`` or ``full`` (templated)
    :param batch_size: users per enrichment task instance (templated)
    :param settle_seconds: users created this close to the run's start are left to the next run
        (templated)
    :param aws_conn_id: the ``aws`` connection of the account (templated)
    :param region_name: AWS region of the IAM client; IAM is global (templated)
    :param verify: whether to verify SSL certificates (templated)
    :param botocore_config: botocore client configuration; without one, the connection's
        ``config_kwargs`` and then the hook's default retry policy apply (templated)
    """

    aws_hook_class = IamHook
    template_fields: Sequence[str] = aws_template_fields(
        "sinks", "strategy", "mode", "batch_size", "settle_seconds"
    )
    operator_extra_links = (IamUsersConsoleLink(),)
    ui_color = "#ffe8cc"

    def __init__(
        self,
        *,
        sinks: Sequence[str] | str = ("file",),
        strategy: str = Strategy.AUTO.value,
        mode: str = "incremental",
        batch_size: int | str = 500,
        settle_seconds: int | str = 5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sinks = sinks
        self.strategy = strategy
        self.mode = mode
        self.batch_size = batch_size
        self.settle_seconds = settle_seconds

    def window_for(self, context: Context) -> Window:
        if is_backfill(context):
            since, until = data_interval(context)
            return Window(since=since, until=until)
        # From the run's own instant, not the clock: a re-run of the run lists the same window
        # and writes the same bytes (the window's end is every event's metadata.logged_time).
        run_after = context["dag_run"].run_after.astimezone(UTC)
        return Window(until=run_after - timedelta(seconds=int(self.settle_seconds)))

    @staticmethod
    def max_map_length() -> int:
        from airflow.configuration import conf

        return conf.getint("core", "max_map_length", fallback=1024)

    def account_of(self, users: list[IamUser]) -> str:
        """From the users' ARNs, else (no users) from STS GetCallerIdentity."""
        for user in users:
            account = account_id_of(user.arn)
            if account:
                return account
        return self.hook.account_id

    def execute(self, context: Context) -> list[BatchRef]:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        sinks = [self.sinks] if isinstance(self.sinks, str) else list(self.sinks)
        window = self.window_for(context)
        self.log.info(
            "Listing users created in [%s, %s) with strategy %s",
            window.since or "the beginning",
            window.until,
            self.strategy,
        )
        listing = list_users(self.hook, self.strategy, window)
        users = listing.users
        # Always persisted: the task runner resolves extra links after every run, empty ones too.
        partition = partition_of(users[0].arn) if users else self.hook.client.meta.partition
        IamUsersConsoleLink.persist(context, partition=partition)
        account = self.account_of(users)
        states = None
        if not is_backfill(context):
            states = {
                sink: load_sink_state(self.dag_id, str(self.aws_conn_id), account, sink)
                for sink in sinks
            }
        size = int(self.batch_size)
        batches, plan = plan_batches(
            users,
            states,
            sinks,
            size=size,
            full=self.mode == "full",
            detect_changes=listing.strategy is Strategy.BULK,
            partition=partition,
            account=account,
        )
        candidates = sum(len(b["users"]) for _, b in batches)
        check_batch_count(candidates, size, self.max_map_length())
        refs = [stash(context, n, label, batch) for n, (label, batch) in enumerate(batches)]
        summary = ListingSummary(
            account=account,
            strategy=listing.strategy.value,
            users_listed=len(users),
            batches=len(refs),
            iam_calls=dict(self.hook.calls),
            degraded=dict(Counter(d.label for d in listing.degraded)),
            report_unusable_rows=listing.report_unusable_rows,
            report_fallback_users=listing.report_fallback_users,
        )
        self.log.info(
            "Account %s: listed %d users (%s strategy, %d IAM calls); %d to enrich in %d batches",
            account,
            len(users),
            listing.strategy.value,
            sum(self.hook.calls.values()),
            candidates,
            len(refs),
        )
        for sink, info in (plan or {"sinks": {}})["sinks"].items():
            self.log.info("Sink %s: %s settled at listing", sink, info["counts"])
        ti = context["ti"]
        ti.xcom_push(key=XComKey.WINDOW, value=window.model_dump(mode="json"))
        ti.xcom_push(key=XComKey.CATALOG, value=listing.catalog.model_dump(mode="json"))
        ti.xcom_push(key=XComKey.SUMMARY, value=summary)
        ti.xcom_push(key=XComKey.PLAN, value=plan)
        return refs
