# Airflow image with this provider installed, used by docker-compose.airflow.yml.
#
#   docker compose -f docker-compose.airflow.yml build
#
# The base image's Airflow is kept as is: apache-airflow is pinned on the pip command line
# (AIRFLOW_VERSION is set by the official image) and every other package follows the project's
# own pins for that Airflow, constraints/airflow-${AIRFLOW_VERSION}.txt, so installing the
# provider never moves Airflow. Another supported base image (e.g. apache/airflow:3.0.6-python3.11)
# picks its own file. The provider's `s3` extra brings s3fs (output_uri s3://…); its `celery` extra
# brings the Celery provider and the PostgreSQL drivers at the versions the CeleryExecutor e2e test
# (tests/e2e/test_celery_e2e.py) runs.
FROM apache/airflow:3.3.2-python3.11

# moto[server] serves the seeded IAM of the compose file's `demo` profile. Leave it out of an
# image meant for a real account with: --build-arg DEMO_REQUIREMENTS=
ARG DEMO_REQUIREMENTS="moto[server]"

ENV PROVIDER_SRC=/opt/airflow-provider-awsiam-ocsf

# Only what the build needs, so the rest of the checkout (.venv, logs, output) never reaches the
# image and edits to DAGs or tests do not invalidate this layer.
COPY --chown=airflow:0 pyproject.toml README.md ${PROVIDER_SRC}/
COPY --chown=airflow:0 constraints ${PROVIDER_SRC}/constraints
COPY --chown=airflow:0 airflow_provider_awsiam_ocsf ${PROVIDER_SRC}/airflow_provider_awsiam_ocsf
# The demo organisation served by the `demo` profile (python -m devtools.demo_org); not installed.
COPY --chown=airflow:0 devtools ${PROVIDER_SRC}/devtools

RUN pip install --no-cache-dir \
        --constraint "${PROVIDER_SRC}/constraints/airflow-${AIRFLOW_VERSION}.txt" \
        "apache-airflow==${AIRFLOW_VERSION}" \
        "${PROVIDER_SRC}[celery,s3,events]" \
        ${DEMO_REQUIREMENTS} \
    && python -c "from importlib.metadata import version as v; \
assert v('apache-airflow') == '${AIRFLOW_VERSION}', v('apache-airflow'); \
print('apache-airflow', v('apache-airflow'), '+ airflow-provider-awsiam-ocsf', v('airflow-provider-awsiam-ocsf'))"
