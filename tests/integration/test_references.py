"""Tasks find what they read through references the values carry, never by task id: two pipelines
in task groups of one DAG each read their own listing, catalog and plan (real Airflow with
dag.test, moto's IAM over HTTP)."""

from __future__ import annotations

import json

from airflow_provider_awsiam_ocsf.pipeline import START_DATE, inventory_params, inventory_tasks
from airflow_provider_awsiam_ocsf.state_store import state_key
from tests.support.dag_runs import ACCOUNT, read_events
from tests.support.iam_world import add_users

DAG_ID = "two_inventories"
GROUPS = ("first", "second")


def xcoms(run_id: str, task_id: str, key: str) -> list:
    from tests.support.airflow_compat import XComModel, create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(
            dag_id=DAG_ID, run_id=run_id, task_id=task_id, key=key
        )
        return [XComModel.deserialize_value(row) for row in rows.order_by(XComModel.map_index)]


def test_two_pipelines_in_one_dag_each_read_their_own_values(iam, airflow_home, tmp_path):
    from airflow.providers.common.compat.sdk import DAG, TaskGroup

    from tests.support.airflow_compat import Variable, store_dag

    add_users(iam, [f"user{i}" for i in range(5)])
    out = tmp_path / "out"
    params = inventory_params(
        batch_size=10, settle_seconds=0, strategy="per_user", output_uri=f"file://{out}"
    )
    with DAG(
        DAG_ID,
        schedule=None,
        start_date=START_DATE,
        params=params,
        render_template_as_native_obj=True,
    ) as dag:
        for group in GROUPS:
            with TaskGroup(group):
                inventory_tasks()
    store_dag(dag)
    try:
        run = dag.test()
        assert str(run.state) == "success"
        for group in GROUPS:
            [group_listing] = xcoms(run.run_id, f"{group}.list_users", "return_value")
            [listing] = group_listing["listings"]
            [batch] = listing["batches"]
            assert (
                batch["payload"]["task_id"] == batch["catalog"]["task_id"] == f"{group}.list_users"
            )
            [enriched] = xcoms(run.run_id, f"{group}.enrich_users", "return_value")
            assert enriched["payload"]["task_id"] == f"{group}.enrich_users"
            [summary] = xcoms(run.run_id, f"{group}.commit_checkpoint", "summary")
            assert summary["users_listed"] == 5 and summary["users_enriched"] == 5
        assert sorted(e["user"]["name"] for e in read_events(out)) == [f"user{i}" for i in range(5)]
        state = json.loads(Variable.get(state_key(DAG_ID, "aws_default", ACCOUNT, "file")))
        assert len(state["users"]) == 5
    finally:
        Variable.delete(state_key(DAG_ID, "aws_default", ACCOUNT, "file"))
