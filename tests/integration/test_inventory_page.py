"""The IAM inventory page's FastAPI app on a real metadata DB: contents after real runs of the
sample DAG (dag.test, moto's IAM and Organizations, the loopback Sekoia API), access control with
the real SimpleAuthManager, one query for the state Variables of 1,000 accounts, and
``airflow plugins`` listing it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.support.dag_runs import DAG_ID
from tests.support.iam_world import add_users
from tests.support.org_world import MANAGEMENT, create_organization, member_client
from tests.support.sekoia_server import FAST_RETRIES, sekoia_connection_json

SEKOIA_OK, SEKOIA_BAD = "sekoia_page_ok", "sekoia_page_bad"


@pytest.fixture
def auth_manager(airflow_home, monkeypatch):
    """Airflow's SimpleAuthManager, initialised as the api-server does it."""
    # 3.0.6 with the pinned PyJWT refuses tokens without an issuer (see SPEC §10).
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_ISSUER", "awsiam-ocsf-tests")
    from airflow.api_fastapi.app import init_auth_manager

    return init_auth_manager()


def token(auth_manager, role: str | None) -> str:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return auth_manager.generate_jwt(SimpleAuthManagerUser(username=f"u-{role}", role=role))


@pytest.fixture
def client(auth_manager):
    from fastapi.testclient import TestClient

    from airflow_provider_awsiam_ocsf.plugins.app import create_app

    return TestClient(create_app())


@pytest.fixture
def viewer(auth_manager) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(auth_manager, 'viewer')}"}


def section(page: dict, dag_id: str = DAG_ID) -> dict:
    (found,) = [d for d in page["dags"] if d["dag_id"] == dag_id]
    return found


def rows_of(
    page: dict, conn_id: str = "aws_default", identities: str = "iam_users"
) -> dict[tuple[str, str], dict]:
    return {
        (r["account"], r["sink"]): r
        for r in section(page)["rows"]
        if r["aws_conn_id"] == conn_id and r["identities"] == identities
    }


# -- access control ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/inventory.json"])
def test_an_anonymous_request_gets_401(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert "users held" not in response.text.lower()


def test_the_html_401_offers_to_sign_in(client):
    response = client.get("/")
    assert response.headers["content-type"].startswith("text/html")
    assert "Sign in to Airflow" in response.text


@pytest.mark.parametrize("path", ["/", "/inventory.json"])
def test_a_forged_token_gets_403(client, path):
    response = client.get(path, headers={"Authorization": "Bearer not.a.jwt"})
    assert response.status_code == 403


@pytest.mark.parametrize("path", ["/", "/inventory.json"])
def test_a_user_who_may_not_read_the_dag_gets_403(client, auth_manager, path):
    response = client.get(path, headers={"Authorization": f"Bearer {token(auth_manager, None)}"})
    assert response.status_code == 403
    assert DAG_ID not in response.text


def test_a_viewer_reads_it_with_a_header_or_the_ui_cookie(client, auth_manager, viewer):
    assert client.get("/inventory.json", headers=viewer).status_code == 200
    client.cookies.set("_token", token(auth_manager, "viewer"))  # what the 3.1+ UI sends
    response = client.get("/")
    assert response.status_code == 200 and "IAM inventory" in response.text


# -- contents after real runs -----------------------------------------------------------------


@pytest.fixture
def organisation(iam, iam_endpoint):
    """Management 123456789012 (one user) and members Prod (two users) and Dev (one user)."""
    ids = create_organization(iam_endpoint, ["Prod", "Dev"])
    iam.create_user(UserName="mgmt.admin")
    for name, users in {"Prod": ["p1", "p2"], "Dev": ["d1"]}.items():
        member = member_client(iam_endpoint, ids[name])
        for user in users:
            member.create_user(UserName=f"{user}.{name.lower()}")
    return ids


@pytest.fixture
def sekoia_conns(sekoia_server, monkeypatch):
    """A working ``sekoia`` connection and one with a wrong API key (the API answers 401)."""
    for conn_id, key in ((SEKOIA_OK, sekoia_server.api_key), (SEKOIA_BAD, "wrong-key")):
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}",
            sekoia_connection_json(
                sekoia_server.base_url, key, sekoia_server.connector_uuid, **FAST_RETRIES
            ),
        )


