"""``batches``: every account's chunks packed into the run's batches, for the per-batch tasks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.common.compat.sdk import BaseOperator, Context

from airflow_provider_awsiam_ocsf.batch_plan import pack_batches
from airflow_provider_awsiam_ocsf.contracts import AccountListing, BatchRef, GroupListing
from airflow_provider_awsiam_ocsf.operators.base import flatten, max_map_length


class FlattenBatchesOperator(BaseOperator):
    """Pack the chunks of the accounts that were listed into batches of at most ``batch_size``
    users (:func:`~airflow_provider_awsiam_ocsf.batch_plan.pack_batches`): small accounts share
    a batch, so the run's task instances grow with its users, not its accounts. Runs when every
    listing is done (``all_done``): an account that could not be listed has no chunks, the
    others go on.

    :param listings: the :class:`GroupListing` of each list_users instance, pushed under
        ``listings`` (also by an instance that failed for some of its accounts) (templated)
    :param batch_size: users per batch (templated)
    """

    template_fields: Sequence[str] = ("listings", "batch_size")
    ui_color = "#f1f3f5"

    def __init__(self, *, listings: Any, batch_size: int | str = 500, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.listings = listings
        self.batch_size = batch_size

    def execute(self, context: Context) -> list[BatchRef]:
        groups: list[GroupListing] = flatten(self.listings)
        listings: list[AccountListing] = [g for group in groups for g in group["listings"]]
        chunks = [chunk for listing in listings for chunk in listing["batches"]]
        batches = pack_batches(chunks, int(self.batch_size))
        limit = max_map_length()
        if len(batches) > limit:
            raise ValueError(
                f"{len(batches)} batches over {len(listings)} accounts make more mapped task "
                f"instances than [core] max_map_length ({limit}): raise batch_size"
            )
        self.log.info(
            "%d batches of up to %s users from %d chunks of %d listed account(s)",
            len(batches),
            self.batch_size,
            len(chunks),
            len(listings),
        )
        return batches
