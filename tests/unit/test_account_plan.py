"""Organisation mode, the pure part: member role ARNs, account ids, role session names, and which
accounts of a ListAccounts answer are read."""

from __future__ import annotations

import datetime as dt

import pytest

from airflow_provider_awsiam_ocsf.account_plan import (
    account_ref,
    accounts_per_group,
    group_accounts,
    group_label,
    plan_accounts,
    split_active,
    valid_role_session_name,
)
from airflow_provider_awsiam_ocsf.arn import account_id_of, is_account_id, role_arn

JOINED = dt.datetime(2024, 5, 2, 9, 30, tzinfo=dt.UTC)


def listed(account_id: str, name: str, state: str, status: str | None = None) -> dict:
    """One item of organizations:ListAccounts, as the API answers it."""
    item = {
        "Id": account_id,
        "Arn": f"arn:aws:organizations::123456789012:account/o-exampleorgid/{account_id}",
        "Email": f"{name.lower()}@example.com",
        "Name": name,
        "State": state,
        "JoinedMethod": "CREATED",
        "JoinedTimestamp": JOINED,
    }
    if status is not None:
        item["Status"] = status  # retired: kept by the API for a while, never read
    return item


# --- role ARNs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("partition", "account", "name", "expected"),
    [
        (
            "aws",
            "222222222222",
            "iam-inventory-reader",
            "arn:aws:iam::222222222222:role/iam-inventory-reader",
        ),
        ("aws-us-gov", "012345678901", "reader", "arn:aws-us-gov:iam::012345678901:role/reader"),
        ("aws-cn", "333333333333", "reader", "arn:aws-cn:iam::333333333333:role/reader"),
        ("aws", "222222222222", "ops/reader", "arn:aws:iam::222222222222:role/ops/reader"),
        (
            "aws",
            "222222222222",
            "/ops/audit/reader",
            "arn:aws:iam::222222222222:role/ops/audit/reader",
        ),
        ("aws", "222222222222", "Reader+=,.@-_1", "arn:aws:iam::222222222222:role/Reader+=,.@-_1"),
    ],
)
def test_role_arn_in_any_partition_with_or_without_a_path(partition, account, name, expected):
    assert role_arn(partition, account, name) == expected
    assert account_id_of(expected) == account


@pytest.mark.parametrize(
    ("partition", "account", "name"),
    [
        ("aws", "22222222222", "reader"),  # 11 digits
        ("aws", "2222222222222", "reader"),  # 13 digits
        ("aws", "22222222222a", "reader"),
        ("", "222222222222", "reader"),
        ("aws", "222222222222", ""),
        ("aws", "222222222222", "ops//reader"),
        ("aws", "222222222222", "bad name"),
        ("aws", "222222222222", "r" * 65),
    ],
)
def test_role_arn_refuses_a_bad_account_id_partition_or_role_name(partition, account, name):
    with pytest.raises(ValueError):
        role_arn(partition, account, name)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("123456789012", True),
        ("012345678901", True),  # leading zero: ids are strings
        (123456789012, False),  # an int has lost or may lose its leading zeros
        ("12345678901", False),
        ("1234567890123", False),
        ("12345678901a", False),
        (" 12345678901", False),
        ("١٢٣٤٥٦٧٨٩٠١٢", False),  # Arabic-Indic digits are digits, not an account id
        (None, False),
    ],
)
def test_is_account_id_wants_a_string_of_12_ascii_digits(value, expected):
    assert is_account_id(value) is expected


# --- role session names ------------------------------------------------------------------------


def test_role_session_name_names_the_dag():
    assert valid_role_session_name("airflow-aws_iam_users_ocsf") == "airflow-aws_iam_users_ocsf"
    assert valid_role_session_name("airflow-a.b@c=d,e+f") == "airflow-a.b@c=d,e+f"


def test_role_session_name_is_made_valid_and_at_most_64_characters():
    assert valid_role_session_name("airflow-my dag/é:prod") == "airflow-my-dag-prod"
    long = valid_role_session_name("airflow-" + "d" * 100)
    assert long == ("airflow-" + "d" * 100)[:64] and len(long) == 64
    assert valid_role_session_name("") == "airflow-iam-inventory"
    assert valid_role_session_name("x") == "airflow-iam-inventory"  # STS wants 2 at least


