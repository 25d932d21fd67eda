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
    listings: Iterable[ListingSummary],
    enrichments: Iterable[EnrichmentSummary],
    deliveries: Iterable[SinkReport],
) -> RunSummary:
    """Users listed/enriched/degraded, events per sink, IAM calls by action and by identity kind,
    over every account that was listed."""
    listings = list(listings)
    calls: Counter[str] = Counter()
    degraded: Counter[str] = Counter()
    listed: Counter[str] = Counter()
    per_identity: Counter[str] = Counter()
    for listing in listings:
        calls.update(listing["iam_calls"])
        degraded.update(listing["degraded"])
        listed.update(listing.get("identities_listed", {}))
        per_identity.update(listing.get("identity_calls", {}))
    enriched = degraded_users = 0
    for part in enrichments:
        enriched += part["users"]
        degraded_users += part["degraded_users"]
        calls.update(part["iam_calls"])
        degraded.update(part["degraded"])
        if part["iam_calls"]:  # only IAM users are enriched
            per_identity["iam_users"] += sum(part["iam_calls"].values())
    events: Counter[str] = Counter()
    for report in deliveries:
        events[report["sink"]] += report.get("events", 0)
    strategies = sorted({listing["strategy"] for listing in listings})
    return RunSummary(
        strategy=", ".join(strategies) or None,
        users_listed=sum(listing["users_listed"] for listing in listings),
        report_unusable_rows=sum(listing.get("report_unusable_rows", 0) for listing in listings),
        report_fallback_users=sum(listing.get("report_fallback_users", 0) for listing in listings),
        users_enriched=enriched,
        users_degraded=degraded_users,
        degraded=dict(sorted(degraded.items())),
        events_per_sink=dict(sorted(events.items())),
        iam_calls=dict(sorted(calls.items())),
        iam_calls_total=sum(calls.values()),
        identities_listed=dict(sorted(listed.items())),
        calls_per_identity=dict(sorted(per_identity.items())),
    )


def _figure(value: object) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    if isinstance(value, list):
        return "; ".join(map(str, value)) or "none"
    return "—" if value is None else str(value)


# Past this many accounts, the summary prints each failed account's figures, not every one's
# (they stay in the summary XCom): the log's first screen shows the totals and what failed.
ACCOUNT_LINES_MAX = 20
SKIPPED_SHOWN = 20


def format_summary(summary: Mapping[str, object]) -> list[str]:
    """One ``name  value`` line per figure, for the task log: the run's totals first, then each
    failed account's error (``error[<id>]``), then per-account figures, a line each, per sink
    where they are per sink (``users_per_sink[123456789012 file]  new 2, …``): every account's
    up to :data:`ACCOUNT_LINES_MAX` accounts, else the failed ones' only."""
    rows: list[tuple[str, object]] = []
    accounts = summary.get("accounts")
    accounts = accounts if isinstance(accounts, Mapping) else {}
    for name, value in summary.items():
        if name == "identity_center" and isinstance(value, Mapping):
            for figure, inner in value.items():
                if figure in PER_SINK and isinstance(inner, Mapping):
                    rows.extend((f"identity_center.{figure}[{k}]", v) for k, v in inner.items())
                else:
                    rows.append((f"identity_center.{figure}", inner))
        elif name == "accounts_skipped" and isinstance(value, list) and len(value) > SKIPPED_SHOWN:
            rows.append(
                (name, [*value[:SKIPPED_SHOWN], f"… and {len(value) - SKIPPED_SHOWN} more"])
            )
        elif name != "accounts":
            rows.append((name, value))
    failed = {a: f for a, f in accounts.items() if isinstance(f, Mapping) and f.get("error")}
    rows.extend((f"error[{a}]", f["error"]) for a, f in failed.items())
    shown = accounts if len(accounts) <= ACCOUNT_LINES_MAX else failed
    for account, figures in shown.items():
        for figure, inner in figures.items():
            if figure == "error" and account in failed:
                continue
            if figure in PER_SINK and isinstance(inner, Mapping):
                rows.extend((f"{figure}[{account} {sink}]", v) for sink, v in inner.items())
            else:
                rows.append((f"{figure}[{account}]", inner))
    if len(shown) < len(accounts):
        rows.append(
            (
                "accounts",
                f"{len(accounts) - len(shown)} more, delivered: their figures are in "
                "commit_checkpoint's XCom 'summary'",
            )
        )
    width = max((len(name) for name, _ in rows), default=0)
    return [f"{name.ljust(width)}  {_figure(value)}" for name, value in rows]


PER_SINK = {"users_per_sink", "state"}
