"""``push_to_sekoia``: the ``sekoia`` sink, the Sekoia.io asset connector API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.common.compat.sdk import Context

from airflow_provider_awsiam_ocsf.contracts import PartPayload, SinkReport
from airflow_provider_awsiam_ocsf.hooks.sekoia import SekoiaAssetHook
from airflow_provider_awsiam_ocsf.operators.base import SinkOperator
from airflow_provider_awsiam_ocsf.per_account import is_permanent


class SekoiaPushOperator(SinkOperator):
    """Push a batch of OCSF events to Sekoia.io.

    Retries and timeouts are the hook's, tunable in the connection extra. The parts of a shared
    batch go in as few requests as the request size allows (consecutive parts share a request);
    a request that fails fails the accounts whose events it carried, not the others.

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

    def deliver_parts(
        self, context: Context, parts: list[PartPayload]
    ) -> list[tuple[PartPayload, SinkReport | Exception]]:
        hook = SekoiaAssetHook(
            sekoia_conn_id=self.sekoia_conn_id, batch_limit=self.items_per_request
        )
        results: list[tuple[PartPayload, SinkReport | Exception]] = []
        for group in request_groups(
            parts, [len(self.events_of(p)) for p in parts], hook.batch_limit
        ):
            events = [e for part in group for e in self.events_of(part)]
            try:
                result = hook.push(events)
            except Exception as error:
                if is_permanent(error) and not results:
                    raise  # a bad key or connector: no other part would get through
                results.extend((part, error) for part in group)
                continue
            for n, part in enumerate(group):
                report = SinkReport(sink=self.sink_name, events=len(self.events_of(part)))
                if n == 0:  # the requests of the group, counted once
                    report["requests"], report["retries"] = result["requests"], result["retries"]
                results.append((part, report))
        return results

    def deliver(self, context: Context, part: PartPayload, events: list[dict]) -> SinkReport:
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


def request_groups(
    parts: list[PartPayload], sizes: list[int], limit: int
) -> list[list[PartPayload]]:
    """Consecutive parts whose events fit one request together (a larger part is a group of
    its own, pushed in several requests)."""
    groups: list[list[PartPayload]] = []
    current: list[PartPayload] = []
    room = limit
    for part, size in zip(parts, sizes, strict=True):
        if current and size > room:
            groups.append(current)
            current, room = [], limit
        current.append(part)
        room -= size
    if current:
        groups.append(current)
    return groups
