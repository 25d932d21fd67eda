"""``[core] hostname_callable`` for the Celery e2e test's workers.

Airflow records ``TaskInstance.hostname`` from this callable, run where the task runs (the Task SDK
supervisor and task process on the Celery worker). Two workers on one machine share one FQDN, so
each worker is started with ``AWSIAM_OCSF_WORKER_HOSTNAME`` set to its own name; the test then
reads from the metadata DB which worker ran which task instance. No imports: the workers load it.
"""

import os


def worker_hostname() -> str:
    return os.environ["AWSIAM_OCSF_WORKER_HOSTNAME"]
