"""``batches``: every account's batches as one list, for the per-batch mapped tasks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.common.compat.sdk import BaseOperator, Context

from airflow_provider_awsiam_ocsf.contracts import AccountListing, BatchRef
from airflow_provider_awsiam_ocsf.operators.base import flatten, max_map_length


class FlattenBatchesOperator(BaseOperator):
    """Flatten the batches of the accounts that were listed (Airflow maps over one list, and
    cannot map within a mapped task group). Runs when every listing is done (``all_done``): an
    account that could not be listed has no batches, the others go on.

    :param listings: the :class:`AccountListing` of each account, mapped (templated)
    """

    template_fields: Sequence[str] = ("listings",)
    ui_color = "#f1f3f5"

    def __init__(self, *, listings: Any, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.listings = listings

    def execute(self, context: Context) -> list[BatchRef]:
        listings: list[AccountListing] = flatten(self.listings)
        batches = [ref for listing in listings for ref in listing["batches"]]
        limit = max_map_length()
        if len(batches) > limit:
            raise ValueError(
                f"{len(batches)} batches over {len(listings)} accounts make more mapped task "
                f"instances than [core] max_map_length ({limit}): raise batch_size"
            )
        self.log.info("%d batches from %d listed account(s)", len(batches), len(listings))
        return batches
