"""refresh_from_events: an event run from its triggering asset events to each sink, the asset
events stored while it was created or ran (apache/airflow#56050), and the sink assets it updates.

IAM is moto's; the state Variables are the state store's (proven on a real metadata DB by
tests/integration/test_event_runs.py): here, what the operator hands it."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from airflow.providers.common.compat.sdk import AirflowSkipException, Asset, AssetAlias

from airflow_provider_awsiam_ocsf.event_schedule import events_asset_name
from airflow_provider_awsiam_ocsf.operators import refresh_from_events as module
from airflow_provider_awsiam_ocsf.operators.refresh_from_events import RefreshFromEventsOperator
from airflow_provider_awsiam_ocsf.operators.write_files import run_folder
from airflow_provider_awsiam_ocsf.pipeline import DAG_ID, sink_assets
from airflow_provider_awsiam_ocsf.state import SinkState
from tests.data.cloudtrail_iam import ACCOUNT, cloudtrail
from tests.support.iam_world import add_users
from tests.support.task_context import RUN_AFTER, XComStore, task_context

WATCHED = Asset(name=events_asset_name(DAG_ID))


def refresher(**kwargs) -> RefreshFromEventsOperator:
    from airflow.providers.common.compat.sdk import DAG

    with DAG(DAG_ID, schedule=None):
        return RefreshFromEventsOperator(task_id="refresh_from_events", **kwargs)


def asset_event(*bodies: str, seconds: int = 0) -> SimpleNamespace:
    """An asset event of the watched queue as the task sees it (the SQS trigger's payload)."""
    return SimpleNamespace(
        timestamp=RUN_AFTER + timedelta(seconds=seconds),
        extra={
            "payload": {
                "message_batch": [{"MessageId": str(i), "Body": b} for i, b in enumerate(bodies)]
            }
        },
    )


class OutletEvents(dict):
    """``context["outlet_events"]``: what each alias was given, by alias name."""

    def __getitem__(self, alias):
        if alias.name not in self:
            added: list = []
            self[alias.name] = SimpleNamespace(
                added=added, add=lambda a, extra=None: added.append((a, extra))
            )
        return super().__getitem__(alias.name)


class ByAssetName(dict):
    """A mapping keyed by Asset, looked up by its name (Airflow 3.0's Asset is not hashable)."""

    def __getitem__(self, asset):
        return super().__getitem__(asset.name)

    def items(self):
        return [(SimpleNamespace(name=name), value) for name, value in super().items()]


def event_context(triggering: list, stored: list | None = None) -> dict:
    context = task_context(XComStore(), "refresh_from_events", run_type="asset_triggered")
    context["triggering_asset_events"] = ByAssetName({WATCHED.name: triggering})
    context["inlet_events"] = ByAssetName({WATCHED.name: list(triggering) + list(stored or [])})
    context["outlet_events"] = OutletEvents()
    return context


@pytest.fixture
def states(monkeypatch):
    saved: dict[tuple[str, str], SinkState] = {}
    monkeypatch.setattr(
        module,
        "load_sink_state",
        lambda dag, conn, account, sink: saved.get((account, sink)) or SinkState(),
    )
    monkeypatch.setattr(
        module,
        "save_sink_state",
        lambda dag, conn, account, sink, state: saved.__setitem__((account, sink), state),
    )
    return saved


def body(event_name: str, user: str) -> str:
    return json.dumps(cloudtrail(event_name, {"userName": user}))


def names(path) -> list[str]:
    return [json.loads(line)["user"]["name"] for line in path.read_text().splitlines()]


def test_template_fields_are_the_connections_and_the_runs_settings():
    assert set(RefreshFromEventsOperator.template_fields) >= {
        "aws_conn_id",
        "accounts",
        "sinks",
        "output_uri",
        "sekoia_conn_id",
        "access_key_ids",
        "identities",
    }


def test_skips_in_a_run_no_event_triggered():
    with pytest.raises(AirflowSkipException, match="not an event run"):
        refresher().execute(task_context(XComStore(), "refresh_from_events"))


def test_reads_the_named_users_and_writes_what_changed_as_the_runs_part(iam, states, tmp_path):
    add_users(iam, ["alice", "bob"])
    op = refresher(output_uri=f"file://{tmp_path}", inlets=[WATCHED])
    context = event_context([asset_event(body("CreateUser", "alice"), "not JSON")])
    summary = op.execute(context)
    folder = tmp_path / f"account={ACCOUNT}" / run_folder(context)
    assert names(folder / "part-00000.ndjson") == ["alice"]
    assert summary["line"] == "2 messages: 1 user read (1 changed); ignored 1 (1 not JSON)"
    assert "caught_up" not in summary
    assert set(states[(ACCOUNT, "file")].users) == {
        u["UserId"] for u in iam.list_users()["Users"] if u["UserName"] == "alice"
    }


def test_asset_events_stored_after_the_runs_own_are_read_in_the_same_run(iam, states, tmp_path):
    # apache/airflow#56050: such an event may wait for the next message; the run reads it now.
    add_users(iam, ["alice", "bob", "carol"])
    op = refresher(output_uri=f"file://{tmp_path}", inlets=[WATCHED])
    own = asset_event(body("CreateUser", "alice"))
    earlier = asset_event(body("CreateUser", "carol"), seconds=-60)  # consumed by an earlier run
    later = asset_event(body("AddUserToGroup", "bob"), body("CreateUser", "alice"), seconds=2)
    context = event_context([own], [earlier, later])
    summary = op.execute(context)
    folder = tmp_path / f"account={ACCOUNT}" / run_folder(context)
    assert names(folder / "part-00000.ndjson") == ["alice"]
    assert names(folder / "part-00001.ndjson") == ["bob"]  # alice again: unchanged, not sent
    assert summary["caught_up"] == {"asset_events": 1, "messages": 2}
    assert summary["line"] == (
        "1 message: 1 user read (1 changed); then, of 1 asset event stored meanwhile, "
        "2 messages: 2 users read (1 changed, 1 unchanged)"
    )
    assert summary["read"]["users"] == 3


def test_without_the_watched_asset_among_its_inlets_it_reads_only_its_own_events(
    iam, states, tmp_path
):
    add_users(iam, ["alice", "bob"])
    op = refresher(output_uri=f"file://{tmp_path}")
    context = event_context(
        [asset_event(body("CreateUser", "alice"))],
        [asset_event(body("CreateUser", "bob"), seconds=2)],
    )
    summary = op.execute(context)
    assert "caught_up" not in summary
    folder = tmp_path / f"account={ACCOUNT}" / run_folder(context)
    assert [p.name for p in folder.iterdir()] == ["part-00000.ndjson"]


def test_each_sink_delivered_to_gets_an_asset_event_of_its_asset_through_the_alias(
    iam, states, tmp_path
):
    add_users(iam, ["alice"])
    assets = sink_assets(DAG_ID)
    op = refresher(output_uri=f"file://{tmp_path}", sink_assets=assets)
    (alias,) = [o for o in op.outlets if isinstance(o, AssetAlias)]
    assert alias.name == f"{DAG_ID}_event_deliveries"

    context = event_context([asset_event(body("CreateUser", "alice"))])
    op.execute(context)
    ((asset, extra),) = context["outlet_events"][alias].added
    assert asset == assets["file"]  # not sekoia's: this run did not deliver there
    # Flat: Airflow 3.0 hashes an alias event's extra values (a nested dict fails there).
    assert extra == {"sink": "file", "account": ACCOUNT, "events": 1, "tombstones": 0}

    context = event_context([asset_event(body("UpdateUser", "alice"))])  # nothing changed
    op.execute(context)
    assert context["outlet_events"][alias].added == []
