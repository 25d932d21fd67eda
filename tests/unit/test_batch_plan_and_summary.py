"""Batch splitting, the mapped-task guard and the run summary: pure functions on literal data."""

from __future__ import annotations

import pytest

from airflow_provider_awsiam_ocsf.batch_plan import check_batch_count, split_into_batches
from airflow_provider_awsiam_ocsf.summary import format_summary, run_summary


def test_batches_are_consecutive_and_labelled_by_position():
    batches = split_into_batches(list(range(1, 1201)), 500)
    assert [label for label, _ in batches] == ["users 1–500", "users 501–1000", "users 1001–1200"]
    assert [item for _, chunk in batches for item in chunk] == list(range(1, 1201))


def test_no_users_make_no_batches():
    assert split_into_batches([], 500) == []


def test_too_many_batches_fail_with_the_batch_size_to_use():
    check_batch_count(10_240, 10, limit=1024)
    with pytest.raises(ValueError, match="raise batch_size to at least 11"):
        check_batch_count(10_241, 10, limit=1024)


def listing(account: str, strategy: str = "per_user", users: int = 3) -> dict:
    return {
        "account": account,
        "strategy": strategy,
        "users_listed": users,
        "batches": 2,
        "iam_calls": {"ListUsers": 1},
        "degraded": {},
        "report_unusable_rows": 0,
        "report_fallback_users": 0,
    }


def test_summary_adds_up_accounts_enrichment_and_every_sink_batch():
    enrichments = [
        {
            "account": "111111111111",
            "users": 2,
            "degraded_users": 1,
            "degraded": {"ListMFADevices:AccessDenied": 1},
            "iam_calls": {"ListMFADevices": 2},
        },
        {
            "account": "222222222222",
            "users": 1,
            "degraded_users": 0,
            "degraded": {},
            "iam_calls": {"ListMFADevices": 1},
        },
    ]
    deliveries = [
        {"sink": "file", "account": "111111111111", "events": 2},
        {"sink": "file", "account": "222222222222", "events": 1},
        {"sink": "sekoia", "account": "111111111111", "events": 3, "requests": 1, "retries": 0},
    ]
    summary = run_summary(
        [listing("111111111111"), listing("222222222222", "bulk")], enrichments, deliveries
    )
    assert summary["strategy"] == "bulk, per_user" and summary["users_listed"] == 6
    assert summary["users_enriched"] == 3 and summary["users_degraded"] == 1
    assert summary["degraded"] == {"ListMFADevices:AccessDenied": 1}
    assert summary["events_per_sink"] == {"file": 3, "sekoia": 3}
    assert summary["iam_calls"] == {"ListMFADevices": 3, "ListUsers": 2}
    assert summary["iam_calls_total"] == 5


def test_summary_prints_one_figure_per_line_and_per_account_sink():
    lines = format_summary(
        {
            "strategy": "bulk",
            "events_per_sink": {"file": 20, "sekoia": 20},
            "degraded": {},
            "accounts": {
                "123456789012": {
                    "label": "123456789012 · Prod",
                    "users_per_sink": {"file": {"new": 2}},
                }
            },
        }
    )
    assert lines == [
        "strategy                           bulk",
        "events_per_sink                    file 20, sekoia 20",
        "degraded                           none",
        "label[123456789012]                123456789012 · Prod",
        "users_per_sink[123456789012 file]  new 2",
    ]


def test_the_summary_of_1000_accounts_shows_totals_then_what_failed_first():
    accounts = {
        f"{n:012d}": {"label": f"account {n:012d}", "users_listed": 5, "state": {"file": "ok"}}
        for n in range(1, 1001)
    }
    accounts["000000000500"]["error"] = "listing: AccessDenied: deploy the role"
    lines = format_summary(
        {
            "accounts_read": 999,
            "accounts_failed": 1,
            "accounts_skipped": [f"{n:012d} Old (SUSPENDED)" for n in range(2000, 2050)],
            "users_listed": 4995,
            "accounts": accounts,
        }
    )
    assert len(lines) < 40  # one screen, not a line per account
    assert [line.split()[0] for line in lines[:4]] == [
        "accounts_read",
        "accounts_failed",
        "accounts_skipped",
        "users_listed",
    ]
    assert "… and 30 more" in lines[2]
    assert lines[4].split()[0] == "error[000000000500]"
    assert "deploy the role" in lines[4]
    assert lines[-1].split()[0] == "accounts" and "999 more" in lines[-1]
