"""Sink operator for the Sekoia.io asset connector API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_awsiam_ocsf.hooks.sekoia import SekoiaAssetHook
from airflow_provider_awsiam_ocsf.operators.iam_inventory import SinkOperator


class SekoiaPushOperator(SinkOperator):
    """Pushes a batch of OCSF events to Sekoia.io.

    ``items_per_request`` (default: the connection extra's ``batch_limit``, else 100) bounds each
    POST. Retries and timeouts are the hook's, tunable in the connection extra.
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
    ):
        super().__init__(**kwargs)
        self.sekoia_conn_id = sekoia_conn_id
        self.items_per_request = items_per_request

    def deliver(self, context: Any, events: list[dict]) -> dict:
        hook = SekoiaAssetHook(
            sekoia_conn_id=self.sekoia_conn_id, batch_limit=self.items_per_request
        )
        result = hook.push(events)
        return {
            "sink": self.sink_name,
            "events": result["items_sent"],
            "requests": result["requests"],
            "retries": result["retries"],
        }
