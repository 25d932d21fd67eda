"""resolve_accounts: which accounts a run reads, and how (moto's STS and IAM over HTTP)."""

from __future__ import annotations

import pytest

from airflow_provider_awsiam_ocsf.contracts import XComKey
from airflow_provider_awsiam_ocsf.operators.resolve_accounts import ResolveAccountsOperator
from tests.support.task_context import XComStore, task_context

OWN = "123456789012"  # moto's default account
OTHER = "222222222222"


def resolve(**kwargs) -> tuple[list, XComStore]:
    store = XComStore()
    op = ResolveAccountsOperator(task_id="resolve_accounts", **kwargs)
    return op.execute(task_context(store, "resolve_accounts")), store


def test_template_fields():
    assert set(ResolveAccountsOperator.template_fields) == {
        "aws_conn_id",
        "region_name",
        "verify",
        "accounts",
        "member_role_name",
        "accounts_per_task",
    }


def test_hook_parameters_are_the_connections_own():
    op = ResolveAccountsOperator(
        task_id="resolve_accounts",
        aws_conn_id="aws_x",
        region_name="eu-west-1",
        botocore_config={"connect_timeout": 3},
    )
    assert op.hook.aws_conn_id == "aws_x"
    assert op.hook.region_name == "eu-west-1"
    assert op.hook.member_role_arn is None  # resolving reads no member account


def test_self_is_the_connections_own_account_read_with_its_credentials(iam):
    groups, store = resolve(accounts="self")
    assert groups == [
        {
            "first": 1,
            "label": f"account {OWN}",
            "accounts": [
                {"account": OWN, "name": None, "role_arn": None, "label": f"account {OWN}"}
            ],
        }
    ]
    assert store.get("resolve_accounts", XComKey.SKIPPED) == []


def test_listed_accounts_other_than_the_own_are_read_through_the_member_role(iam):
    groups, _ = resolve(accounts=[OTHER, OWN, OTHER], member_role_name="audit/reader")
    assert [(r["account"], r["role_arn"]) for r in groups[0]["accounts"]] == [
        (OTHER, f"arn:aws:iam::{OTHER}:role/audit/reader"),
        (OWN, None),
    ]


def test_more_accounts_than_max_map_length_are_read_more_per_task(iam, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "2")
    many = [f"{n:012d}" for n in range(1, 8)]
    groups, _ = resolve(accounts=many, accounts_per_task=1)
    assert [len(g["accounts"]) for g in groups] == [4, 3]
    assert [r["account"] for g in groups for r in g["accounts"]] == many
    groups, _ = resolve(accounts=many, accounts_per_task=5)
    assert [len(g["accounts"]) for g in groups] == [5, 2]


def test_skipped_accounts_are_pushed_even_when_resolving_fails(iam):
    # commit_checkpoint's XComArg of them then resolves, and it fails with its own message.
    store = XComStore()
    op = ResolveAccountsOperator(task_id="resolve_accounts", accounts=["12"])
    with pytest.raises(ValueError, match="12-digit"):
        op.execute(task_context(store, "resolve_accounts"))
    assert store.get("resolve_accounts", XComKey.SKIPPED) == []
