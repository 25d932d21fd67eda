"""What collection reads, decided from literal users and datetimes: the window, and the per-user
reads a listed user still needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_awsiam_ocsf.collection_plan import (
    Fact,
    Window,
    check_mode,
    facts_to_read,
    listing_window,
)
from airflow_provider_awsiam_ocsf.inventory import AccessKeyFacts, IamUser
from tests.unit.test_state import user

RUN_AFTER = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)
KEY_TIME = datetime(2026, 1, 2, tzinfo=UTC)


def listed_per_user(name: str = "alice") -> IamUser:
    """As ListUsers gives a user: name, ids, creation, nothing else known."""
    return IamUser(
        name=name,
        user_id="AIDAEXAMPLE",
        arn=f"arn:aws:iam::123456789012:user/{name}",
        created=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_a_scheduled_run_lists_everyone_created_before_its_instant_minus_settling():
    window = listing_window(interval=None, run_after=RUN_AFTER, settle_seconds=30)
    assert window == Window(until=datetime(2026, 3, 1, 12, tzinfo=UTC))


def test_a_backfill_run_lists_its_data_interval():
    interval = (RUN_AFTER - timedelta(hours=1), RUN_AFTER)
    assert listing_window(interval=interval, run_after=RUN_AFTER, settle_seconds=30) == Window(
        since=interval[0], until=interval[1]
    )


def test_an_unknown_mode_is_refused():
    check_mode("full")
    with pytest.raises(ValueError, match="mode must be one of"):
        check_mode("sometimes")


def test_a_user_listed_by_list_users_needs_every_per_user_read():
    assert facts_to_read(listed_per_user(), access_key_ids=True) == [
        Fact.GROUPS,
        Fact.OWN_POLICIES,
        Fact.MFA,
        Fact.IDENTITY,
        Fact.LOGIN_PROFILE,
        Fact.ACCESS_KEYS,
    ]


def test_a_user_the_bulk_listing_knows_fully_needs_nothing():
    known = user("alice")
    known.password_last_used_read = True
    assert facts_to_read(known, access_key_ids=True) == []


def test_keys_known_from_the_report_only_need_their_ids_with_access_key_ids():
    known = user("alice")
    known.password_last_used_read = True
    known.access_keys = [AccessKeyFacts(status="Active", created=KEY_TIME)]  # no id
    assert facts_to_read(known, access_key_ids=True) == [Fact.ACCESS_KEY_IDS]
    assert facts_to_read(known, access_key_ids=False) == []


def test_identity_is_read_until_password_last_use_is_known_too():
    known = user("alice")  # identity read (GAAD), password last use not (no report)
    assert facts_to_read(known, access_key_ids=False) == [Fact.IDENTITY]


def test_every_fact_has_its_reader():
    from airflow_provider_awsiam_ocsf.collection import READERS

    assert list(READERS) == list(Fact)
