"""What every operator of the pipeline shares: the run kind, batches passed by reference, the
batch label of mapped task instances, and the base class of sinks.

A batch may hold the users of several accounts (small accounts share batches); each account's
share is a part (:class:`PartRef`), and every per-batch task works part by part, so that one
account failing in a shared batch drops that account's part only (:mod:`..per_account`).

Batches travel between mapped tasks by reference, not by value. A mapped task expanded over a
task's return value pulls that *whole* value to pick its item, so returning every batch from one
task would make each of N mapped instances download all N batches. Instead a producer pushes each
batch's payload under its own XCom key and returns a small :class:`BatchRef` carrying an
:class:`~.contracts.XComRef` to it; a consumer fetches only the payload its reference names, and
only when it needs it (a skipped sink never does).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.common.compat.sdk import AirflowSkipException, BaseOperator, Context

from airflow_provider_awsiam_ocsf.contracts import (
    AccountError,
    BatchRef,
    EventsBatch,
    PartPayload,
    SharedPayload,
    SinkReport,
    XComKey,
    XComRef,
)
from airflow_provider_awsiam_ocsf.errors import MissingXComError
from airflow_provider_awsiam_ocsf.event_schedule import event_extras
from airflow_provider_awsiam_ocsf.hooks.iam import IamHook
from airflow_provider_awsiam_ocsf.iam_events import message_bodies
from airflow_provider_awsiam_ocsf.outlet_extra import delivery_extra
from airflow_provider_awsiam_ocsf.per_account import first_failure, is_permanent

# Give it to ``.partial(map_index_template=...)`` so mapped instances are named by their batch.
# It reads the rendered ``batch`` argument, so an instance that fails early is labelled too.
BATCH_LABEL_TEMPLATE = "{{ task.batch['label'] }}"
ACCOUNT_LABEL_TEMPLATE = "{{ task.accounts['label'] }}"


def is_backfill(context: Context) -> bool:
    return context["dag_run"].run_type == "backfill"


def event_messages(context: Context, dag_id: str) -> list[Any] | None:
    """The SQS message bodies that started this run; None when it is not an event run."""
    if context["dag_run"].run_type != "asset_triggered":
        return None
    extras = event_extras(context.get("triggering_asset_events"), dag_id)
    return None if extras is None else message_bodies(extras)


def skip_in_event_runs(context: Context, dag_id: str) -> None:
    """The periodic pipeline's tasks stand aside in event runs (refresh_from_events does them)."""
    if event_messages(context, dag_id) is not None:
        raise AirflowSkipException("an event run: refresh_from_events reads what its events name")


def data_interval(context: Context) -> tuple[datetime, datetime]:
    """The run's ``[start, end)`` data interval, in UTC (backfill runs always have one)."""
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is None or end is None:
        raise ValueError("this run has no data interval (a manual run without a logical date?)")
    return start.astimezone(UTC), end.astimezone(UTC)


def max_map_length() -> int:
    """``[core] max_map_length``: the most instances one mapped task may have."""
    from airflow.configuration import conf

    return conf.getint("core", "max_map_length", fallback=1024)


class MemberAccountOperator(AwsBaseOperator[IamHook]):
    """Reads one account: the connection's own (``member_role_arn`` None) or another one through
    ``sts:AssumeRole`` on its role, in a role session that names the DAG in CloudTrail."""

    aws_hook_class = IamHook

    @property
    def member_role_arn(self) -> str | None:
        raise NotImplementedError

    @property
    def _hook_parameters(self) -> dict[str, Any]:
        return {
            **super()._hook_parameters,
            "member_role_arn": self.member_role_arn,
            "role_session_name": f"airflow-{self.dag_id}",
        }


