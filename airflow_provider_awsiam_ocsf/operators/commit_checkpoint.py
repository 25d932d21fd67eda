"""``commit_checkpoint``: each account's and sink's new state, written once that sink accepted
every batch of that account; then the run summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import AirflowFailException, BaseOperator, Context

from airflow_provider_awsiam_ocsf.collection_plan import as_sinks
from airflow_provider_awsiam_ocsf.contracts import (
    AccountError,
    AccountGroup,
    AccountListing,
    AccountRef,
    AccountSummary,
    BatchRef,
    BatchUpdate,
    DeliveryPlan,
    GroupListing,
    RunSummary,
    SinkReport,
    XComKey,
)
from airflow_provider_awsiam_ocsf.operators.base import (
    fetch,
    flatten,
    is_backfill,
    skip_in_event_runs,
)
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

    Every input is an XComArg of the task that made it; each value says which account it is
    about, so accounts, listings and errors are paired by account id, never by position.

    :param sinks: the run's sinks (templated)
    :param accounts: the :class:`AccountGroup` s of the accounts to read, from
        ``resolve_accounts`` (templated)
    :param skipped: the accounts of the organisation not read, from ``resolve_accounts``
        (templated)
    :param listings: each list_users instance's :class:`GroupListing`, mapped (templated)
    :param errors: the :class:`AccountError` s of every task that failed for some accounts:
        listing, enrichment, delivery; mapped (templated)
    :param batches: the run's batches (``batches``): how many parts each account must have
        delivered to each sink (templated)
    :param updates: each batch's :class:`BatchUpdate`, pushed by ``to_ocsf`` (templated)
    :param enrichments: the enrichment summaries, mapped (templated)
    :param deliveries: the sink reports, mapped (templated)
    :param aws_conn_id: the ``aws`` connection, which names the state Variables (templated)
    :param identities: the run's identity kinds (templated)
    :param identity_center: what ``inventory_identity_center`` returned (None: skipped or
        failed); its users, calls and sinks join the summary (templated)
    """

    template_fields: Sequence[str] = (
        "sinks",
        "accounts",
        "skipped",
        "listings",
        "errors",
        "batches",
        "updates",
        "enrichments",
        "deliveries",
        "aws_conn_id",
        "identities",
        "identity_center",
    )
    ui_color = "#e5dbff"

    def __init__(
        self,
        *,
        sinks: Sequence[str] | str,
        accounts: Any = None,
        skipped: Any = (),
        listings: Any = (),
        errors: Any = (),
        batches: Any = (),
        updates: Any = (),
        enrichments: Any = (),
        deliveries: Any = (),
        aws_conn_id: str = "aws_default",
        identities: Any = ("iam_users",),
        identity_center: Any = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.sinks = sinks
        self.accounts = accounts
        self.skipped = skipped
        self.listings = listings
        self.errors = errors
        self.batches = batches
        self.updates = updates
        self.enrichments = enrichments
        self.deliveries = deliveries
        self.aws_conn_id = aws_conn_id
        self.identities = identities
        self.identity_center = identity_center

    def execute(self, context: Context) -> None:
        skip_in_event_runs(context, self.dag_id)
        if self.accounts is None:
            # Fail rather than skip: as the run's last task, this task's state is the run's.
            raise AirflowFailException(
                "the accounts were not resolved: no account read, no state written"
            )
        groups: list[AccountGroup] = flatten(self.accounts)
        accounts: list[AccountRef] = [ref for group in groups for ref in group["accounts"]]
        found: list[GroupListing] = flatten(self.listings)
        listed: dict[str, AccountListing] = {
            listing["account"]: listing for group in found for listing in group["listings"]
        }
        errors: dict[str, list[AccountError]] = {}
        for error in flatten(self.errors):
            errors.setdefault(error["account"], []).append(error)
        parts = Counter(
            part["account"] for batch in _batches(self.batches) for part in batch["parts"]
        )
        reports: list[SinkReport] = flatten(self.deliveries)
        updates: list[BatchUpdate] = flatten(self.updates)
        sinks = as_sinks(self.sinks)
        summary = run_summary(
            [listing["summary"] for listing in listed.values()],
            flatten(self.enrichments),
            reports,
        )
        summary["accounts_skipped"] = [
            " ".join(filter(None, [a.get("Id"), a.get("Name"), f"({a.get('State')})"]))
            for a in flatten(self.skipped)
        ]
        summary["accounts"] = {}
        failed = []
        for ref in accounts:
            account = ref["account"]
            listing = listed.get(account)
            reason = "; ".join(describe(e) for e in errors.get(account, []))
            if listing is None:
                summary["accounts"][account] = AccountSummary(
                    label=ref["label"], error=reason or "not listed"
                )
                failed.append(f"{ref['label']} ({codes(errors.get(account)) or 'not listed'})")
                continue
            plan: DeliveryPlan | None = None
            if listing["plan"] is not None:
                plan = fetch(context, listing["plan"])
            # Parts >= chunks; the chunks alone when the batches task failed (nothing delivered).
            expected = max(parts[account], len(listing["batches"]))
            figures, missed = self.commit_account(
                context, listing, expected, plan, updates, reports, sinks
            )
            if reason:
                figures["error"] = reason
            summary["accounts"][account] = figures
            if missed:
                why = codes(errors.get(account)) or "batches missing"
                failed.append(f"{ref['label']}: sink {', '.join(missed)} ({why})")
        summary["accounts_read"] = len(listed)
        summary["accounts_failed"] = len(failed)
        failed.extend(self.add_identity_center(context, summary))
        self.log.info("Run summary:\n%s", "\n".join(format_summary(summary)))
        context["ti"].xcom_push(key=XComKey.SUMMARY, value=summary)  # failed runs' too
        if failed:
            shown = failed[:FAILED_SHOWN]
            more = f" and {len(failed) - len(shown)} more" if len(failed) > len(shown) else ""
            raise AirflowFailException(
                f"not delivered: {', '.join(shown)}{more}; their state was left as it was, the "
                "next run sends what this one could not (see the run summary above for the "
                "cause and the fix of each)"
            )

    def add_identity_center(self, context: Context, summary: RunSummary) -> list[str]:
        """Lay the Identity Center task's figures into the summary; what failed, if it did."""
        if "identity_center" not in as_sinks(self.identities) or is_backfill(context):
            return []
        part = self.identity_center
        if not part:
            return ["IAM Identity Center (see the inventory_identity_center task's log)"]
        summary["identities_listed"] = {
            **summary.get("identities_listed", {}),
            "identity_center": part["users_listed"],
        }
        summary["calls_per_identity"] = {
            **summary.get("calls_per_identity", {}),
            "identity_center": sum(part["calls"].values()),
        }
        events = dict(summary.get("events_per_sink", {}))
        for sink, n in part.get("events_per_sink", {}).items():
            events[sink] = events.get(sink, 0) + n
        summary["events_per_sink"] = dict(sorted(events.items()))
        summary["identity_center"] = part
        return []

    def commit_account(
        self,
        context: Context,
        listing: AccountListing,
        batches: int,
        plan: DeliveryPlan | None,
        updates: list[BatchUpdate],
        reports: list[SinkReport],
        sinks: list[str],
    ) -> tuple[AccountSummary, list[str]]:
        """Commit each sink that accepted all ``batches`` parts of the account."""
        account = listing["account"]
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
                    # "batches" (each account's parts of them): the inventory page reads this text
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


FAILED_SHOWN = 20  # accounts named in the task's error; the summary names every one


def _batches(value: Any) -> list[BatchRef]:
    if value is None:
        return []
    return list(value[:]) if not isinstance(value, dict) else [value]  # type: ignore[list-item]


def describe(error: AccountError) -> str:
    """``listing: AccessDenied: <message naming the fix>``."""
    return f"{error.get('stage', 'listing')}: {error['code']}: {error['message']}"


def codes(errors: list[AccountError] | None) -> str:
    return ", ".join(
        dict.fromkeys(f"{e['code']} at {e.get('stage', 'listing')}" for e in errors or [])
    )


def sink_counts(plan: DeliveryPlan | None, updates: list[BatchUpdate], sink: str) -> dict:
    """Users per state.Reason for one account and sink: settled at listing, then per batch."""
    counts: Counter[str] = Counter(plan["sinks"][sink]["counts"] if plan else {})
    for update in updates:
        if sink in update["sinks"]:
            counts.update(update["sinks"][sink]["counts"])
    return {reason: n for reason, n in sorted(counts.items()) if n}
