"""``inventory_identity_center``: the IAM Identity Center users, read, mapped, delivered to each
sink and committed to their own state, in one task (one read per run, whatever ``accounts``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowSkipException,
    BaseOperator,
    Context,
)

from airflow_provider_awsiam_ocsf.arn import role_arn
from airflow_provider_awsiam_ocsf.collection_plan import as_sinks, check_mode, listing_window
from airflow_provider_awsiam_ocsf.hooks.iam import IamHook
from airflow_provider_awsiam_ocsf.hooks.identity_center import IdentityCenterHook
from airflow_provider_awsiam_ocsf.hooks.sekoia import SekoiaAssetHook
from airflow_provider_awsiam_ocsf.identities import Identity, check_identities
from airflow_provider_awsiam_ocsf.identity_center import (
    IdentityCenterSnapshot,
    IdentityCenterUser,
    assess,
    plan_identity_center,
    to_ocsf_deleted_identity_center_user,
    to_ocsf_identity_center_user,
)
from airflow_provider_awsiam_ocsf.identity_center_collection import read_identity_center
from airflow_provider_awsiam_ocsf.operators.base import is_backfill, skip_in_event_runs
from airflow_provider_awsiam_ocsf.operators.write_files import run_folder
from airflow_provider_awsiam_ocsf.sinks.ndjson_files import (
    default_output_uri,
    encode_ndjson,
    output_folder,
    write_atomically,
)
from airflow_provider_awsiam_ocsf.state import commit
from airflow_provider_awsiam_ocsf.state_store import (
    load_identity_center_state,
    save_identity_center_state,
)

REGION_EXTRA = "identity_center_region"


class InventoryIdentityCenterOperator(BaseOperator):
    """Read the IAM Identity Center instance of the connection's account (management or
    delegated administrator), and send each sink its users it does not hold as they are now
    (new, changed, deleted; everyone on ``full`` runs), then commit that sink's Identity Center
    state. Skipped unless ``identities`` names ``identity_center``, and on backfill runs.

    Writes ``<output_uri>/account=<owner>/identity_center/<run folder>/part-00000.ndjson``.
    Returns the Identity Center part of the run summary (users, calls by action, per sink).

    :param identities: the run's identity kinds (templated)
    :param sinks: the run's sinks (templated)
    :param mode: ``incremental`` or ``full`` (templated)
    :param aws_conn_id: the ``aws`` connection of the account holding the instance (templated)
    :param identity_center_region: the instance's region; default the connection extra
        ``identity_center_region``, else the connection's region (templated)
    :param member_role_name: role read in other accounts for customer-managed policies
        (templated)
    :param output_uri: the ``file`` sink's folder (templated)
    :param sekoia_conn_id: the ``sekoia`` connection (templated)
    :param settle_seconds: as ``list_users``'s: the run's window end is ``run_after`` minus it
        (templated)
    """

    template_fields: Sequence[str] = (
        "identities",
        "sinks",
        "mode",
        "aws_conn_id",
        "identity_center_region",
        "member_role_name",
        "output_uri",
        "sekoia_conn_id",
        "settle_seconds",
    )
    ui_color = "#fff3bf"

    def __init__(
        self,
        *,
        identities: Sequence[str] | str,
        sinks: Sequence[str] | str = ("file",),
        mode: str = "incremental",
        aws_conn_id: str = "aws_default",
        identity_center_region: str | None = None,
        member_role_name: str = "iam-inventory-reader",
        output_uri: str | None = None,
        sekoia_conn_id: str = "sekoia_default",
        settle_seconds: int | str = 5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.identities = identities
        self.sinks = sinks
        self.mode = mode
        self.aws_conn_id = aws_conn_id
        self.identity_center_region = identity_center_region
        self.member_role_name = member_role_name
        self.output_uri = output_uri
        self.sekoia_conn_id = sekoia_conn_id
        self.settle_seconds = settle_seconds

    def execute(self, context: Context) -> dict[str, Any]:
        skip_in_event_runs(context, self.dag_id)
        if Identity.IDENTITY_CENTER not in check_identities(self.identities):
            raise AirflowSkipException("identity_center is not in this run's identities")
        if is_backfill(context):
            raise AirflowSkipException(
                "backfill runs collect IAM users only: Identity Center users are inventoried by "
                "scheduled and manual runs"
            )
        check_mode(self.mode)
        window_end = listing_window(
            interval=None,
            run_after=context["dag_run"].run_after,
            settle_seconds=int(self.settle_seconds),
        ).until
        assert window_end is not None
        hook = IdentityCenterHook(aws_conn_id=self.aws_conn_id, region_name=self.region())
        own = IamHook(aws_conn_id=self.aws_conn_id, role_session_name=f"airflow-{self.dag_id}")
        members: dict[str, IamHook] = {}

        def read_policy(account: str, policy_arn: str) -> Any:
            if account == own.account_id_of_caller:
                return own.get_default_policy_document(policy_arn)
            if account not in members:
                members[account] = IamHook(
                    aws_conn_id=self.aws_conn_id,
                    member_role_arn=role_arn(
                        snapshot_partition(hook), account, self.member_role_name
                    ),
                    role_session_name=f"airflow-{self.dag_id}",
                )
            return members[account].get_default_policy_document(policy_arn)

        snapshot = read_identity_center(hook, read_policy, caller_account=own.account_id_of_caller)
        users = assess(snapshot)
        calls = dict(hook.calls)
        for other in (own, *members.values()):
            for api, n in other.calls.items():
                calls[api] = calls.get(api, 0) + n
        self.log.info(
            "IAM Identity Center %s (account %s, region %s): %d users, %d groups, %d permission "
            "sets, %d account assignments; %d calls",
            snapshot.instance_arn,
            snapshot.owner,
            hook.region_name,
            len(users),
            len(snapshot.groups),
            len(snapshot.permission_sets),
            len(snapshot.assignments),
            sum(calls.values()),
        )
        summary: dict[str, Any] = {
            "owner": snapshot.owner,
            "users_listed": len(users),
            "admins": sum(1 for u in users if u.is_admin),
            "calls": dict(sorted(calls.items())),
            "events_per_sink": {},
            "users_per_sink": {},
            "state": {},
        }
        failed = []
        for sink in as_sinks(self.sinks):
            try:
                self.deliver_sink(context, sink, snapshot, users, window_end, summary)
            except Exception as error:
                self.log.exception(
                    "Identity Center: sink %s failed; its state is left as it was", sink
                )
                summary["state"][sink] = f"left as it was: {type(error).__name__}: {error}"
                failed.append(sink)
        if failed:
            raise AirflowException(
                f"Identity Center users not delivered to {failed} (their state was left as it "
                "was; the next run sends what this one could not)"
            )
        return summary

    def region(self) -> str | None:
        """The Param, else the connection extra, else the connection's own region."""
        if self.identity_center_region:
            return self.identity_center_region
        config = IdentityCenterHook(aws_conn_id=self.aws_conn_id).conn_config
        return config.extra_config.get(REGION_EXTRA) or config.region_name

    def deliver_sink(
        self,
        context: Context,
        sink: str,
        snapshot: IdentityCenterSnapshot,
        users: list[IdentityCenterUser],
        window_end: datetime,
        summary: dict[str, Any],
    ) -> None:
        state = load_identity_center_state(self.dag_id, self.aws_conn_id, snapshot.owner, sink)
        plan = plan_identity_center(users, state, full=self.mode == "full")
        by_id = {u.user_id: u for u in users}
        events = [
            to_ocsf_identity_center_user(by_id[uid], snapshot, window_end=window_end).as_dict()
            for uid in plan.send
        ]
        for uid in plan.deleted:
            held = state.held(uid)
            assert held is not None
            events.append(
                to_ocsf_deleted_identity_center_user(
                    user_id=uid, held=held, owner=snapshot.owner, deleted_at=window_end
                ).as_dict()
            )
        if sink == "file":
            if events:
                folder = (
                    output_folder(
                        self.output_uri or default_output_uri(self.dag_id), self.aws_conn_id
                    )
                    / f"account={snapshot.owner}"
                    / "identity_center"
                    / run_folder(context)
                )
                write_atomically(folder / "part-00000.ndjson", encode_ndjson(events))
        elif sink == "sekoia":
            SekoiaAssetHook(sekoia_conn_id=self.sekoia_conn_id).push(events)
        else:
            raise ValueError(f"unknown sink {sink!r}")
        new = commit(
            state.model_copy(update={"users": {}, "adopt_before": None}),
            plan.users,
            checkpoint=window_end,
            partition=snapshot.partition,
            account=snapshot.owner,
            run_id=context["dag_run"].run_id,
            tombstones=len(plan.deleted),
        )
        key = save_identity_center_state(self.dag_id, self.aws_conn_id, snapshot.owner, sink, new)
        summary["events_per_sink"][sink] = len(events)
        summary["users_per_sink"][sink] = plan.counts
        summary["state"][sink] = f"committed {key}: {len(new.users)} users"
        self.log.info("Identity Center: sink %s sent %d events %s", sink, len(events), plan.counts)


def snapshot_partition(hook: IdentityCenterHook) -> str:
    """The partition of the hook's region (aws, aws-us-gov, aws-cn…)."""
    return hook.client.meta.partition
