"""The IAM inventory page as a FastAPI app, mounted by the api-server under :data:`URL_PREFIX`.

``GET {prefix}/`` is the HTML page, ``GET {prefix}/inventory.json`` the same data as JSON; both
take ``?dag_id=`` (repeatable) to show some DAGs only. Both require a signed-in user and show only
the DAGs that user may read: 401 without credentials, 403 when the user may read none of them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlparse

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse

from airflow_provider_awsiam_ocsf.plugins import URL_PREFIX
from airflow_provider_awsiam_ocsf.plugins.auth import authenticated_user, readable_dag_ids
from airflow_provider_awsiam_ocsf.plugins.overview import InventoryPage, Links

NO_STORE = {"Cache-Control": "no-store"}


def base_path() -> str:
    """The path part of ``[api] base_url`` (e.g. ``/airflow`` behind a proxy), or ``""``."""
    from airflow.configuration import conf

    return urlparse(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


def build_page(user: Any, only: list[str] | None) -> InventoryPage:
    """The inventory of the DAGs ``user`` may read (among ``only``, when given)."""
    from airflow.utils.session import create_session

    from airflow_provider_awsiam_ocsf.plugins.queries import inventory_dag_ids, inventory_page

    with create_session() as session:
        dag_ids = inventory_dag_ids(session)
        if only:
            dag_ids &= set(only)
        readable = readable_dag_ids(user, dag_ids)
        if dag_ids and not readable:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "You may not read these DAGs")
        return inventory_page(session, readable, datetime.now(UTC), Links(base_path()))


User = Annotated[Any, Depends(authenticated_user)]
DagIds = Annotated[list[str] | None, Query(alias="dag_id")]


def create_app() -> FastAPI:
    app = FastAPI(
        title="IAM inventory",
        description="What each destination of the AWS IAM → OCSF inventory holds, per account.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.exception_handler(HTTPException)
    async def sign_in_page(request: Request, error: HTTPException) -> Any:
        """The HTML page answers 401/403 with a page a person can act on; JSON stays JSON."""
        from airflow_provider_awsiam_ocsf.plugins.page import render_sign_in

        if request.url.path.endswith(".json") or error.status_code not in (401, 403):
            return JSONResponse({"detail": error.detail}, error.status_code, headers=NO_STORE)
        return HTMLResponse(
            render_sign_in(str(error.detail) + ".", f"{base_path()}/"),
            error.status_code,
            headers=NO_STORE,
        )

    @app.get("/", response_class=HTMLResponse)
    def inventory_html(user: User, dag_id: DagIds = None) -> HTMLResponse:
        from airflow_provider_awsiam_ocsf.plugins.page import render_page

        page = build_page(user, dag_id)
        return HTMLResponse(
            render_page(page, f"{base_path()}{URL_PREFIX}/inventory.json"), headers=NO_STORE
        )

    @app.get("/inventory.json", response_model=InventoryPage)
    def inventory_json(user: User, dag_id: DagIds = None) -> JSONResponse:
        page = build_page(user, dag_id)
        return JSONResponse(page.model_dump(mode="json"), headers=NO_STORE)

    return app


app = create_app()
