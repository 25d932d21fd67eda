"""``push_to_sekoia``: the ``sekoia`` sink, the Sekoia.io asset connector API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.common.compat.sdk import Context

from airflow_provider_awsiam_ocsf.contracts import SinkReport
from airflow_provider_awsiam_ocsf.hooks.sekoia import SekoiaAssetHook
from airflow_provider_awsiam_ocsf.operators.base import SinkOperator


class SekoiaPushOperator(SinkOperator):
    """Push a batch of OCSF events to Sekoia.io.

    Retries and timeouts are the hook's, tunable in the connection extra.

    :param batch: the batch of OCSF events (templated; mapped over)
    :param sinks: the run's sinks; the task skips unless they name ``sekoia`` (templated)
    :param sekoia_conn_id: the ``sekoia`` connection (templated)
    :param items_per_request: events per POST; default the connection extra's ``batch_limit``,
        else 100
    """

    sink_name = "sekoia"
    template_fields: Sequence[str] = ("batch", "sinks", "sekoia_conn_id")
    ui_color = "#c5f6fa"

    def __init__(
        self,
        *,
        sekoia_conn_id: str = "sekoia_default",
        items_per_request: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sekoia_conn_id = sekoia_conn_id
        self.items_per_request = items_per_request

    def deliver(self, context: Context, events: list[dict]) -> SinkReport:
        hook = SekoiaAssetHook(
            sekoia_conn_id=self.sekoia_conn_id, batch_limit=self.items_per_request
        )
        result = hook.push(events)
        return SinkReport(
            sink=self.sink_name,
            events=result["items_sent"],
            requests=result["requests"],
            retries=result["retries"],
        )