def test_the_page_shows_each_account_and_sink_after_real_runs(
    organisation, dag_runs, sekoia_conns, client, viewer, iam_endpoint
):
    prod, dev = organisation["Prod"], organisation["Dev"]
    conf = {"accounts": "organization", "strategy": "bulk", "sinks": ["file", "sekoia"]}

    first = dag_runs(**conf, sekoia_conn_id=SEKOIA_OK)
    assert first.state == "success", first.tasks
    member_client(iam_endpoint, prod).delete_user(UserName="p2.prod")
    second = dag_runs(**conf, sekoia_conn_id=SEKOIA_OK)
    assert second.state == "success", second.tasks
    # A new Dev user, and Sekoia refuses the key: Dev's sekoia state stays, the rest commits.
    member_client(iam_endpoint, dev).create_user(UserName="d2.dev")
    third = dag_runs(**conf, sekoia_conn_id=SEKOIA_BAD)
    assert third.state == "failed", third.tasks

    from tests.support.airflow_compat import DagRun, create_session

    with create_session() as session:
        run_ids = [
            r.run_id
            for r in session.query(DagRun)
            .filter(DagRun.dag_id == DAG_ID)
            .order_by(DagRun.run_after.desc())
            .limit(3)
        ][::-1]
    first_id, second_id, third_id = run_ids

    response = client.get("/inventory.json", headers=viewer)
    assert response.status_code == 200, response.text
    page = response.json()
    rows = rows_of(page)
    accounts = {MANAGEMENT, prod, dev}
    assert set(rows) == {(a, s) for a in accounts for s in ("file", "sekoia")}

    held = {key: r["users_held"] for key, r in rows.items()}
    assert held == {
        (MANAGEMENT, "file"): 1, (MANAGEMENT, "sekoia"): 1,
        (prod, "file"): 1, (prod, "sekoia"): 1,
        (dev, "file"): 2, (dev, "sekoia"): 1,
    }  # fmt: skip
    tombstones = {key: r["tombstones_7d"] for key, r in rows.items()}
    assert tombstones == {key: (1 if key[0] == prod else 0) for key in rows}
    assert all(r["incomplete_users"] == 0 for r in rows.values())

    failing = rows[dev, "sekoia"]
    assert failing["status"] == "failing"
    assert failing["last_success"]["run_id"] == second_id
    assert failing["last_failure"]["run_id"] == third_id
    assert failing["last_failure"]["reason"] == "not delivered: 0 of 1 batches accepted"
    assert failing["last_failure"]["task_url"].endswith("/tasks/push_to_sekoia/mapped")
    for key, row in rows.items():
        if key != (dev, "sekoia"):
            assert row["status"] == "ok", (key, row)
            # the failed third run still delivered these (nothing to send, or the file sink)
            assert row["last_success"]["run_id"] == third_id, (key, row)
            assert row["checkpoint"] is not None
    quoted = third_id.replace(":", "%3A").replace("+", "%2B")
    assert rows[dev, "file"]["last_success"]["url"] == f"/dags/{DAG_ID}/runs/{quoted}"
    assert first_id != second_id

    html = client.get("/", headers=viewer).text
    for account in accounts:
        assert f'data-account="{account}"' in html
    assert "not delivered: 0 of 1 batches accepted" in html
    # counts and times only: no user name, user ARN or user id
    for text in (html, response.text):
        for name in ("mgmt.admin", "p1.prod", "p2.prod", "d1.dev", "d2.dev", ":user/", "AIDA"):
            assert name not in text


def test_the_sink_asset_events_carry_per_account_counts(organisation, dag_runs):
    done = dag_runs(accounts="organization", strategy="bulk")
    assert done.state == "success", done.tasks
    from airflow.models.asset import AssetEvent

    from tests.support.airflow_compat import create_session

    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .filter(AssetEvent.source_dag_id == DAG_ID, AssetEvent.source_task_id == "write_files")
            .order_by(AssetEvent.id.desc())
            .limit(1)  # the three small accounts share one batch: one write_files instance
            .all()
        )
        extras = [e.extra for e in events]
    per_account = {}
    for extra in extras:
        assert extra["sink"] == "file"
        per_account.update(extra["accounts"])
    assert per_account == {
        MANAGEMENT: {"events": 1, "tombstones": 0},
        organisation["Prod"]: {"events": 2, "tombstones": 0},
        organisation["Dev"]: {"events": 1, "tombstones": 0},
    }


# -- scale ------------------------------------------------------------------------------------


