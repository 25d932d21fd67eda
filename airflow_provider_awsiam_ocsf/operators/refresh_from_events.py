"""``refresh_from_events``: an event run's whole work, from the SQS messages that triggered it to
each sink's merged state (README, "Changes in seconds")."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowSkipException,
    Asset,
    AssetAlias,
    Context,
)

from airflow_provider_awsiam_ocsf.collection import read_named_users
from airflow_provider_awsiam_ocsf.collection_plan import as_sinks
from airflow_provider_awsiam_ocsf.delivery import EventSinkUpdate, settle_event_reads
from airflow_provider_awsiam_ocsf.event_schedule import (
    events_asset_name,
    newer_events,
    triggering_events,
)
from airflow_provider_awsiam_ocsf.hooks.iam import IamHook
from airflow_provider_awsiam_ocsf.hooks.sekoia import SekoiaAssetHook
from airflow_provider_awsiam_ocsf.iam_events import EventPlan, message_bodies, plan_event_reads
from airflow_provider_awsiam_ocsf.identities import Identity
from airflow_provider_awsiam_ocsf.inventory import as_utc
from airflow_provider_awsiam_ocsf.operators.base import as_bool
from airflow_provider_awsiam_ocsf.operators.resolve_accounts import ResolveAccountsOperator
from airflow_provider_awsiam_ocsf.operators.write_files import run_folder
from airflow_provider_awsiam_ocsf.outlet_extra import delivery_extra
from airflow_provider_awsiam_ocsf.sinks.ndjson_files import (
    default_output_uri,
    encode_ndjson,
    output_folder,
    write_atomically,
)
from airflow_provider_awsiam_ocsf.state import merge_event_run
from airflow_provider_awsiam_ocsf.state_store import load_sink_state, save_sink_state

# Rounds of asset events stored after the run's own that one run reads (then the next run does).
CATCH_UP_ROUNDS = 3


class RefreshFromEventsOperator(ResolveAccountsOperator):
    """In an event run (triggered by the DAG's IAM events asset), re-read live the users the
    messages name, send each sink what changed (tombstones for users IAM no longer has), and merge
    the result into each sink's state; skipped in every other run.

    Each user is read once however many messages name it; accounts outside ``accounts`` and
    messages that name no user are counted and ignored (never a failure). A sink that fails
    keeps its state (the task fails after the others committed, and Airflow retries it).
    Returns the run summary (also logged). Asset events of the watched queue stored after the
    run's own (Airflow may leave them for the next message: apache/airflow#56050) are read in
    the same run, up to :data:`CATCH_UP_ROUNDS` times; the file sink gets a part per round.

    :param accounts: as ``resolve_accounts``' (templated)
    :param member_role_name: as ``resolve_accounts``' (templated)
    :param sinks: the run's sinks (templated)
    :param output_uri: the ``file`` sink's folder, as ``write_files``' (templated)
    :param sekoia_conn_id: the ``sekoia`` connection (templated)
    :param access_key_ids: as ``enrich_users``' (templated)
    :param identities: the run's identity kinds; nothing is read without ``iam_users``
        (templated)
    :param aws_conn_id: the ``aws`` connection, which names the state Variables (templated)
    :param sink_assets: sink name -> the Asset its periodic task updates; each sink this run
        delivered to gets an asset event of it (through the outlet alias
        ``<dag_id>_event_deliveries``)
    :param inlets: give it the DAG's events asset: asset events stored while the run was
        created or ran are then read too (apache/airflow#56050)
    """

    template_fields: Sequence[str] = aws_template_fields(
        "accounts",
        "member_role_name",
        "sinks",
        "output_uri",
        "sekoia_conn_id",
        "access_key_ids",
        "identities",
    )
    ui_color = "#ffe8cc"

    def __init__(
        self,
        *,
        sinks: Sequence[str] | str = ("file",),
        output_uri: str | None = None,
        sekoia_conn_id: str = "sekoia_default",
        access_key_ids: bool | str = True,
        identities: Any = (Identity.IAM_USERS,),
        sink_assets: Mapping[str, Asset] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sink_assets = dict(sink_assets or {})
        if self.sink_assets:
            self.outlets = [*self.outlets, AssetAlias(name=self.deliveries_alias_name)]
        self.sinks = sinks
        self.output_uri = output_uri
        self.sekoia_conn_id = sekoia_conn_id
        self.access_key_ids = access_key_ids
        self.identities = identities

    def execute(self, context: Context) -> dict[str, Any]:  # type: ignore[override]
        triggering = triggering_events(context.get("triggering_asset_events"), self.dag_id)
        if context["dag_run"].run_type != "asset_triggered" or triggering is None:
            raise AirflowSkipException("not an event run: the inventory tasks read every user")
        run_after = as_utc(context["dag_run"].run_after)
        bodies = message_bodies(dict(getattr(e, "extra", None) or {}) for e in triggering)
        summary: dict[str, Any] = {"messages": len(bodies), "accounts": {}}
        failed: list[str] = []
        plan, totals = self.refresh(context, bodies, run_after, summary, failed, part=0)
        line = event_summary_line(plan, totals)
        # apache/airflow#56050: an asset event stored while this run was created or ran may be
        # left for the next event. Read the messages of every such event now (a run started for
        # them anyway finds those users unchanged), until none is newer.
        seen = max((e.timestamp for e in triggering if getattr(e, "timestamp", None)), default=None)
        later_plan, later_read, later_events = EventPlan(), Counter[str](), 0
        for part in range(1, CATCH_UP_ROUNDS + 1):
            later = self.later_asset_events(context, seen)
            if not later:
                break
            seen = later[-1].timestamp
            more = message_bodies(dict(getattr(e, "extra", None) or {}) for e in later)
            round_plan, round_read = self.refresh(
                context, more, run_after, summary, failed, part=part
            )
            later_events += len(later)
            later_plan.messages += round_plan.messages
            later_plan.ignored.update(round_plan.ignored)
            later_read.update(round_read)
        totals.update(later_read)
        summary["read"] = dict(totals)
        summary["ignored"] = dict(plan.ignored + later_plan.ignored)
        if later_events:
            summary["caught_up"] = {"asset_events": later_events, "messages": later_plan.messages}
            line += (
                f"; then, of {later_events} asset event{'' if later_events == 1 else 's'} stored "
                "meanwhile, " + event_summary_line(later_plan, later_read)
            )
        summary["line"] = line
        self.log.info("Event run: %s", line)
        if failed:
            raise AirflowException(
                f"not delivered: {', '.join(failed)}; their state was left as it was, the retry "
                "or the next run sends what this one could not"
            )
        return summary

    def later_asset_events(self, context: Context, after: datetime | None) -> list[Any]:
        """Asset events of the watched queue stored after ``after`` (the inlet, if declared)."""
        watched = [i for i in self.inlets if getattr(i, "name", None) == self.events_asset_name]
        if not watched or after is None:
            return []
        return newer_events(context["inlet_events"][watched[0]], after)

    @property
    def events_asset_name(self) -> str:
        return events_asset_name(self.dag_id)

    def refresh(
        self,
        context: Context,
        bodies: list[Any],
        run_after: datetime,
        summary: dict[str, Any],
        failed: list[str],
        part: int,
    ) -> tuple[EventPlan, Counter[str]]:
        """Plan, read and deliver one set of message bodies (the file sink's part ``part``)."""
        if Identity.IAM_USERS not in as_sinks(self.identities):
            plan = plan_event_reads(bodies, accounts=())
            plan.ignored = Counter({"IAM users not among `identities`": len(bodies)})
        else:
            own = self.hook.account_id_of_caller
            wanted, names, _ = self.wanted_accounts(own)
            refs = {ref["account"]: ref for ref in self.account_refs(own, wanted, names)}
            plan = plan_event_reads(bodies, accounts=refs)
        totals: Counter[str] = Counter()
        for account, reads in sorted(plan.reads.items()):
            hook = IamHook(
                **self._hook_parameters,
                member_role_arn=refs[account]["role_arn"],
                role_session_name=f"airflow-{self.dag_id}",
            )
            named = read_named_users(
                hook,
                reads.users,
                reads.groups,
                reads.policies,
                access_key_ids=as_bool(self.access_key_ids),
            )
            figures = self.deliver_account(context, hook, account, named, run_after, failed, part)
            figures["calls"] = dict(sorted(hook.calls.items()))
            if part:  # a catch-up round: its own entry beside the first's
                summary["accounts"].setdefault(account, {}).setdefault("caught_up", []).append(
                    figures
                )
            else:
                summary["accounts"][account] = figures
            totals.update(figures["read"])
        return plan, totals

    def deliver_account(
        self,
        context: Context,
        hook: IamHook,
        account: str,
        named: Any,
        run_after: datetime,
        failed: list[str],
        part: int = 0,
    ) -> dict[str, Any]:
        """Settle, deliver and commit one account's users for every sink."""
        sinks = as_sinks(self.sinks)
        states = {
            sink: load_sink_state(self.dag_id, self.state_conn_id, account, sink) for sink in sinks
        }
        events, updates = settle_event_reads(
            named.users,
            named.gone,
            states,
            partition=hook.conn_partition,
            account=account,
            logged_time=run_after,
            access_key_ids=as_bool(self.access_key_ids),
        )
        # What the users read turned out to be, judged against the first sink's state.
        first = updates[sinks[0]].counts if sinks else Counter()
        read = {
            "changed": first.get("changed", 0)
            + first.get("new", 0)
            + first.get("incomplete_retried", 0),
            "deleted": first.get("deleted", 0),
            "unchanged": first.get("unchanged", 0),
            "unreadable": len(named.unreadable),
        }
        # A renamed user's old name, found gone, is the same user: counted once.
        read["users"] = sum(read.values())
        figures: dict[str, Any] = {"read": read, "sinks": {}}
        for sink in sinks:
            update = updates[sink]
            chosen = [events[i] for i in update.send]
            try:
                where = self.send(context, sink, account, chosen, part)
            except Exception as error:  # one sink failing never holds back another
                self.log.exception("Account %s: sink %s failed", account, sink)
                failed.append(f"{account}: sink {sink} ({type(error).__name__})")
                figures["sinks"][sink] = f"failed: {error}"
                continue
            if update.recorded or update.deleted:  # nothing read: the state stays as it is
                self.commit(sink, account, hook.conn_partition, update, run_after, context)
            figures["sinks"][sink] = {"events": len(chosen), "to": where, **dict(update.counts)}
        return figures

    @property
    def state_conn_id(self) -> str:
        """The connection that names the state Variables (as commit_checkpoint's)."""
        return self.aws_conn_id or "aws_default"

    def send(
        self, context: Context, sink: str, account: str, events: list[dict], part: int = 0
    ) -> str | None:
        if not events:
            return None
        if sink == "file":
            folder = (
                output_folder(self.output_uri or default_output_uri(self.dag_id), self.aws_conn_id)
                / f"account={account}"
                / run_folder(context)
            )
            target = folder / f"part-{part:05d}.ndjson"
            write_atomically(target, encode_ndjson(events))
            self.announce(context, sink, account, events)
            return str(target)
        SekoiaAssetHook(sekoia_conn_id=self.sekoia_conn_id).push(events)
        self.announce(context, sink, account, events)
        return "sekoia"

    def announce(self, context: Context, sink: str, account: str, events: list[dict]) -> None:
        """An asset event of the sink's asset (as write_files'/push_to_sekoia's), through the
        alias outlet: only the sinks this run delivered to, so downstream DAGs see it. Its extra
        is flat (Airflow 3.0 hashes an alias event's extra values): one account's counts."""
        asset = self.sink_assets.get(sink)
        counts = delivery_extra(sink, events)["accounts"].get(account, {})
        extra = {"sink": sink, "account": account, **counts}
        for outlet in self.outlets:
            if asset is not None and getattr(outlet, "name", None) == self.deliveries_alias_name:
                context["outlet_events"][outlet].add(asset, extra=extra)

    @property
    def deliveries_alias_name(self) -> str:
        return f"{self.dag_id}_event_deliveries"

    def commit(
        self,
        sink: str,
        account: str,
        partition: str,
        update: EventSinkUpdate,
        run_after: datetime,
        context: Context,
    ) -> None:
        # Read again just before writing: a periodic run may have committed meanwhile.
        now = load_sink_state(self.dag_id, self.state_conn_id, account, sink)
        state = merge_event_run(
            now,
            update.recorded,
            update.deleted,
            at=run_after,
            partition=partition,
            account=account,
            run_id=context["dag_run"].run_id,
            tombstones=len(update.deleted),
        )
        save_sink_state(self.dag_id, self.state_conn_id, account, sink, state)


def event_summary_line(plan: EventPlan, read: Counter[str]) -> str:
    """e.g. "9 messages: 5 users read (3 changed, 1 deleted, 1 unchanged); ignored 4 (1 not
    JSON, 2 read-only calls, 1 account outside `accounts`)"."""
    parts = [f"{read[k]} {k}" for k in ("changed", "deleted", "unchanged", "unreadable") if read[k]]
    line = (
        f"{plan.messages} message{'' if plan.messages == 1 else 's'}: "
        f"{read['users']} user{'' if read['users'] == 1 else 's'} read"
    )
    if parts:
        line += f" ({', '.join(parts)})"
    ignored = sum(plan.ignored.values())
    if ignored:
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(plan.ignored.items()))
        line += f"; ignored {ignored} ({reasons})"
    return line
