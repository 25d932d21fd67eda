"""``to_ocsf``: a batch of enriched users as OCSF 1.6.0 User Inventory Info events, and what each
sink is sent of them (pure: see ``delivery.settle_batch``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.common.compat.sdk import Context

from airflow_provider_awsiam_ocsf.contracts import (
    BatchRef,
    BatchUpdate,
    PartPayload,
    SharedPayload,
    XComKey,
)
from airflow_provider_awsiam_ocsf.delivery import settle_batch
from airflow_provider_awsiam_ocsf.operators.base import BatchOperator, as_bool


class IamUsersToOcsfOperator(BatchOperator):
    """Map a batch of enriched users (and the batch's deleted users) to OCSF events, account part
    by account part, and decide per sink which to send; returns the :class:`BatchRef` of the
    parts' :class:`EventsBatch` es and pushes each part's :class:`BatchUpdate`.

    :param batch: the batch of enriched users (templated; mapped over)
    :param access_key_ids: put access key ids in ``user.programmatic_credentials`` (templated)
    """

    template_fields: Sequence[str] = ("batch", "access_key_ids")
    ui_color = "#d0ebff"

    def __init__(self, *, access_key_ids: bool | str = True, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "all_done")  # one account's failure is not the others'
        super().__init__(**kwargs)
        self.access_key_ids = access_key_ids

    def execute(self, context: Context) -> BatchRef:
        self.start_batch(context)
        parts: list[PartPayload] = []
        updates: list[BatchUpdate] = []
        for part in self.payload(context)["parts"]:
            events, sinks = settle_batch(part["batch"], access_key_ids=as_bool(self.access_key_ids))
            parts.append(PartPayload(account=part["account"], index=part["index"], batch=events))
            updates.append(BatchUpdate(account=part["account"], sinks=sinks))
            for sink, indexes in events["send"].items():
                self.log.info(
                    "%s: %d of %d events for sink %s",
                    self.part_label(part),
                    len(indexes),
                    len(events["events"]),
                    sink,
                )
        context["ti"].xcom_push(key=XComKey.STATE_UPDATES, value=updates)
        return self.pass_on(context, SharedPayload(parts=parts))
