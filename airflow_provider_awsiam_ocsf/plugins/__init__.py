"""The provider's Airflow plugin: the "IAM inventory" page (``inventory_page``)."""

URL_PREFIX = "/iam-inventory"  # where the api-server mounts the page's FastAPI app
