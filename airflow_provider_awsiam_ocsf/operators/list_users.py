"""``list_users``: the users of the run's window, split into batches for mapped enrichment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import Context
from botocore.exceptions import ClientError

from airflow_provider_awsiam_ocsf.arn import partition_of
from airflow_provider_awsiam_ocsf.collection import list_users
from airflow_provider_awsiam_ocsf.collection_plan import (
    Listing,
    Strategy,
    Window,
    as_sinks,
    check_mode,
    listing_window,
    summarize_listing,
)
from airflow_provider_awsiam_ocsf.contracts import (
    AccountError,
    AccountListing,
    AccountRef,
    BatchRef,
    UsersBatch,
    XComKey,
)
from airflow_provider_awsiam_ocsf.delivery import plan_batches
from airflow_provider_awsiam_ocsf.hooks.iam import error_code
from airflow_provider_awsiam_ocsf.identities import DEFAULT_IDENTITIES, Identity, check_identities
from airflow_provider_awsiam_ocsf.links.aws_console import IamUsersConsoleLink
from airflow_provider_awsiam_ocsf.operators.base import (
    MemberAccountOperator,
    data_interval,
    is_backfill,
    max_map_length,
    stash,
)
from airflow_provider_awsiam_ocsf.state import SinkState
from airflow_provider_awsiam_ocsf.state_store import load_sink_state


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
    :param identities: which identities to list: ``iam_users``, ``root`` (templated)
    :param aws_conn_id: the ``aws`` connection of the account (templated)
    :param region_name: AWS region of the IAM client; IAM is global (templated)
    :param verify: whether to verify SSL certificates (templated)
    :param botocore_config: botocore client configuration; without one, the connection's
        ``config_kwargs`` and then the hook's default retry policy apply (not templated)
    """

    template_fields: Sequence[str] = aws_template_fields(
        "account", "sinks", "strategy", "mode", "batch_size", "settle_seconds", "identities"
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
        identities: Sequence[str] | str = DEFAULT_IDENTITIES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.account = account
        self.sinks = sinks
        self.strategy = strategy
        self.mode = mode
        self.batch_size = batch_size
        self.settle_seconds = settle_seconds
        self.identities = identities

    def window_for(self, context: Context) -> Window:
        return listing_window(
            interval=data_interval(context) if is_backfill(context) else None,
            run_after=context["dag_run"].run_after,
            settle_seconds=int(self.settle_seconds),
        )

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
        check_mode(self.mode)
        check_identities(self.identities)
        account, sinks = self.account["account"], as_sinks(self.sinks)
        window = self.window_for(context)
        assert window.until is not None
        listing, partition = self.read(context, window)
        batches, plan = plan_batches(
            listing.users,
            None if is_backfill(context) else self.sink_states(account, sinks),
            sinks,
            size=int(self.batch_size),
            full=self.mode == "full",
            detect_changes=listing.strategy is Strategy.BULK,
            partition=partition,
            account=account,
            logged_time=window.until,
            max_batches=max_map_length(),
            iam_users_listed=Identity.IAM_USERS in listing.identities,
        )
        refs = self.hand_on(context, listing, batches)
        summary = summarize_listing(
            listing, account=account, batches=len(refs), calls=self.hook.calls
        )
        self.log.info(
            "%s: listed %d users (%s strategy, %d calls); %d to enrich in %d batches",
            self.account["label"],
            summary["users_listed"],
            summary["strategy"],
            sum(self.hook.calls.values()),
            sum(len(batch["users"]) for _, batch in batches),
            len(refs),
        )
        for sink, info in (plan or {"sinks": {}})["sinks"].items():
            self.log.info("Sink %s: %s settled at listing", sink, info["counts"])
        return AccountListing(
            account=account,
            label=self.account["label"],
            batches=refs,
            summary=summary,
            window_end=window.until.isoformat(),
            plan=None if plan is None else stash(context, plan, XComKey.PLAN).as_json(),
        )

    def read(self, context: Context, window: Window) -> tuple[Listing, str]:
        """The account's listing and its partition (the console link's, persisted here)."""
        self.log.info(
            "%s: listing users created in [%s, %s) with strategy %s",
            self.account["label"],
            window.since or "the beginning",
            window.until,
            self.strategy,
        )
        listing = list_users(
            self.hook, self.strategy, window, identities=check_identities(self.identities)
        )
        partition = (
            partition_of(listing.users[0].arn) if listing.users else self.hook.client.meta.partition
        )
        # Always persisted: the task runner resolves extra links after every run, empty ones too.
        IamUsersConsoleLink.persist(context, partition=partition)
        return listing, partition

    def hand_on(
        self, context: Context, listing: Listing, batches: list[tuple[str, UsersBatch]]
    ) -> list[BatchRef]:
        """Push the catalog and each batch under its own key; a reference to both per batch."""
        catalog = stash(context, listing.catalog.model_dump(mode="json"), XComKey.CATALOG)
        return [
            BatchRef(
                account=self.account["account"],
                role_arn=self.account["role_arn"],
                index=index,
                label=label,
                payload=stash(context, batch, XComKey.BATCH.format(index=index)).as_json(),
                catalog=catalog.as_json(),
            )
            for index, (label, batch) in enumerate(batches)
        ]

    def sink_states(self, account: str, sinks: list[str]) -> dict[str, SinkState]:
        return {
            sink: load_sink_state(self.dag_id, str(self.aws_conn_id), account, sink)
            for sink in sinks
        }


def account_error(account: AccountRef, error: BaseException) -> AccountError:
    code = error_code(error) if isinstance(error, ClientError) else type(error).__name__
    return AccountError(account=account["account"], code=code, message=str(error))
