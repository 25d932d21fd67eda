"""The run summary: what a run listed, enriched, degraded and delivered, and what it cost (pure).

Built from the small reports the tasks return (``contracts``) and logged one figure per line by
the run's last task.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from airflow_provider_awsiam_ocsf.contracts import (
    EnrichmentSummary,
    ListingSummary,
    RunSummary,
    SinkReport,
)


def run_summary(
    listing: ListingSummary | None,
    enrichments: Iterable[EnrichmentSummary],
    deliveries: Iterable[SinkReport],
) -> RunSummary:
    """Users listed/enriched/degraded, events per sink and IAM calls by action."""
    calls: Counter[str] = Counter(listing["iam_calls"] if listing else {})
    degraded: Counter[str] = Counter(listing["degraded"] if listing else {})
    enriched = degraded_users = 0
    for part in enrichments:
        enriched += part["users"]
        degraded_users += part["degraded_users"]
        calls.update(part["iam_calls"])
        degraded.update(part["degraded"])
    events: Counter[str] = Counter()
    for report in deliveries:
        events[report["sink"]] += report.get("events", 0)
    return RunSummary(
        strategy=listing["strategy"] if listing else None,
        users_listed=listing["users_listed"] if listing else 0,
        report_unusable_rows=listing.get("report_unusable_rows", 0) if listing else 0,
        report_fallback_users=listing.get("report_fallback_users", 0) if listing else 0,
        users_enriched=enriched,
        users_degraded=degraded_users,
        degraded=dict(sorted(degraded.items())),
        events_per_sink=dict(sorted(events.items())),
        iam_calls=dict(sorted(calls.items())),
        iam_calls_total=sum(calls.values()),
    )


def _figure(value: object) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    return "—" if value is None else str(value)


def format_summary(summary: Mapping[str, object]) -> list[str]:
    """One ``name  value`` line per figure, for the task log; per-sink figures get a line per
    sink (``users_per_sink[file]  new 2, unchanged 18``)."""
    rows: list[tuple[str, object]] = []
    for name, value in summary.items():
        if name in PER_SINK and isinstance(value, Mapping):
            rows.extend((f"{name}[{sink}]", figure) for sink, figure in value.items())
        else:
            rows.append((name, value))
    width = max((len(name) for name, _ in rows), default=0)
    return [f"{name.ljust(width)}  {_figure(value)}" for name, value in rows]


PER_SINK = {"users_per_sink", "state"}
