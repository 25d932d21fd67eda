"""The CeleryExecutor deployment in one place: the Airflow settings and component commands that
``docker-compose.airflow.yml`` declares and ``tests/e2e/test_celery_e2e.py`` runs for real.

``tests/unit/test_docker_compose.py`` checks that the compose file says exactly this (with its
service names as hosts), so the setup the e2e test proves is the one the compose file ships.
Not shipped with the provider.
"""

from __future__ import annotations

# Airflow CLI commands of the long-running components. Compose runs one service each; the e2e test
# runs all but the triggerer (the sample DAG defers nothing), with two workers.
COMPONENT_COMMANDS = {
    "api-server": ("api-server",),
    "scheduler": ("scheduler",),
    "dag-processor": ("dag-processor",),
    "triggerer": ("triggerer",),
    "celery-worker": ("celery", "worker"),
}

# The Celery app of Airflow's Celery provider (``celery --app … inspect ping``: worker health).
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"

METADATA_DB_SCHEME = "postgresql+psycopg2"
# Celery's results in the metadata database, as Airflow's own compose file does (no extra
# service), but with the driver named: SQLAlchemy 2.1 (pinned here) maps a bare
# ``postgresql://`` to psycopg 3, which is not installed, and the workers die at start-up.
RESULT_BACKEND_SCHEME = "db+postgresql+psycopg2"
BROKER_SCHEME = "redis"


def celery_executor_settings(
    *,
    postgres: str,
    redis: str,
    user: str = "airflow",
    password: str = "airflow",
    database: str = "airflow",
) -> dict[str, str]:
    """``AIRFLOW__*`` variables for CeleryExecutor on PostgreSQL (metadata DB and Celery results)
    and Redis (broker). ``postgres`` and ``redis`` are ``host`` or ``host:port``."""
    db = f"{user}:{password}@{postgres}/{database}"
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{METADATA_DB_SCHEME}://{db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"{RESULT_BACKEND_SCHEME}://{db}",
        # Empty password, as in Airflow's compose file; database 0.
        "AIRFLOW__CELERY__BROKER_URL": f"{BROKER_SCHEME}://:@{redis}/0",
    }
