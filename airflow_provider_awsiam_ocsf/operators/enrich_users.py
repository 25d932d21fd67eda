"""``enrich_users``: per-user IAM calls for the facts the listing left unknown, one batch each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import Context

from airflow_provider_awsiam_ocsf.collection import count_degradations, enrich_users
from airflow_provider_awsiam_ocsf.contracts import (
    BatchRef,
    EnrichmentSummary,
    UsersBatch,
    XComKey,
)
from airflow_provider_awsiam_ocsf.inventory import AccountCatalog, IamUser
from airflow_provider_awsiam_ocsf.operators.base import (
    BatchOperator,
    MemberAccountOperator,
    as_bool,
    fetch,
)


class EnrichIamUsersOperator(BatchOperator, MemberAccountOperator):
    """Fill, with per-user IAM calls, every fact of a batch's users the listing left unknown
    (groups, own policies, MFA, …). A refused call degrades that user only; throttling or a
    service error past botocore's retries fails the task, for Airflow to retry.

    Returns the :class:`BatchRef` of the enriched users; pushes an :class:`EnrichmentSummary`.

    :param batch: the batch of listed users (templated; mapped over); it names its account, the
        role to read it with, and carries the reference to the account's catalog
    :param access_key_ids: read access key ids (ListAccessKeys per user holding a key) (templated)
    :param aws_conn_id: the ``aws`` connection of the account (templated)
    :param region_name: AWS region of the IAM client (templated)
    :param verify: whether to verify SSL certificates (templated)
    :param botocore_config: botocore client configuration (a dict; not templated)
    """

    template_fields: Sequence[str] = aws_template_fields("batch", "access_key_ids")
    ui_color = "#ffd8a8"

    def __init__(self, *, access_key_ids: bool | str = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.access_key_ids = access_key_ids

    @property
    def member_role_arn(self) -> str | None:
        return self.batch["role_arn"]

    def execute(self, context: Context) -> BatchRef:
        self.start_batch(context)
        label = self.batch["label"]
        batch: UsersBatch = self.payload(context)
        enriched = enrich_users(
            self.hook,
            (IamUser.model_validate(u) for u in batch["users"]),
            AccountCatalog.model_validate(fetch(context, self.batch["catalog"])),
            access_key_ids=as_bool(self.access_key_ids),
            label=label,
        )
        degraded = count_degradations(enriched)
        context["ti"].xcom_push(
            key=XComKey.SUMMARY,
            value=EnrichmentSummary(
                account=self.batch["account"],
                users=len(enriched),
                degraded_users=sum(1 for u in enriched if u.degraded),
                degraded=dict(degraded),
                iam_calls=dict(self.hook.calls),
            ),
        )
        self.log.info(
            "%s: %d users enriched with %d IAM calls; degraded: %s",
            label,
            len(enriched),
            sum(self.hook.calls.values()),
            dict(degraded) or "none",
        )
        batch["users"] = [u.model_dump(mode="json") for u in enriched]
        return self.pass_on(context, batch)
