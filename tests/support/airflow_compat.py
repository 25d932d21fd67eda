"""The one door tests use into Airflow's internals (metadata DB models, sessions, the DagBag), so
the suite runs on every supported Airflow, 3.0.6 through 3.3.x.

Task SDK names (exceptions, ``redact``…) come from ``airflow.providers.common.compat.sdk`` as in
the package; this module holds what the shims do not cover: the scheduler side. Import it inside
a test or fixture, never at module level: Airflow must not be imported before the conftest has set
up the test ``AIRFLOW_HOME``.

What differs across the range (checked on 3.0.6 and 3.3.2):
- ``DagBag`` moved from ``airflow.models.dagbag`` (3.0) to ``airflow.dag_processing.dagbag``.
- 3.0's ``dag.test()`` runs tasks with structlog left at its defaults, which print the Task SDK's
  debug lines (see :func:`log_tasks_at_info`).
- 3.0's ``dag.test()`` neither stores the DAG nor activates its Assets: the ``airflow_home``
  fixture runs ``airflow dags reserialize`` (a CLI command, so not here). 3.1+'s runs only DAGs
  stored from a DAG bundle: a DAG a test builds is stored with :func:`store_dag`.
"""

from __future__ import annotations

import logging

import airflow
import structlog
from airflow.models.dagrun import DagRun
from airflow.models.renderedtifields import RenderedTaskInstanceFields
from airflow.models.taskinstance import TaskInstance
from airflow.models.variable import Variable
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 3.0
    from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

AIRFLOW_3_0 = airflow.__version__.startswith("3.0.")


def store_dag(dag) -> None:
    """Store a DAG built in a test (in no DAG folder) as a dag-processor would: 3.1+'s
    ``dag.test()`` creates runs of stored DAGs only; 3.0's stores nothing and needs nothing."""
    if AIRFLOW_3_0:
        return
    import tempfile

    from airflow.dag_processing.dagbag import sync_bag_to_db

    with tempfile.TemporaryDirectory() as empty:
        bag = DagBag(dag_folder=empty, collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


def store_dag_and_assets(dag) -> None:
    """:func:`store_dag`, and on 3.0 too, with the DAG's Assets activated (as a dag-processor
    does): 3.0's ``dag.test()`` fails the tasks that update an inactive Asset, and an
    asset-triggered run needs its Asset stored."""
    if not AIRFLOW_3_0:
        store_dag(dag)
        return
    import tempfile

    with tempfile.TemporaryDirectory() as empty:
        bag = DagBag(dag_folder=empty, include_examples=False, collect_dags=False)
    if dag.relative_fileloc is None:  # set by a DagBag that parsed the DAG's file
        dag.relative_fileloc = dag.fileloc
    bag.bag_dag(dag)
    bag.sync_to_db("dags-folder", None)


def asset_triggered_test_runs(monkeypatch, asset_name: str, extras: list[dict]) -> None:
    """Make ``dag.test()`` create its run as the scheduler creates an asset-triggered one: run
    type ``asset_triggered``, no logical date or data interval, and one asset event per extra of
    the asset ``asset_name`` (stored with the DAG) among the run's consumed asset events, which
    is what the execution API gives a task as ``triggering_asset_events``."""
    from airflow.models import dagrun as dagrun_module
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import select

    def create(*, dag, run_after, conf, start_date, session, **_):
        asset = session.scalar(select(AssetModel).where(AssetModel.name == asset_name))
        assert asset is not None, f"asset {asset_name} not stored: store the DAG first"
        events = [AssetEvent(asset_id=asset.id, extra=extra) for extra in extras]
        session.add_all(events)
        session.flush()
        run = dag.create_dagrun(
            run_id=DagRun.generate_run_id(
                run_type=DagRunType.ASSET_TRIGGERED, logical_date=None, run_after=run_after
            ),
            logical_date=None,
            data_interval=None,
            run_after=run_after,
            conf=conf,
            run_type=DagRunType.ASSET_TRIGGERED,
            state=DagRunState.RUNNING,
            triggered_by=DagRunTriggeredByType.ASSET,
            start_date=start_date,
            session=session,
        )
        run.consumed_asset_events.extend(events)
        session.flush()
        return run

    if AIRFLOW_3_0:  # dag.test() imports airflow.models.dag's at each call
        from airflow.models import dag as dag_module

        monkeypatch.setattr(dag_module, "_get_or_create_dagrun", create)
    else:
        monkeypatch.setattr(dagrun_module, "get_or_create_dagrun", create)


def log_tasks_at_info() -> None:
    """Task logs at INFO, as a worker writes them.

    A 3.0 worker configures structlog at ``[logging] logging_level``, but 3.0's in-process
    ``dag.test()`` does not, so every debug line of the Task SDK reaches the output, among them
    each ``mask_secret`` request with the secret in clear. 3.1+ configure it themselves.
    """
    if AIRFLOW_3_0:
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))


def reuse_in_process_execution_api() -> None:
    """One in-process execution API for every task ``dag.test()`` runs, as 3.1+ keep it.

    3.0's ``in_process_api_server()`` builds a new FastAPI app for each task (Cadwyn generates
    its versioned schemas again, and a2wsgi starts another event-loop thread): seconds of
    every task, most of the 3.0.6 suite's time. Later releases cache it
    (``functools.lru_cache(maxsize=1)``); this gives 3.0 the same cache. What a task does and
    what it stores are unchanged: the app is stateless between requests, and each task still
    sets the DagBag it reads (``dependency_overrides``) on it.
    """
    if not AIRFLOW_3_0:
        return
    import functools

    from airflow.sdk.execution_time import supervisor

    if not hasattr(supervisor.in_process_api_server, "cache_info"):
        supervisor.in_process_api_server = functools.lru_cache(maxsize=1)(
            supervisor.in_process_api_server
        )


__all__ = [
    "AIRFLOW_3_0",
    "DagBag",
    "DagRun",
    "DagRunState",
    "RenderedTaskInstanceFields",
    "TaskInstance",
    "Variable",
    "XComModel",
    "asset_triggered_test_runs",
    "create_session",
    "log_tasks_at_info",
    "reuse_in_process_execution_api",
    "store_dag",
    "store_dag_and_assets",
]
