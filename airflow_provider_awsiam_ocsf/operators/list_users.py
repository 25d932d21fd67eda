"""``list_users``: the users of the run's window in a group of accounts, read a few accounts at a
time, each account's candidates split into chunks for the run's shared batches."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import AirflowFailException, Context
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
    AccountGroup,
    AccountListing,
    AccountRef,
    ChunkRef,
    GroupListing,
    UsersBatch,
    XComKey,
)
from airflow_provider_awsiam_ocsf.delivery import plan_batches
from airflow_provider_awsiam_ocsf.hooks.iam import IamHook, error_code
from airflow_provider_awsiam_ocsf.identities import DEFAULT_IDENTITIES, Identity, check_identities
from airflow_provider_awsiam_ocsf.links.aws_console import IamUsersConsoleLink
from airflow_provider_awsiam_ocsf.operators.base import (
    MemberAccountOperator,
    data_interval,
    is_backfill,
    max_map_length,
    stash,
)
from airflow_provider_awsiam_ocsf.per_account import (
    DEFAULT_CONCURRENCY,
    first_failure,
    run_per_account,
)
from airflow_provider_awsiam_ocsf.state import SinkState
from airflow_provider_awsiam_ocsf.state_store import load_sink_state


class ListIamUsersOperator(MemberAccountOperator):
    """List the users of a group of accounts and plan what each sink needs of them, in chunks.

    The accounts are read ``concurrency`` at a time, each with its own hook (its own session,
    client and botocore retries; :mod:`~airflow_provider_awsiam_ocsf.per_account`). Scheduled
    and manual runs list every user created before ``run_after - settle_seconds`` (a complete
    listing: deletions are concluded from it), read each selected sink's state and keep as
    candidates the users some sink needs: new, changed (when the listing carries every posture
    fact, i.e. ``bulk``), delivered incomplete, or everyone on ``full`` runs. Backfill runs take
    the users created in their data interval and never read state. ``settle_seconds`` leaves the
    last moments to the next run: IAM is eventually consistent.

    Returns a :class:`GroupListing` (per account read: a :class:`ChunkRef` per chunk of at most
    ``batch_size`` candidates, the listing summary; per account that could not be: an
    :class:`AccountError`), also pushed under ``listings``; pushes each account's catalog, plan
    and chunks to XCom (:class:`XComKey`). When some accounts could not be read, the task fails
    after handing on the others (no Airflow retry: transient failures were tried twice already);
    when none could, it fails as the first error says (retried by Airflow when transient).

    :param accounts: the :class:`AccountGroup` to read (templated; mapped over)
    :param sinks: the sinks of the run (templated)
    :param strategy: ``auto``, ``bulk`` or ``per_user`` (templated)
    :param mode: ``incremental`` or ``full`` (templated)
    :param batch_size: users per enrichment task instance (templated)
    :param settle_seconds: users created this close to the run's start are left to the next run
        (templated)
    :param identities: which identities to list: ``iam_users``, ``root`` (templated)
    :param concurrency: accounts read at once (templated)
    :param aws_conn_id: the ``aws`` connection (templated)
    :param region_name: AWS region of the IAM client; IAM is global (templated)
    :param verify: whether to verify SSL certificates (templated)
    :param botocore_config: botocore client configuration; without one, the connection's
        ``config_kwargs`` and then the hook's default retry policy apply (not templated)
    """

    template_fields: Sequence[str] = aws_template_fields(
        "accounts",
        "sinks",
        "strategy",
        "mode",
        "batch_size",
        "settle_seconds",
        "identities",
        "concurrency",
    )
    operator_extra_links = (IamUsersConsoleLink(),)
    ui_color = "#ffe8cc"

    def __init__(
        self,
        *,
        accounts: AccountGroup,
        sinks: Sequence[str] | str = ("file",),
        strategy: str = Strategy.AUTO.value,
        mode: str = "incremental",
        batch_size: int | str = 500,
        settle_seconds: int | str = 5,
        identities: Sequence[str] | str = DEFAULT_IDENTITIES,
        concurrency: int | str = DEFAULT_CONCURRENCY,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.accounts = accounts
        self.sinks = sinks
        self.strategy = strategy
        self.mode = mode
        self.batch_size = batch_size
        self.settle_seconds = settle_seconds
        self.identities = identities
        self.concurrency = concurrency

    def window_for(self, context: Context) -> Window:
        return listing_window(
            interval=data_interval(context) if is_backfill(context) else None,
            run_after=context["dag_run"].run_after,
            settle_seconds=int(self.settle_seconds),
        )

    @property
    def member_role_arn(self) -> str | None:
        return None  # each account of the group has its own hook (account_hook)

    def account_hook(self, account: AccountRef) -> IamHook:
        """A hook of its own for ``account``; its connection is read here, in the task's thread
        (the threads that use it then only talk to AWS)."""
        hook = IamHook(**{**self._hook_parameters, "member_role_arn": account["role_arn"]})
        hook.conn_config  # noqa: B018 - read the Airflow connection now
        return hook

    def execute(self, context: Context) -> GroupListing:
        group, ti = self.accounts, context["ti"]
        check_mode(self.mode)
        identities = check_identities(self.identities)
        window = self.window_for(context)
        assert window.until is not None
        refs = {ref["account"]: ref for ref in group["accounts"]}
        hooks = {account: self.account_hook(ref) for account, ref in refs.items()}
        self.log.info(
            "%s: listing users created in [%s, %s) in %d account(s), %s at a time, strategy %s",
            group["label"],
            window.since or "the beginning",
            window.until,
            len(refs),
            self.concurrency,
            self.strategy,
        )
        outcomes = run_per_account(
            {
                account: partial(self.read, hook, window, identities)
                for account, hook in hooks.items()
            },
            concurrency=int(self.concurrency),
        )
        listings: list[AccountListing] = []
        errors: list[AccountError] = []
        partitions: list[str] = []
        for number, (account, outcome) in enumerate(outcomes.items(), start=group["first"]):
            ref = refs[account]
            try:
                if isinstance(outcome, Exception):
                    raise outcome
                partition = self.partition_of(outcome, hooks[account])
                partitions.append(partition)
                listings.append(
                    self.plan_account(context, ref, number, hooks[account], outcome, partition)
                )
            except Exception as error:
                errors.append(account_error(account, error))
                self.log.error("%s: could not be read: %s", ref["label"], error)
        # Always persisted: the task runner resolves extra links after every run, empty ones too.
        IamUsersConsoleLink.persist(context, partition=partitions[0] if partitions else "aws")
        result = GroupListing(label=group["label"], listings=listings, errors=errors)
        ti.xcom_push(key=XComKey.LISTINGS, value=result)  # read downstream, failed or not
        if errors:
            ti.xcom_push(key=XComKey.ERROR, value=errors)  # kept for the run summary
            if not listings:
                failure = first_failure(outcomes)
                raise failure if failure is not None else AirflowFailException(errors[0]["message"])
            raise AirflowFailException(
                f"{len(errors)} of {len(refs)} accounts could not be read: "
                + "; ".join(f"{e['account']} ({e['code']})" for e in errors)
                + f". The other {len(listings)} are handed on and delivered; the run summary "
                "names the cause and the fix"
            )
        return result

    def read(self, hook: IamHook, window: Window, identities: Any) -> Listing:
        """One account's listing (on a thread: AWS calls only)."""
        return list_users(hook, self.strategy, window, identities=identities)

    @staticmethod
    def partition_of(listing: Listing, hook: IamHook) -> str:
        return partition_of(listing.users[0].arn) if listing.users else hook.client.meta.partition

    def plan_account(
        self,
        context: Context,
        account: AccountRef,
        number: int,
        hook: IamHook,
        listing: Listing,
        partition: str,
    ) -> AccountListing:
        """Plan one listed account's delivery; stash its catalog, plan and chunks."""
        window = self.window_for(context)
        assert window.until is not None
        account_id, sinks = account["account"], as_sinks(self.sinks)
        batches, plan = plan_batches(
            listing.users,
            None if is_backfill(context) else self.sink_states(account_id, sinks),
            sinks,
            size=int(self.batch_size),
            full=self.mode == "full",
            detect_changes=listing.strategy is Strategy.BULK,
            partition=partition,
            account=account_id,
            logged_time=window.until,
            max_batches=max_map_length(),
            iam_users_listed=Identity.IAM_USERS in listing.identities,
        )
        refs = self.hand_on(context, account, number, listing, batches)
        summary = summarize_listing(
            listing, account=account_id, batches=len(refs), calls=hook.calls
        )
        self.log.info(
            "%s: listed %d users (%s strategy, %d calls); %d to enrich in %d chunks",
            account["label"],
            summary["users_listed"],
            summary["strategy"],
            sum(hook.calls.values()),
            sum(len(batch["users"]) for _, batch in batches),
            len(refs),
        )
        for sink, info in (plan or {"sinks": {}})["sinks"].items():
            self.log.info("%s: sink %s: %s settled at listing", account_id, sink, info["counts"])
        plan_key = f"{XComKey.PLAN}_{account_id}"
        return AccountListing(
            account=account_id,
            label=account["label"],
            number=number,
            batches=refs,
            summary=summary,
            window_end=window.until.isoformat(),
            plan=None if plan is None else stash(context, plan, plan_key).as_json(),
        )

    def hand_on(
        self,
        context: Context,
        account: AccountRef,
        number: int,
        listing: Listing,
        batches: list[tuple[str, UsersBatch]],
    ) -> list[ChunkRef]:
        """Push the account's catalog and each chunk under its own key; a reference per chunk."""
        account_id = account["account"]
        catalog = stash(
            context, listing.catalog.model_dump(mode="json"), f"{XComKey.CATALOG}_{account_id}"
        )
        return [
            ChunkRef(
                account=account_id,
                role_arn=account["role_arn"],
                name=account["name"],
                number=number,
                index=index,
                users=len(batch["users"]),
                tombstones=bool(batch["tombstones"]),
                payload=stash(
                    context, batch, f"{XComKey.BATCH.format(index=index)}_{account_id}"
                ).as_json(),
                catalog=catalog.as_json(),
            )
            for index, (_, batch) in enumerate(batches)
        ]

    def sink_states(self, account: str, sinks: list[str]) -> dict[str, SinkState]:
        return {
            sink: load_sink_state(self.dag_id, str(self.aws_conn_id), account, sink)
            for sink in sinks
        }


def account_error(account: str, error: BaseException, stage: str = "listing") -> AccountError:
    code = error_code(error) if isinstance(error, ClientError) else type(error).__name__
    return AccountError(account=account, code=code, message=str(error), stage=stage)
