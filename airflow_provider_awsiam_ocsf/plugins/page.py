"""The page's HTML: server-rendered with Jinja2 from ``templates/``, every value escaped
(autoescape), no build step.

Two small inline scripts, both optional: inside the 3.1+ UI the page is framed in a sandbox that
cannot navigate the window it sits in, so links to the grid are followed by the UI's own window;
and on 3.0, whose UI keeps the login token in the browser's local storage rather than in a cookie,
the sign-in page asks for the page once more with that token.
"""

from __future__ import annotations

from datetime import datetime

from jinja2 import Environment, PackageLoader, select_autoescape

from airflow_provider_awsiam_ocsf.plugins.overview import InventoryPage

_ENV = Environment(
    loader=PackageLoader("airflow_provider_awsiam_ocsf.plugins", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


_ENV.filters["when"] = _when


def render_page(page: InventoryPage, json_url: str) -> str:
    return _ENV.get_template("inventory.html").render(page=page, json_url=json_url)


def render_sign_in(message: str, home: str) -> str:
    """For a browser without credentials (on Airflow 3.0 the token is in local storage)."""
    return _ENV.get_template("sign_in.html").render(message=message, home=home)
