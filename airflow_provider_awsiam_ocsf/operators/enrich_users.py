"""``enrich_users``: per-user IAM calls for the facts the listing left unknown, one batch each
(the users of one account or, for small accounts, of several)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import Context

from airflow_provider_awsiam_ocsf.collection import count_degradations, enrich_users
from airflow_provider_awsiam_ocsf.contracts import (
    AccountError,
    BatchRef,
    EnrichmentSummary,
    PartPayload,
    PartRef,
    SharedPayload,
    UsersBatch,
    XComKey,
)
from airflow_provider_awsiam_ocsf.hooks.iam import IamHook
from airflow_provider_awsiam_ocsf.inventory import AccountCatalog, IamUser
from airflow_provider_awsiam_ocsf.operators.base import (
    BatchOperator,
    MemberAccountOperator,
    as_bool,
    fetch,
)
from airflow_provider_awsiam_ocsf.operators.list_users import account_error
from airflow_provider_awsiam_ocsf.per_account import DEFAULT_CONCURRENCY, run_per_account


class EnrichIamUsersOperator(BatchOperator, MemberAccountOperator):
    """Fill, with per-user IAM calls, every fact of a batch's users the listing left unknown
    (groups, own policies, MFA, …). A refused call degrades that user only. The accounts of a
    shared batch are read ``concurrency`` at a time, each with its own hook; an account that
    fails (AssumeRole refused, throttled past retries) drops out of the batch alone
    (:mod:`~airflow_provider_awsiam_ocsf.per_account`), and the task fails only if every account
    of the batch did (for Airflow to retry it).

    Returns the :class:`BatchRef` of the enriched users; pushes an :class:`EnrichmentSummary`
    per account (key ``summary``) and the failed accounts (key ``error``).

    :param batch: the batch of listed users (templated; mapped over); each part names its
        account, the role to read it with, its chunk and the account's catalog
    :param access_key_ids: read access key ids (ListAccessKeys per user holding a key) (templated)
    :param concurrency: accounts read at once (templated)
    :param aws_conn_id: the ``aws`` connection of the account (templated)
    :param region_name: AWS region of the IAM client (templated)
    :param verify: whether to verify SSL certificates (templated)
    :param botocore_config: botocore client configuration (a dict; not templated)
    """

    template_fields: Sequence[str] = aws_template_fields("batch", "access_key_ids", "concurrency")
    ui_color = "#ffd8a8"

    def __init__(
        self,
        *,
        access_key_ids: bool | str = True,
        concurrency: int | str = DEFAULT_CONCURRENCY,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.access_key_ids = access_key_ids
        self.concurrency = concurrency

    @property
    def member_role_arn(self) -> str | None:
        return None  # each account of the batch has its own hook (account_hook)

    def account_hook(self, role_arn: str | None) -> IamHook:
        hook = IamHook(**{**self._hook_parameters, "member_role_arn": role_arn})
        hook.conn_config  # noqa: B018 - read the Airflow connection here, not on a thread
        return hook

    def execute(self, context: Context) -> BatchRef:
        self.start_batch(context)
        label = self.batch["label"]
        parts = self.batch["parts"]
        # Every XCom read here, in the task's thread; the threads only talk to AWS.
        chunks: dict[tuple[str, str, int], UsersBatch] = {}
        part_users: dict[tuple[str, int], UsersBatch] = {}
        for part in parts:
            key = (part["payload"]["task_id"], part["payload"]["key"], part["payload"]["map_index"])
            if key not in chunks:
                chunks[key] = fetch(context, part["payload"])
            part_users[(part["account"], part["index"])] = slice_part(chunks[key], part)
        accounts: dict[str, list[PartRef]] = {}
        for part in parts:
            accounts.setdefault(part["account"], []).append(part)
        catalogs = {
            a: AccountCatalog.model_validate(fetch(context, ps[0]["catalog"]))
            for a, ps in accounts.items()
            if any(p["end"] > p["start"] for p in ps)
        }
        hooks = {a: self.account_hook(ps[0]["role_arn"]) for a, ps in accounts.items()}
        access_key_ids = as_bool(self.access_key_ids)

        def enrich(account: str) -> list[IamUser]:
            users = [
                IamUser.model_validate(u)
                for p in accounts[account]
                for u in part_users[(account, p["index"])]["users"]
            ]
            if not users:
                return []
            return enrich_users(
                hooks[account],
                users,
                catalogs[account],
                access_key_ids=access_key_ids,
                label=f"{label} · {account}" if len(accounts) > 1 else label,
            )

        outcomes = run_per_account(
            {a: partial(enrich, a) for a in accounts}, concurrency=int(self.concurrency)
        )
        done: list[PartPayload] = []
        errors: list[AccountError] = []
        summaries: list[EnrichmentSummary] = []
        for account, outcome in outcomes.items():
            if isinstance(outcome, Exception):
                errors.append(account_error(account, outcome, stage="enrichment"))
                continue
            enriched = {u.user_id: u for u in outcome}
            degraded = count_degradations(outcome)
            summaries.append(
                EnrichmentSummary(
                    account=account,
                    users=len(outcome),
                    degraded_users=sum(1 for u in outcome if u.degraded),
                    degraded=dict(degraded),
                    iam_calls=dict(hooks[account].calls),
                )
            )
            for p in accounts[account]:
                batch = part_users[(account, p["index"])]
                batch["users"] = [
                    enriched[u["user_id"]].model_dump(mode="json") for u in batch["users"]
                ]
                done.append(PartPayload(account=account, index=p["index"], batch=batch))
        context["ti"].xcom_push(key=XComKey.SUMMARY, value=summaries)
        self.log.info(
            "%s: %d users of %d account(s) enriched with %d IAM calls; degraded: %s",
            label,
            sum(s["users"] for s in summaries),
            len(summaries),
            sum(sum(s["iam_calls"].values()) for s in summaries),
            sum(s["degraded_users"] for s in summaries) or "none",
        )
        self.settle_failures(context, errors, dict(outcomes), done=len(done))
        return self.pass_on(context, SharedPayload(parts=done))


def slice_part(chunk: UsersBatch, part: PartRef) -> UsersBatch:
    """The part's users ``[start, end)`` of its chunk, with what each sink needs of them, and
    the chunk's deleted users when the part carries them."""
    users = chunk["users"][part["start"] : part["end"]]
    ids = {u["user_id"] for u in users}
    return UsersBatch(
        users=users,
        actions={s: {i: a for i, a in m.items() if i in ids} for s, m in chunk["actions"].items()},
        held={s: {i: v for i, v in m.items() if i in ids} for s, m in chunk["held"].items()},
        tombstones=chunk["tombstones"] if part["tombstones"] else {},
        logged_time=chunk["logged_time"],
    )