def as_bool(value: bool | str) -> bool:
    """A templated boolean: rendered natively it is a bool, rendered as text "True"/"False"."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def stash(context: Context, value: Any, key: str) -> XComRef:
    """Push ``value`` under ``key`` from this task instance; return the reference to it."""
    ti = context["ti"]
    ti.xcom_push(key=key, value=value)
    return XComRef(
        task_id=ti.task_id, key=key, map_index=-1 if ti.map_index is None else ti.map_index
    )


def fetch(context: Context, ref: XComRef | dict[str, Any]) -> Any:
    """The value a reference from :func:`stash` names; it fails rather than read nothing."""
    ref = XComRef.model_validate(ref)
    value = context["ti"].xcom_pull(
        task_ids=ref.task_id, key=ref.key, map_indexes=ref.map_index, default=None
    )
    if value is None:
        raise MissingXComError(ref.task_id, ref.key, ref.map_index)
    return value


def flatten(values: Any) -> list:
    """Plain list of the values of XComArgs, some of them mapped (lazy sequences)."""
    if values is None:
        return []
    if isinstance(values, dict):
        return [values]
    # One slice is one request for a whole lazy XCom sequence (indexing asks once per item, and
    # iterating probes one offset too far and logs an error).
    return [v for item in values[:] for v in flatten(item)]


class BatchOperator(BaseOperator):
    """Works on one batch of a mapped run and names its task instance after the batch.

    :param batch: the :class:`BatchRef` of the batch to work on (templated; mapped over)
    """

    template_fields: Sequence[str] = ("batch",)

    def __init__(self, *, batch: BatchRef, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batch = batch

    def start_batch(self, context: Context) -> None:
        """Also offer the label as ``{{ batch_label }}`` (the previous label template)."""
        context["batch_label"] = self.batch["label"]  # type: ignore[typeddict-unknown-key]

    def payload(self, context: Context) -> SharedPayload:
        """What the previous task made of this batch (one entry per account part it did)."""
        ref = self.batch["payload"]
        if ref is None:
            raise ValueError(f"{self.batch['label']}: no payload handed on to this task")
        return fetch(context, ref)

    def pass_on(self, context: Context, payload: SharedPayload) -> BatchRef:
        """Stash this task's result for the batch and return the batch, pointing at it."""
        key = XComKey.BATCH.format(index=self.batch["index"])
        return BatchRef(**{**self.batch, "payload": stash(context, payload, key).as_json()})

    def part_label(self, part: PartPayload) -> str:
        return f"{part['account']} (part {part['index']})"

    def settle_failures(
        self, context: Context, errors: list[AccountError], outcomes: dict[Any, Any], done: int
    ) -> None:
        """Keep the accounts that failed in this batch for the run summary (XCom ``error``);
        fail the task only when none of its parts got through (Airflow then retries it)."""
        if not errors:
            return
        context["ti"].xcom_push(key=XComKey.ERROR, value=errors)
        for error in errors:
            self.log.error(
                "%s: account %s failed at %s: %s",
                self.batch["label"],
                error["account"],
                error.get("stage"),
                error["message"],
            )
        if done == 0:
            failure = first_failure(outcomes)
            if failure is not None:
                raise failure
        self.log.warning(
            "%s: %d account(s) failed, the other parts go on; the run will end failed naming "
            "them, their state stays, the next run sends what they missed",
            self.batch["label"],
            len(errors),
        )


class SinkOperator(BatchOperator):
    """Delivers the events of one batch meant for this sink, account part by account part;
    skipped when the run's sinks do not name it. ``deliver`` is called with one part's events
    for this sink (possibly none) and returns its report; a part that fails is that account's
    failure only (:meth:`BatchOperator.settle_failures`).

    :param sinks: the sinks selected for the run; ``None`` means this one (templated)
    """

    sink_name: ClassVar[str] = ""
    template_fields: Sequence[str] = ("batch", "sinks")

    def __init__(self, *, sinks: Sequence[str] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "all_done")  # one account's failure is not the others'
        super().__init__(**kwargs)
        self.sinks = sinks

    def execute(self, context: Context) -> list[SinkReport]:
        self.start_batch(context)
        if self.sinks is not None and self.sink_name not in self.sinks:
            raise AirflowSkipException(
                f"sink {self.sink_name!r} not in this run's sinks {self.sinks}"
            )
        parts = self.payload(context)["parts"]
        reports: list[SinkReport] = []
        errors: list[AccountError] = []
        outcomes: dict[Any, Any] = {}
        every: list[dict] = []
        for part, report in self.deliver_parts(context, parts):
            key = (part["account"], part["index"])
            if isinstance(report, Exception):
                outcomes[key] = report
                errors.append(
                    AccountError(
                        account=part["account"],
                        code=type(report).__name__,
                        message=str(report),
                        stage=f"delivery to {self.sink_name}",
                    )
                )
                continue
            outcomes[key] = report
            report["account"], report["index"] = part["account"], part["index"]
            reports.append(report)
            every.extend(self.events_of(part))
        extra = delivery_extra(self.sink_name, every)  # shown in the Assets view
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra.update(extra)
        self.log.info(
            "%s: %s sink delivered %d events of %d account part(s)",
            self.batch["label"],
            self.sink_name,
            sum(r.get("events", 0) for r in reports),
            len(reports),
        )
        self.settle_failures(context, errors, outcomes, done=len(reports) if parts else 1)
        return reports

    def events_of(self, part: PartPayload) -> list[dict]:
        batch: EventsBatch = part["batch"]
        return [batch["events"][i] for i in batch["send"].get(self.sink_name, [])]

    def deliver_parts(
        self, context: Context, parts: list[PartPayload]
    ) -> list[tuple[PartPayload, SinkReport | Exception]]:
        """Each part's report, or what it raised (a refusal of the whole sink, an
        ``AirflowFailException``, is raised at once: no other part would get through)."""
        results: list[tuple[PartPayload, SinkReport | Exception]] = []
        for part in parts:
            try:
                results.append((part, self.deliver(context, part, self.events_of(part))))
            except Exception as error:
                if is_permanent(error) and not results:
                    raise
                results.append((part, error))
        return results

    def deliver(self, context: Context, part: PartPayload, events: list[dict]) -> SinkReport:
        raise NotImplementedError
