"""The provider's Airflow plugin: the "IAM inventory" page (``inventory_page.IamInventoryPlugin``)."""

URL_PREFIX = "/iam-inventory"  # where the api-server mounts the page's FastAPI app
