"""The pipeline as a library: the DAG users keep is one call, and a second DAG is one more."""

from __future__ import annotations

import pytest

from airflow_provider_awsiam_ocsf.pipeline import DAG_ID, build_inventory_dag, inventory_params

STAGES = [
    "resolve_accounts",
    "list_users",
    "batches",
    "enrich_users",
    "to_ocsf",
    "write_files",
    "push_to_sekoia",
    "inventory_identity_center",
    "commit_checkpoint",
]


def test_default_dag_has_the_documented_id_stages_and_params():
    dag = build_inventory_dag()
    assert dag.dag_id == DAG_ID
    assert dag.task_ids == STAGES
    assert dag.params["sinks"] == ["file"] and dag.params["access_key_ids"] is True
    assert dag.max_active_runs == 1 and dag.catchup is False


def test_a_second_dag_is_a_call_with_other_defaults():
    prod = build_inventory_dag(
        "aws_iam_users_ocsf_prod", aws_conn_id="aws_prod", sinks=["file", "sekoia"], mode="full"
    )
    assert prod.params["aws_conn_id"] == "aws_prod"
    assert prod.params["sinks"] == ["file", "sekoia"] and prod.params["mode"] == "full"
    # Same validation as the default: the schema travels with the new default.
    assert prod.params.get_param("sinks").schema["items"]["enum"] == ["file", "sekoia"]
    outlets = {a.uri for t in prod.tasks for a in t.outlets}
    assert outlets == {
        "ocsf-inventory://aws_iam_users_ocsf_prod/file",
        "ocsf-inventory://aws_iam_users_ocsf_prod/sekoia",
    }


def test_unknown_param_names_are_refused():
    with pytest.raises(TypeError, match="unknown inventory params"):
        inventory_params(aws_connection="aws_prod")


def test_the_shipped_dag_file_is_only_the_call():
    from tests.conftest import REPO

    code = [
        line
        for line in (REPO / "dags" / f"{DAG_ID}.py").read_text().splitlines()
        if line.strip() and not line.startswith(("#", '"""')) and line[0] not in " \t"
    ]
    assert code[-2:] == [
        "from airflow_provider_awsiam_ocsf.pipeline import DAG_ID, build_inventory_dag",
        "dag = build_inventory_dag(DAG_ID)",
    ]


def test_the_test_helpers_name_the_sample_dag_as_the_package_does():
    from tests.support import airflow_stack, dag_runs

    assert airflow_stack.DAG_ID == dag_runs.DAG_ID == DAG_ID
