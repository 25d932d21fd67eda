"""``IamInventoryPlugin``: the IAM inventory page in the Airflow UI, on Airflow 3.0.6 through 3.3.x.

The page is a FastAPI app (``fastapi_apps``, on every Airflow 3) served by the api-server under
``/iam-inventory/``. Its menu entry: from 3.1, an ``external_views`` entry under "Browse", framed
in the UI; on 3.0, which has no external views, an ``appbuilder_menu_items`` link under
"Plugins" (opened in a new tab). Only one of the two is declared, so the entry never shows twice.
3.0 takes a menu link for an Airflow 2 plugin and refuses to start the api-server unless the FAB
provider is installed: without it the link is left out and the page is opened by its URL.

Two registrations, one load. ``get_provider_info()["plugins"]`` names this class, but Airflow
loads provider plugins only with ``[core] lazy_discover_providers = False`` (the default is
True); so the ``airflow.plugins`` entry point names :data:`ENTRY_POINT_PLUGIN`, which is this
class when providers are discovered lazily and None otherwise (Airflow skips an entry point that
is not a plugin class). Whatever the setting, the plugin loads exactly once.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from airflow import __version__ as AIRFLOW_VERSION
from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin

from airflow_provider_awsiam_ocsf.plugins import URL_PREFIX

NAME = "IAM inventory"
_HAS_EXTERNAL_VIEWS = tuple(int(n) for n in AIRFLOW_VERSION.split(".")[:2]) >= (3, 1)


def _fab_installed() -> bool:
    """Whether the FAB provider is there (3.0 serves plugin menu links through it only)."""
    try:
        return find_spec("airflow.providers.fab") is not None
    except ModuleNotFoundError:  # no airflow.providers namespace at all
        return False


class _FastApiApps:
    """``fastapi_apps``, built when first read (by the api-server): schedulers and workers, which
    load plugins too, never import FastAPI for it. A descriptor rather than a property: Airflow
    reads it from the plugin class (provider plugins) as well as from instances (entry points)."""

    def __get__(self, instance: object, owner: type | None = None) -> list[dict[str, Any]]:
        from airflow_provider_awsiam_ocsf.plugins.app import app

        return [{"app": app, "url_prefix": URL_PREFIX, "name": NAME}]


class IamInventoryPlugin(AirflowPlugin):
    name = "awsiam_ocsf_inventory"
    if _HAS_EXTERNAL_VIEWS:
        external_views = [
            {
                "name": NAME,
                "href": f"{URL_PREFIX.lstrip('/')}/",
                "url_route": "iam-inventory",
                "destination": "nav",
                "category": "browse",
            }
        ]
    elif _fab_installed():
        appbuilder_menu_items = [{"name": NAME, "href": f"{URL_PREFIX}/", "category": "AWS IAM"}]

    fastapi_apps = _FastApiApps()


ENTRY_POINT_PLUGIN = (
    IamInventoryPlugin
    if conf.getboolean("core", "lazy_discover_providers", fallback=True)
    else None
)
