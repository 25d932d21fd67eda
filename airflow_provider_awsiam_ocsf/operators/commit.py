"""``commit_checkpoint``: each account's and sink's new state, written once that sink accepted
every batch of that account; then the run summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import AirflowFailException, BaseOperator, Context

from airflow_provider_awsiam_ocsf.contracts import (
    AccountError,
    AccountListing,
    AccountRef,
    AccountSummary,
    BatchUpdate,
    DeliveryPlan,
    SinkReport,
    XComKey,
)
from airflow_provider_awsiam_ocsf.operators.base import flatten, is_backfill
from airflow_provider_awsiam_ocsf.state import SinkState, commit, rebase
from airflow_provider_awsiam_ocsf.state_store import load_sink_state, save_sink_state
from airflow_provider_awsiam_ocsf.summary import format_summary, run_summary


class CommitCheckpointOperator(BaseOperator):
    """Write the state (checkpoint and fingerprints) of each account and sink that accepted every
    batch of that account, then log the run summary and push it (XCom key ``summary``).

    Runs when everything upstream is done (trigger rule ``all_done``), so that one account or
    sink failing never holds back another: an account that could not be read, or a sink with a
    failed batch, keeps its state, and the next run sends it what it missed. This task then
    fails, after committing the others, so that the run fails too (it is the run's last task).
    Backfill runs never read or write state.

    :param sinks: the run's sinks (templated)
    :param listings: each account's :class:`AccountListing`, mapped (templated)
    :param updates: each batch's :class:`BatchUpdate`, pushed by ``to_ocsf`` (templated)
    :param enrichments: the enrichment summaries, mapped (templated)
    :param deliveries: the sink reports, mapped (templated)
    :param aws_conn_id: the ``aws`` connection, which names the state Variables (templated)
    :param accounts_task_id: the task that resolved the accounts
    :param listing_task_id: the task that listed each account (mapped over the accounts)
    """

    template_fields: Sequence[str] = (
        "sinks",
        "listings",
        "updates",
        "enrichments",
        "deliveries",
        "aws_conn_id",
    )
    ui_color = "#e5dbff"

    def __init__(
        self,
        *,
        sinks: Sequence[str] | str,
        listings: Any = (),
        updates: Any = (),
        enrichments: Any = (),
        deliveries: Any = (),
        aws_conn_id: str = "aws_default",
        accounts_task_id: str = "resolve_accounts",
        listing_task_id: str = "list_users",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.sinks = sinks
        self.listings = listings
        self.updates = updates
        self.enrichments = enrichments
        self.deliveries = deliveries
        self.aws_conn_id = aws_conn_id
        self.accounts_task_id = accounts_task_id
        self.listing_task_id = listing_task_id

    def pull(self, context: Context, task_id: str, key: str, map_index: int | None = None) -> Any:
        kwargs: dict[str, Any] = {} if map_index is None else {"map_indexes": map_index}
        return context["ti"].xcom_pull(task_ids=task_id, key=key, default=None, **kwargs)

    def execute(self, context: Context) -> None:
        accounts: list[AccountRef] | None = self.pull(
            context, self.accounts_task_id, "return_value"
        )
        if accounts is None:
            # Fail rather than skip: as the run's last task, this task's state is the run's.
            raise AirflowFailException(
                f"{self.accounts_task_id} did not finish: no account read, no state written"
            )
        listed: dict[str, AccountListing] = {
            listing["account"]: listing for listing in flatten(self.listings)
        }
        reports: list[SinkReport] = flatten(self.deliveries)
        updates: list[BatchUpdate] = flatten(self.updates)
        sinks = [self.sinks] if isinstance(self.sinks, str) else list(self.sinks)
        summary = run_summary(
            [listing["summary"] for listing in listed.values()],
            flatten(self.enrichments),
            reports,
        )
        skipped = self.pull(context, self.accounts_task_id, XComKey.SKIPPED) or []
        summary["accounts_skipped"] = [
            " ".join(filter(None, [a.get("Id"), a.get("Name"), f"({a.get('State')})"]))
            for a in skipped
        ]
        summary["accounts"] = {}
        failed = []
        for index, ref in enumerate(accounts):
            account = ref["account"]
            listing = listed.get(account)
            if listing is None:
                error: AccountError | None = self.pull(
                    context, self.listing_task_id, XComKey.ERROR, index
                )
                reason = f"{error['code']}: {error['message']}" if error else "not listed"
                summary["accounts"][account] = AccountSummary(label=ref["label"], error=reason)
                failed.append(f"{ref['label']} ({error['code'] if error else 'not listed'})")
                continue
            plan: DeliveryPlan | None = self.pull(
                context, self.listing_task_id, XComKey.PLAN, index
            )
            figures, missed = self.commit_account(context, listing, plan, updates, reports, sinks)
            summary["accounts"][account] = figures
            failed.extend(f"{ref['label']}: sink {sink}" for sink in missed)
        summary["accounts_read"] = len(listed)
        summary["accounts_failed"] = len(accounts) - len(listed)
        self.log.info("Run summary:\n%s", "\n".join(format_summary(summary)))
        context["ti"].xcom_push(key=XComKey.SUMMARY, value=summary)  # failed runs' too
        if failed:
            raise AirflowFailException(
                f"not delivered: {', '.join(failed)}; their state was left as it was, the next "
                "run sends what this one could not (see the run summary above)"
            )

    def commit_account(
        self,
        context: Context,
        listing: AccountListing,
        plan: DeliveryPlan | None,
        updates: list[BatchUpdate],
        reports: list[SinkReport],
        sinks: list[str],
    ) -> tuple[AccountSummary, list[str]]:
        account, batches = listing["account"], len(listing["batches"])
        figures = AccountSummary(
            label=listing["label"],
            users_listed=listing["summary"]["users_listed"],
            users_per_sink={},
            state={},
        )
        mine = [u for u in updates if u["account"] == account]
        missed = []
        for sink in sinks:
            accepted = sum(1 for r in reports if r["sink"] == sink and r["account"] == account)
            figures["users_per_sink"][sink] = sink_counts(plan, mine, sink)
            if accepted < batches:
                missed.append(sink)
                figures["state"][sink] = (
                    f"left as it was: {accepted} of {batches} batches accepted; "
                    "the next run sends what this one could not"
                )
            elif plan is None or is_backfill(context):
                figures["state"][sink] = "backfill run: not read, not written"
            else:
                end = datetime.fromisoformat(listing["window_end"])
                run_id = context["dag_run"].run_id
                figures["state"][sink] = self.commit_sink(plan, mine, sink, end, run_id)
        return figures, missed

    def commit_sink(
        self,
        plan: DeliveryPlan,
        updates: list[BatchUpdate],
        sink: str,
        window_end: datetime,
        run_id: str | None = None,
    ) -> str:
        recorded: dict[str, str] = {}
        for update in updates:
            recorded.update(update["sinks"][sink]["recorded"])
        read = plan["sinks"][sink]
        deleted = read.get("deleted", [])  # .get: a plan pushed by the previous release's listing
        now = load_sink_state(self.dag_id, self.aws_conn_id, plan["account"], sink)
        state = commit(
            rebase(SinkState.from_json(read["base"]), now, deleted),
            recorded,
            checkpoint=window_end,
            partition=plan["partition"],
            account=plan["account"],
            run_id=run_id,
            tombstones=len(deleted),
        )
        text = state.to_json()
        key = save_sink_state(self.dag_id, self.aws_conn_id, plan["account"], sink, state)
        per_user = len(text) / len(state.users) if state.users else 0
        return (
            f"committed {key}: {len(state.users)} users, {len(text)} bytes "
            f"({per_user:.0f} per user), checkpoint {state.checkpoint:%Y-%m-%dT%H:%M:%SZ}"
        )


def sink_counts(plan: DeliveryPlan | None, updates: list[BatchUpdate], sink: str) -> dict:
    """Users per state.Reason for one account and sink: settled at listing, then per batch."""
    counts: Counter[str] = Counter(plan["sinks"][sink]["counts"] if plan else {})
    for update in updates:
        if sink in update["sinks"]:
            counts.update(update["sinks"][sink]["counts"])
    return {reason: n for reason, n in sorted(counts.items()) if n}
