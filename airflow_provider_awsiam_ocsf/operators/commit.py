"""``commit_checkpoint``: each sink's new state, written once that sink accepted every batch;
then the run summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_awsiam_ocsf.collection import Window
from airflow_provider_awsiam_ocsf.contracts import (
    DeliveryPlan,
    ListingSummary,
    SinkReport,
    SinkUpdate,
    XComKey,
)
from airflow_provider_awsiam_ocsf.operators.base import flatten, is_backfill
from airflow_provider_awsiam_ocsf.state import SinkState, commit
from airflow_provider_awsiam_ocsf.state_store import save_sink_state
from airflow_provider_awsiam_ocsf.summary import format_summary, run_summary


class CommitCheckpointOperator(BaseOperator):
    """Write each sink's state (checkpoint and fingerprints) once it accepted every batch of the
    run, then log the run summary and push it (XCom key ``summary``).

    Runs when everything upstream is done (trigger rule ``all_done``), so that one sink failing
    never holds back another: a sink with a failed batch keeps its state, and the next run sends
    it again what it missed. This task then fails, after committing the other sinks, so that the
    run fails too. Backfill runs never read or write state.

    :param sinks: the run's sinks (templated)
    :param updates: each batch's :class:`SinkUpdate` per sink, pushed by ``to_ocsf`` (templated)
    :param enrichments: the enrichment summaries, mapped (templated)
    :param deliveries: the sink reports, mapped (templated)
    :param aws_conn_id: the ``aws`` connection, which names the state Variables (templated)
    :param listing_task_id: the task that pushed the window, summary and plan
    """

    template_fields: Sequence[str] = (
        "sinks",
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
        updates: Any = (),
        enrichments: Any = (),
        deliveries: Any = (),
        aws_conn_id: str = "aws_default",
        listing_task_id: str = "list_users",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.sinks = sinks
        self.updates = updates
        self.enrichments = enrichments
        self.deliveries = deliveries
        self.aws_conn_id = aws_conn_id
        self.listing_task_id = listing_task_id

    def pull(self, context: Context, key: str) -> Any:
        return context["ti"].xcom_pull(task_ids=self.listing_task_id, key=key, default=None)

    def execute(self, context: Context) -> None:
        listing: ListingSummary | None = self.pull(context, XComKey.SUMMARY)
        if listing is None:
            # Fail rather than skip: as the run's last task, this task's state is the run's.
            raise AirflowFailException(
                f"{self.listing_task_id} did not finish: no state was read nor written"
            )
        window = Window.model_validate(self.pull(context, XComKey.WINDOW))
        plan: DeliveryPlan | None = self.pull(context, XComKey.PLAN)
        reports: list[SinkReport] = flatten(self.deliveries)
        updates: list[dict[str, SinkUpdate]] = flatten(self.updates)
        summary = run_summary(listing, flatten(self.enrichments), reports)
        summary["account"] = listing["account"]
        sinks = [self.sinks] if isinstance(self.sinks, str) else list(self.sinks)
        summary["users_per_sink"], summary["state"] = {}, {}
        missed = []
        for sink in sinks:
            accepted = sum(1 for r in reports if r["sink"] == sink)
            summary["users_per_sink"][sink] = self.counts(plan, updates, sink)
            if accepted < listing["batches"]:
                missed.append(sink)
                summary["state"][sink] = (
                    f"left as it was: {accepted} of {listing['batches']} batches accepted; "
                    "the next run sends what this one could not"
                )
            elif plan is None or is_backfill(context):
                summary["state"][sink] = "backfill run: not read, not written"
            else:
                summary["state"][sink] = self.commit_sink(plan, updates, sink, window)
        self.log.info("Run summary:\n%s", "\n".join(format_summary(summary)))
        context["ti"].xcom_push(key=XComKey.SUMMARY, value=summary)  # failed runs' too
        if missed:
            # The run's last task: failing here is what fails the run.
            raise AirflowFailException(
                f"sink(s) {', '.join(missed)} did not accept every batch; their state was left "
                "as it was (see the run summary above)"
            )

    @staticmethod
    def counts(
        plan: DeliveryPlan | None, updates: list[dict[str, SinkUpdate]], sink: str
    ) -> dict[str, int]:
        counts: Counter[str] = Counter(plan["sinks"][sink]["counts"] if plan else {})
        for update in updates:
            if sink in update:
                counts.update(update[sink]["counts"])
        return {reason: n for reason, n in sorted(counts.items()) if n}

    def commit_sink(
        self, plan: DeliveryPlan, updates: list[dict[str, SinkUpdate]], sink: str, window: Window
    ) -> str:
        assert window.until is not None
        recorded: dict[str, str] = {}
        for update in updates:
            recorded.update(update[sink]["recorded"])
        state = commit(
            SinkState.from_json(plan["sinks"][sink]["base"]),
            recorded,
            checkpoint=window.until,
            partition=plan["partition"],
            account=plan["account"],
        )
        text = state.to_json()
        key = save_sink_state(self.dag_id, self.aws_conn_id, plan["account"], sink, state)
        per_user = len(text) / len(state.users) if state.users else 0
        return (
            f"committed {key}: {len(state.users)} users, {len(text)} bytes "
            f"({per_user:.0f} per user), checkpoint {state.checkpoint:%Y-%m-%dT%H:%M:%SZ}"
        )
