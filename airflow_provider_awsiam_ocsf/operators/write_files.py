"""``write_files``: the ``file`` sink, NDJSON through Airflow's ObjectStoragePath."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.common.compat.sdk import Context

from airflow_provider_awsiam_ocsf.contracts import PartPayload, SinkReport
from airflow_provider_awsiam_ocsf.operators.base import SinkOperator, data_interval, is_backfill
from airflow_provider_awsiam_ocsf.sinks.ndjson_files import (
    default_output_uri,
    encode_ndjson,
    output_folder,
    write_atomically,
)


def run_folder(context: Context) -> str:
    """Deterministic per run: a backfill's folder is its data interval, so a re-run replaces it."""
    if is_backfill(context):
        start, end = data_interval(context)
        return f"interval={start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in context["dag_run"].run_id)
    return f"run={safe}"


class WriteOcsfFilesOperator(SinkOperator):
    """Write each account part of a batch to
    ``<output_uri>/account=<id>/<run folder>/part-<index>.ndjson`` (``index``: the part's
    position in its account, so a batch shared by several accounts writes one file in each
    account's folder), replacing old tries; a part with nothing for this sink writes no file.

    :param batch: the batch of OCSF events (templated; mapped over)
    :param sinks: the run's sinks; the task skips unless they name ``file`` (templated)
    :param output_uri: ``file://`` or ``s3://`` folder; default ``$AIRFLOW_HOME/data/<dag_id>``,
        one folder per DAG (templated)
    :param aws_conn_id: ``aws`` connection an ``s3://`` folder is written through, unless the URI
        names one (``s3://conn_id@bucket/prefix``) (templated)
    """

    sink_name = "file"
    template_fields: Sequence[str] = ("batch", "sinks", "output_uri", "aws_conn_id")
    ui_color = "#d3f9d8"

    def __init__(
        self, *, output_uri: str | None = None, aws_conn_id: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.output_uri = output_uri
        self.aws_conn_id = aws_conn_id

    def deliver(self, context: Context, part: PartPayload, events: list[dict]) -> SinkReport:
        if not events:
            return SinkReport(sink=self.sink_name, events=0)
        folder = (
            output_folder(self.output_uri or default_output_uri(self.dag_id), self.aws_conn_id)
            / f"account={part['account']}"
            / run_folder(context)
        )
        target = folder / f"part-{part['index']:05d}.ndjson"
        write_atomically(target, encode_ndjson(events))
        return SinkReport(sink=self.sink_name, events=len(events), uri=str(target))