# --- which accounts are read -------------------------------------------------------------------


def test_split_active_reads_active_accounts_and_skips_the_others():
    answer = {
        "Accounts": [
            listed("123456789012", "master", "ACTIVE", status="ACTIVE"),
            listed("222222222222", "Prod", "ACTIVE"),
            listed("333333333333", "Old", "SUSPENDED", status="SUSPENDED"),
            listed("444444444444", "Closing", "PENDING_CLOSURE"),
        ]
    }
    active, skipped = split_active(answer["Accounts"])
    assert [a["Id"] for a in active] == ["123456789012", "222222222222"]
    assert active[1] is answer["Accounts"][1]  # given back as listed
    assert skipped == [
        {"Id": "333333333333", "Name": "Old", "State": "SUSPENDED"},
        {"Id": "444444444444", "Name": "Closing", "State": "PENDING_CLOSURE"},
    ]


def test_split_active_reads_state_not_the_retired_status():
    # A Status left ACTIVE does not make a suspended account readable, and the reverse.
    active, skipped = split_active(
        [
            listed("222222222222", "Suspended", "SUSPENDED", status="ACTIVE"),
            listed("333333333333", "Active", "ACTIVE", status="SUSPENDED"),
        ]
    )
    assert [a["Id"] for a in active] == ["333333333333"]
    assert [s["Id"] for s in skipped] == ["222222222222"]


def test_split_active_skips_an_account_without_state_and_every_non_active_state():
    states = ["PENDING_ACTIVATION", "SUSPENDED", "PENDING_CLOSURE", "CLOSED"]
    accounts = [listed(f"55555555555{i}", f"a{i}", state) for i, state in enumerate(states)]
    no_state = {"Id": "666666666666", "Name": "legacy", "Status": "ACTIVE"}
    active, skipped = split_active([*accounts, no_state])
    assert active == []
    assert [s["State"] for s in skipped] == [*states, "UNKNOWN"]


def test_split_active_of_an_empty_organisation():
    assert split_active([]) == ([], [])


def test_accounts_other_than_the_own_are_read_through_their_member_role():
    refs = plan_accounts(
        ["222222222222", "123456789012", "222222222222"],
        {"222222222222": "Prod"},
        own="123456789012",
        partition="aws-us-gov",
        member_role_name="audit/reader",
    )
    assert refs == [
        {
            "account": "222222222222",
            "name": "Prod",
            "role_arn": "arn:aws-us-gov:iam::222222222222:role/audit/reader",
            "label": "222222222222 · Prod",
        },
        {
            "account": "123456789012",
            "name": None,
            "role_arn": None,
            "label": "account 123456789012",
        },
    ]


def test_a_bad_id_is_refused_and_any_number_of_accounts_is_planned():
    plan = dict(own="123456789012", partition="aws", member_role_name="r")
    with pytest.raises(ValueError, match="12-digit"):
        plan_accounts(["12345"], {}, **plan)
    many = [f"{n:012d}" for n in range(1, 5001)]
    assert len(plan_accounts(many, {}, **plan)) == 5000


def ref(n: int, name: str | None = None) -> dict:
    return account_ref(f"{n:012d}", name, None)


def test_accounts_are_grouped_in_order_and_labelled_by_number_and_first_and_last_names():
    refs = [ref(1, "Prod"), ref(2), ref(3, "Sandbox-17"), ref(4, "Dev")]
    groups = group_accounts(refs, 3)
    assert [g["label"] for g in groups] == [
        "accounts 1–3 · Prod … Sandbox-17",
        "000000000004 · Dev",  # a group of one keeps the account's own label
    ]
    assert [g["first"] for g in groups] == [1, 4]
    assert [r["account"] for g in groups for r in g["accounts"]] == [r["account"] for r in refs]
    assert group_label(5, [ref(5), ref(6)]) == "accounts 5–6 · 000000000005 … 000000000006"


def test_5000_accounts_fit_the_default_max_map_length():
    assert accounts_per_group(5000, 25, 1024) == 25  # 200 listing instances
    assert accounts_per_group(5000, 1, 1024) == 5  # raised: 1,000 instances at most
    assert len(group_accounts([ref(n) for n in range(1, 5001)], 5)) == 1000
    with pytest.raises(ValueError, match="at least 1"):
        accounts_per_group(10, 0, 1024)
