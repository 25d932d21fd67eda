"""``list_users``: the users of the run's window, split into batches for mapped enrichment."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, timedelta
from typing import Any

from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import Context
from botocore.exceptions import ClientError

from airflow_provider_awsiam_ocsf.arn import partition_of
from airflow_provider_awsiam_ocsf.batch_plan import check_batch_count
from airflow_provider_awsiam_ocsf.collection import Strategy, Window, list_users
from airflow_provider_awsiam_ocsf.contracts import (
    AccountError,
    AccountListing,
    AccountRef,
    ListingSummary,
    XComKey,
)
from airflow_provider_awsiam_ocsf.delivery import plan_batches
from airflow_provider_awsiam_ocsf.hooks.iam import error_code
from airflow_provider_awsiam_ocsf.links.aws_console import IamUsersConsoleLink
from airflow_provider_awsiam_ocsf.operators.base import (
    MemberAccountOperator,
    data_interval,
    is_backfill,
    max_map_length,
    stash,
)
from airflow_provider_awsiam_ocsf.state_store import load_sink_state

MODES = ("incremental", "full")


class ListIamUsersOperator(MemberAccountOperator):
    """List the account's users and plan what each sink needs of them, in batches.

    Scheduled and manual runs list every user created before ``run_after - settle_seconds`` (a
    complete listing: deletions are concluded from it), read each selected sink's state and keep
    as candidates the users some sink needs: new, changed (when the listing carries every posture
    fact, i.e. ``bulk``), delivered incomplete, or everyone on ``full`` runs. Backfill runs take
    the users created in their data interval and never read state. ``settle_seconds`` leaves the
    last moments to the next run: IAM is eventually consistent.

    Returns the account's :class:`AccountListing` (a :class:`BatchRef` per batch of candidates,
    the listing summary); pushes the account catalog and the :class:`DeliveryPlan` to XCom
    (:class:`XComKey`), or, when it fails, an :class:`AccountError`.

    :param account: the :class:`AccountRef` to read (templated; mapped over)
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

    template_fields: Sequence[str] = aws_template_fields(
        "account", "sinks", "strategy", "mode", "batch_size", "settle_seconds"
    )
    operator_extra_links = (IamUsersConsoleLink(),)
    ui_color = "#ffe8cc"

    def __init__(
        self,
        *,
        account: AccountRef,
        sinks: Sequence[str] | str = ("file",),
        strategy: str = Strategy.AUTO.value,
        mode: str = "incremental",
        batch_size: int | str = 500,
        settle_seconds: int | str = 5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.account = account
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

    @property
    def member_role_arn(self) -> str | None:
        return self.account["role_arn"]

    def execute(self, context: Context) -> AccountListing:
        try:
            return self.list_account(context)
        except Exception as error:
            # Kept for the run summary (pushed XComs survive a failed try).
            context["ti"].xcom_push(key=XComKey.ERROR, value=account_error(self.account, error))
            raise

    def list_account(self, context: Context) -> AccountListing:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        account = self.account["account"]
        sinks = [self.sinks] if isinstance(self.sinks, str) else list(self.sinks)
        window = self.window_for(context)
        assert window.until is not None
        self.log.info(
            "%s: listing users created in [%s, %s) with strategy %s",
            self.account["label"],
            window.since or "the beginning",
            window.until,
            self.strategy,
        )
        listing = list_users(self.hook, self.strategy, window)
        users = listing.users
        # Always persisted: the task runner resolves extra links after every run, empty ones too.
        partition = partition_of(users[0].arn) if users else self.hook.client.meta.partition
        IamUsersConsoleLink.persist(context, partition=partition)
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
            logged_time=window.until,
        )
        candidates = sum(len(b["users"]) for _, b in batches)
        check_batch_count(candidates, size, max_map_length())
        ti = context["ti"]
        refs = [
            stash(
                context,
                batch,
                account=account,
                role_arn=self.account["role_arn"],
                listing_map_index=-1 if ti.map_index is None else ti.map_index,
                index=n,
                label=label,
            )
            for n, (label, batch) in enumerate(batches)
        ]
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
            "%s: listed %d users (%s strategy, %d calls); %d to enrich in %d batches",
            self.account["label"],
            len(users),
            listing.strategy.value,
            sum(self.hook.calls.values()),
            candidates,
            len(refs),
        )
        for sink, info in (plan or {"sinks": {}})["sinks"].items():
            self.log.info("Sink %s: %s settled at listing", sink, info["counts"])
        ti.xcom_push(key=XComKey.CATALOG, value=listing.catalog.model_dump(mode="json"))
        ti.xcom_push(key=XComKey.PLAN, value=plan)
        return AccountListing(
            account=account,
            label=self.account["label"],
            batches=refs,
            summary=summary,
            window_end=window.until.isoformat(),
        )


def account_error(account: AccountRef, error: BaseException) -> AccountError:
    code = error_code(error) if isinstance(error, ClientError) else type(error).__name__
    return AccountError(account=account["account"], code=code, message=str(error))
