"""operators/base.py: references to XCom values, and the part of the amazon provider's
``AwsBaseOperator`` this package builds on (not public API: guarded here, so an upgrade of the
amazon provider that changes it fails this test rather than a worker)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from airflow_provider_awsiam_ocsf.contracts import XComRef
from airflow_provider_awsiam_ocsf.errors import MissingXComError
from airflow_provider_awsiam_ocsf.hooks.iam import IamHook
from airflow_provider_awsiam_ocsf.operators.base import (
    MemberAccountOperator,
    fetch,
    flatten,
    stash,
)
from tests.support.task_context import XComStore, task_context

AWS_FIELDS = ("aws_conn_id", "region_name", "verify")  # botocore_config is not templated


class _Plain(AwsBaseOperator[IamHook]):
    aws_hook_class = IamHook


class _Reader(MemberAccountOperator):
    @property
    def member_role_arn(self) -> str | None:
        return "arn:aws:iam::222222222222:role/reader"


def test_aws_base_operator_surface_the_package_uses_is_unchanged():
    # aws_template_fields: the connection's fields first, then the operator's own.
    assert set(aws_template_fields("x")) == {*AWS_FIELDS, "x"}
    # _hook_parameters (private): a property whose dict builds aws_hook_class; MemberAccountOperator
    # extends it with the member role and the session name.
    assert isinstance(inspect.getattr_static(AwsBaseOperator, "_hook_parameters"), property)
    op = _Plain(
        task_id="t",
        aws_conn_id="aws_x",
        region_name="eu-west-1",
        verify=False,
        botocore_config={"connect_timeout": 3},
    )
    assert op._hook_parameters == {
        "aws_conn_id": "aws_x",
        "region_name": "eu-west-1",
        "verify": False,
        "config": {"connect_timeout": 3},
    }


def test_a_member_account_operators_hook_reads_the_member_role_in_a_session_naming_the_dag():
    from airflow.providers.common.compat.sdk import DAG

    with DAG("unit_dag", schedule=None):
        op = _Reader(task_id="read", aws_conn_id="aws_x", region_name="eu-west-1")
    hook = op.hook  # built from _hook_parameters, cached
    assert isinstance(hook, IamHook) and op.hook is hook
    assert hook.aws_conn_id == "aws_x"
    assert hook.region_name == "eu-west-1"
    assert hook.member_role_arn == "arn:aws:iam::222222222222:role/reader"
    assert hook.role_session_name == "airflow-unit_dag"


def test_stash_returns_a_reference_to_what_it_pushed_from_this_task_instance():
    store = XComStore()
    ref = stash(task_context(store, "team.list_users", 3), {"a": 1}, "catalog")
    assert ref == XComRef(task_id="team.list_users", key="catalog", map_index=3)
    other = task_context(store, "team.enrich_users", 0)
    assert fetch(other, ref) == {"a": 1}
    assert fetch(other, ref.as_json()) == {"a": 1}  # as it travels inside another value


def test_fetching_a_value_that_is_not_there_fails_naming_it():
    store = XComStore()
    ref = stash(task_context(store, "list_users", 0), {"a": 1}, "catalog")
    # Another pipeline's task of the same name, or another instance: never its value.
    for wrong in (ref.model_copy(update={"map_index": 1}), XComRef(task_id="x", key="catalog")):
        with pytest.raises(MissingXComError, match="catalog"):
            fetch(task_context(store, "enrich_users"), wrong)


@pytest.mark.parametrize(
    ("values", "expected"),
    [(None, []), ({"a": 1}, [{"a": 1}]), ([[{"a": 1}], [{"b": 2}]], [{"a": 1}, {"b": 2}])],
)
def test_flatten_gives_the_plain_values_of_mapped_and_plain_xcom_args(values: Any, expected):
    assert flatten(values) == expected