@pytest.fixture
def thousand_accounts(airflow_home):
    """1,000 accounts x 2 sinks of state under connection ``aws_scale``, written with the state
    module's own encoder (5 users each, one of them incomplete); removed afterwards."""
    from datetime import UTC, datetime

    from airflow_provider_awsiam_ocsf.state import HeldUser, SinkState
    from airflow_provider_awsiam_ocsf.state_store import state_key
    from tests.support.airflow_compat import Variable, create_session

    checkpoint = datetime.now(UTC).replace(microsecond=0)
    keys = []
    with create_session() as session:
        for n in range(1000):
            account = f"{100000000000 + n}"
            users = {
                f"AIDA{n:08d}{u:05d}": HeldUser("0123456789ab", u != 0, f"user{u}").encode()
                for u in range(5)
            }
            state = SinkState(checkpoint=checkpoint, account=account, users=users)
            for sink in ("file", "sekoia"):
                key = state_key(DAG_ID, "aws_scale", account, sink)
                session.add(Variable(key=key, val=state.to_json()))
                keys.append(key)
    yield keys
    with create_session() as session:
        session.query(Variable).filter(Variable.key.in_(keys)).delete(synchronize_session=False)


def test_a_thousand_accounts_are_read_in_one_query(thousand_accounts, client, viewer):
    from airflow import settings
    from sqlalchemy import event

    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(settings.engine, "before_cursor_execute", count)
    try:
        started = time.monotonic()
        response = client.get("/inventory.json", headers=viewer)
        elapsed = time.monotonic() - started
    finally:
        event.remove(settings.engine, "before_cursor_execute", count)
    assert response.status_code == 200, response.text
    rows = rows_of(response.json(), "aws_scale")
    assert len(rows) == 2000
    assert {r["users_held"] for r in rows.values()} == {5}
    assert {r["incomplete_users"] for r in rows.values()} == {1}
    variable_reads = [s for s in statements if "FROM variable" in s]
    assert len(variable_reads) == 1, variable_reads
    print(f"1,000 accounts x 2 sinks: {elapsed:.2f} s, {len(statements)} SQL statements")
    assert elapsed < 20, f"{elapsed:.1f} s for 1,000 accounts"


# -- registration -----------------------------------------------------------------------------


@pytest.mark.parametrize("lazy", ["True", "False"])
def test_airflow_plugins_lists_the_page_once(airflow_home, lazy):
    """Whether Airflow discovers providers lazily (its default) or not, the plugin loads once:
    through the ``airflow.plugins`` entry point, or through ``get_provider_info``."""
    import airflow

    env = {**os.environ, "AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS": lazy}
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "plugins", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # 3.0 prints log lines (starting with "[<time>]") before the JSON
    (listing,) = [line for line in result.stdout.splitlines() if line.startswith(("[{", "[]"))]
    plugins = json.loads(listing)
    ours = [p for p in plugins if p["name"] == "awsiam_ocsf_inventory"]
    assert len(ours) == 1, plugins
    (plugin,) = ours
    assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == ["/iam-inventory"]
    if airflow.__version__.startswith("3.0."):
        # A menu link needs the FAB provider on 3.0 (else the api-server refuses to start, as
        # tests/e2e/test_web_ui.py proves on 3.0.6): the suite installs none, so no link.
        from importlib.util import find_spec

        assert find_spec("airflow.providers.fab") is None
        assert not plugin["appbuilder_menu_items"]
    else:
        assert [v["url_route"] for v in plugin["external_views"]] == ["iam-inventory"]
        assert not plugin["appbuilder_menu_items"]


def test_identity_center_users_have_their_own_row(iam, iam_endpoint, dag_runs, client, viewer):
    from devtools.demo_org import DEMO_ACCOUNT, seed_demo_identity_center

    add_users(iam, ["iam.only"])
    seed_demo_identity_center(iam_endpoint)
    run = dag_runs(identities=["iam_users", "identity_center"], strategy="bulk")
    assert run.state == "success", run.tasks

    page = client.get("/inventory.json", headers=viewer).json()
    (center,) = rows_of(page, identities="identity_center").values()
    assert (center["account"], center["sink"], center["users_held"]) == (DEMO_ACCOUNT, "file", 4)
    assert center["status"] == "ok"
    assert center["last_success"]["task_url"].endswith("/tasks/inventory_identity_center")
    assert rows_of(page)[DEMO_ACCOUNT, "file"]["users_held"] == 1  # iam.only, apart
    html = client.get("/", headers=viewer).text
    assert 'data-identities="identity_center"' in html and "Identity Center</span>" in html
