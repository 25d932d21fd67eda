"""Inventory the IAM users of an AWS account as OCSF User Inventory Info events (Airflow DAG).

The pipeline ships with the provider; this file only builds it. Change defaults here, e.g.
``build_inventory_dag(DAG_ID, aws_conn_id="aws_prod", sinks=["file", "sekoia"])``, or add a
second DAG with another id. Settings can be overridden per run (trigger form, ``--conf``).
"""

from airflow_provider_awsiam_ocsf.pipeline import DAG_ID, build_inventory_dag

dag = build_inventory_dag(DAG_ID)
