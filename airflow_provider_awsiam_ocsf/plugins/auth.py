"""Who is asking, and which DAGs they may read: the one compat wrapper around Airflow's auth.

Airflow protects its own API with dependencies declared on its routers; a plugin's FastAPI app
is mounted beside them and inherits none, so the page checks for itself.

Why not ``airflow.api_fastapi.core_api.security.get_user`` as a dependency: its signature and
its sources differ across the supported range. On 3.0 it is ``get_user(token_str)`` and reads
only the ``Authorization`` header (the 3.0 UI moves the login cookie into the browser's local
storage and sends the token as a header); from 3.1 it is ``get_user(request, ...)`` and also reads
the ``_token`` cookie the UI keeps. The auth manager's own methods, ``get_user_from_token`` and
``filter_authorized_dag_ids``, kept their signatures from 3.0.6 to 3.3, so the page uses those.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request, status

TOKEN_COOKIE = "_token"  # airflow.api_fastapi.auth.managers.base_auth_manager.COOKIE_NAME_JWT_TOKEN


def request_token(request: Request) -> str | None:
    """The caller's JWT: an ``Authorization: Bearer`` header wins over the UI's cookie."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.cookies.get(TOKEN_COOKIE) or None


async def authenticated_user(request: Request) -> Any:
    """The signed-in user (``BaseUser``); 401 without a token or with an expired one, 403 with
    a token the auth manager refuses."""
    from airflow.api_fastapi.app import get_auth_manager
    from jwt import ExpiredSignatureError, InvalidTokenError

    token = request_token(request)
    if token is not None and token == request.cookies.get(TOKEN_COOKIE):
        # 3.1+: the UI's JWTRefreshMiddleware may have refreshed the cookie's user already.
        refreshed = _user_refreshed_by_middleware(request)
        if refreshed is not None:
            return refreshed
    if token is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated")
    try:
        user = await get_auth_manager().get_user_from_token(token)
    except ExpiredSignatureError:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Token expired") from None
    except InvalidTokenError:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Invalid JWT token") from None
    return user


def _user_refreshed_by_middleware(request: Request) -> Any:
    try:
        from airflow.api_fastapi.core_api.security import USER_INJECTED_BY_TRUSTED_MIDDLEWARE
    except ImportError:  # older versions: no such hand-over (3.0 has no such middleware)
        return None
    if (
        getattr(request.state, "user_authenticated_via", None)
        is USER_INJECTED_BY_TRUSTED_MIDDLEWARE
    ):
        return getattr(request.state, "user", None)
    return None


def readable_dag_ids(user: Any, dag_ids: set[str]) -> set[str]:
    """The DAGs among ``dag_ids`` that ``user`` may read (GET)."""
    from airflow.api_fastapi.app import get_auth_manager

    if not dag_ids:
        return set()
    return set(
        get_auth_manager().filter_authorized_dag_ids(dag_ids=dag_ids, user=user, method="GET")
    )
