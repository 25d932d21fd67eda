"""The one door tests use into Airflow's internals (metadata DB models, sessions, the DagBag), so
the suite runs on every supported Airflow, 3.0.6 through 3.3.x.

Task SDK names (exceptions, ``redact``…) come from ``airflow.providers.common.compat.sdk`` as in
the package; this module holds what the shims do not cover: the scheduler side. Import it inside
a test or fixture, never at module level: Airflow must not be imported before the conftest has set
up the test ``AIRFLOW_HOME``.

What differs across the range (checked on 3.0.6 and 3.3.2):
- ``DagBag`` moved from ``airflow.models.dagbag`` (3.0) to ``airflow.dag_processing.dagbag``.
"""

from __future__ import annotations

from airflow.models.renderedtifields import RenderedTaskInstanceFields
from airflow.models.taskinstance import TaskInstance
from airflow.models.variable import Variable
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 3.0
    from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

__all__ = [
    "DagBag",
    "RenderedTaskInstanceFields",
    "TaskInstance",
    "Variable",
    "XComModel",
    "create_session",
]
