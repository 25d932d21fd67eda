"""Organisation mode end to end: the sample DAG over every account of an AWS Organization (real
Airflow with dag.test, moto's IAM, STS and Organizations over HTTP)."""

from __future__ import annotations

import json
import math

import pytest

from devtools.local import aws_connection_json
from tests.support.dag_runs import forget_state, sink_state
from tests.support.org_world import (
    MANAGEMENT,
    client,
    create_organization,
    create_reader_role,
    member_client,
    moto_server_process,
    set_enforcement,
)


@pytest.fixture
def runs(dag_runs):
    """Runs the sample DAG into a fresh folder each time; returns (state, tasks, summary,
    events)."""
    return dag_runs


def org_of(events) -> dict[str, set[str]]:
    accounts: dict[str, set[str]] = {}
    for event in events:
        accounts.setdefault(event["user"]["org"]["uid"], set()).add(event["user"]["name"])
    return accounts


@pytest.fixture
def organisation(iam, iam_endpoint):
    """Management 123456789012 with one user; members Prod, Dev (two users each) and Old
    (SUSPENDED, one user); ids by name."""
    ids = create_organization(iam_endpoint, ["Prod", "Dev", "Old"])
    iam.create_user(UserName="mgmt.admin")
    for name, users in {"Prod": ["p1", "p2"], "Dev": ["d1", "d2"], "Old": ["o1"]}.items():
        member = member_client(iam_endpoint, ids[name])
        for user in users:
            member.create_user(UserName=f"{user}.{name.lower()}")
    client(iam_endpoint, "organizations").close_account(AccountId=ids["Old"])
    return ids


def test_organization_reads_every_active_account_once(organisation, runs):
    ids = organisation
    state, tasks, summary, events = runs(accounts="organization", strategy="bulk")
    assert state == "success", tasks
    assert org_of(events) == {
        MANAGEMENT: {"mgmt.admin"},
        ids["Prod"]: {"p1.prod", "p2.prod"},
        ids["Dev"]: {"d1.dev", "d2.dev"},
    }
    assert summary["accounts_read"] == 3 and summary["accounts_failed"] == 0
    assert any(s.startswith(ids["Old"]) and "SUSPENDED" in s for s in summary["accounts_skipped"])
    # Three small accounts: one listing instance, one batch shared by all three.
    assert tasks["list_users"] == ["success"]
    assert tasks["enrich_users"] == tasks["write_files"] == ["success"]
    for account in (MANAGEMENT, ids["Prod"], ids["Dev"]):
        assert sink_state(account=account)["account"] == account
    state, _, summary, again = runs(accounts="organization", strategy="bulk")
    assert state == "success" and again == []


def test_a_list_of_ids_reads_only_those(organisation, runs, tmp_path):
    ids = organisation
    state, _, summary, events = runs(accounts=[ids["Dev"]], strategy="per_user")
    assert state == "success"
    assert org_of(events) == {ids["Dev"]: {"d1.dev", "d2.dev"}}
    folders = {p.name for p in (tmp_path / "run1").iterdir()}
    assert folders == {f"account={ids['Dev']}"}
    assert list(summary["accounts"]) == [ids["Dev"]]


def latest_labels(task_id: str, limit: int) -> set[str]:
    from tests.support.airflow_compat import TaskInstance, create_session

    with create_session() as session:
        return {
            ti.rendered_map_index
            for ti in session.query(TaskInstance)
            .filter_by(task_id=task_id)
            .order_by(TaskInstance.start_date.desc())
            .limit(limit)
        }


def test_mapped_instances_are_labelled_by_the_accounts_they_hold(organisation, runs):
    ids = organisation
    # Accounts are numbered in id order: the management account 123456789012 first.
    names = {MANAGEMENT: "master", ids["Prod"]: "Prod", ids["Dev"]: "Dev"}
    first, second, last = sorted(names)
    assert runs(accounts="organization", strategy="bulk", accounts_per_task=2)[0] == "success"
    assert latest_labels("list_users", 2) == {
        f"accounts 1–2 · {names[first]} … {names[second]}",
        f"{last} · {names[last]}",
    }
    assert latest_labels("enrich_users", 1) == {
        f"accounts 1–3 · {names[first]} … {names[last]} · 5 users"
    }
    forget_state()
    assert runs(accounts=[ids["Prod"]], strategy="bulk")[0] == "success"
    assert latest_labels("list_users", 1) == {f"account {ids['Prod']}"}
    assert latest_labels("enrich_users", 1) == {f"{ids['Prod']} · users 1–2"}


@pytest.fixture
def denied_world(monkeypatch):
    """A moto server of its own with IAM enforcement: an organisation whose Prod member denies
    the inventory principal AssumeRole (an explicit Deny), Dev allows it. Yields (endpoint, ids,
    lift) where lift() removes the Deny."""
    with moto_server_process() as endpoint:
        ids = create_organization(endpoint, ["Prod", "Dev"])
        for account in ids.values():
            create_reader_role(endpoint, account)
            member_client(endpoint, account).create_user(UserName=f"user.{account}")
        iam = client(endpoint, "iam")
        iam.create_user(UserName="inventory")
        key = iam.create_access_key(UserName="inventory")["AccessKey"]
        prod_role = f"arn:aws:iam::{ids['Prod']}:role/iam-inventory-reader"

        def policy(deny: bool) -> None:
            statements = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
            if deny:
                statements.append(
                    {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": prod_role}
                )
            iam.put_user_policy(
                UserName="inventory",
                PolicyName="inventory",
                PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
            )

        policy(deny=True)
        conn = json.loads(aws_connection_json(endpoint, retries={"max_attempts": 1}))
        conn.update(login=key["AccessKeyId"], password=key["SecretAccessKey"])
        monkeypatch.setenv("AIRFLOW_CONN_AWS_ORG", json.dumps(conn))
        set_enforcement(endpoint, on=True)

        def lift(deny: bool = False) -> None:
            set_enforcement(endpoint, on=False)
            policy(deny=deny)
            set_enforcement(endpoint, on=True)

        try:
            yield endpoint, ids, lift
        finally:
            set_enforcement(endpoint, on=False)


def test_a_denied_member_fails_only_its_branch_and_catches_up(denied_world, runs, fault):
    _, ids, lift = denied_world
    conf = {"accounts": [ids["Prod"], ids["Dev"]], "aws_conn_id": "aws_org", "strategy": "bulk"}
    forget_state("aws_org")
    state, tasks, summary, events = runs(**conf)
    assert state == "failed"
    # One listing instance holds both: it hands on Dev, then fails naming Prod (red in the grid).
    assert tasks["list_users"] == ["failed"]
    assert org_of(events) == {ids["Dev"]: {f"user.{ids['Dev']}"}}
    prod = summary["accounts"][ids["Prod"]]
    assert "AccessDenied" in prod["error"]
    assert ids["Prod"] in prod["error"] and "iam-inventory-reader" in prod["error"]
    assert sink_state(aws_conn_id="aws_org", account=ids["Prod"]) is None
    assert sink_state(aws_conn_id="aws_org", account=ids["Dev"]) is not None

    lift()
    state, _, summary, events = runs(**conf)
    assert state == "success"
    assert org_of(events) == {ids["Prod"]: {f"user.{ids['Prod']}"}}  # Dev has nothing new
    forget_state("aws_org")
    fault.record(
        "Organisation: a member account's role cannot be assumed",
        did="an explicit Deny on sts:AssumeRole for one of two member accounts, then lifted",
        lost=0,
        duplicates=0,
        recovery="that account's branch failed at once (no retry can fix a Deny), naming the "
        "account, role and AWS code; the other account delivered and committed; the next run "
        "delivered the denied one",
    )


def test_an_account_refused_mid_run_at_enrichment_fails_alone_in_its_shared_batch(
    denied_world, runs, monkeypatch
):
    """Prod's role is assumable while the accounts are listed, then refused (an explicit Deny)
    before the users are enriched (per_user reads each user): Prod and Dev share one batch."""
    from airflow_provider_awsiam_ocsf.operators.enrich_users import EnrichIamUsersOperator

    _, ids, lift = denied_world
    lift()  # Prod readable at listing
    enrich = EnrichIamUsersOperator.execute

    def deny_then_enrich(self, context):
        lift(deny=True)
        return enrich(self, context)

    monkeypatch.setattr(EnrichIamUsersOperator, "execute", deny_then_enrich)
    conf = {"accounts": [ids["Prod"], ids["Dev"]], "aws_conn_id": "aws_org", "strategy": "per_user"}
    forget_state("aws_org")
    state, tasks, summary, events = runs(**conf)
    assert state == "failed"
    assert tasks["list_users"] == tasks["enrich_users"] == ["success"]  # one shared batch, on
    assert tasks["commit_checkpoint"] == ["failed"]
    assert org_of(events) == {ids["Dev"]: {f"user.{ids['Dev']}"}}
    prod = summary["accounts"][ids["Prod"]]
    assert prod["error"].startswith("enrichment: ") and "AccessDenied" in prod["error"]
    assert "iam-inventory-reader" in prod["error"]  # names the role to fix
    assert sink_state(aws_conn_id="aws_org", account=ids["Prod"]) is None
    assert sink_state(aws_conn_id="aws_org", account=ids["Dev"]) is not None

    monkeypatch.setattr(EnrichIamUsersOperator, "execute", enrich)
    lift()
    state, _, summary, events = runs(**conf)
    assert state == "success"
    assert org_of(events) == {ids["Prod"]: {f"user.{ids['Prod']}"}}  # caught up; Dev had it
    forget_state("aws_org")


def test_an_account_whose_delivery_fails_in_a_shared_batch_fails_alone_and_catches_up(
    organisation, runs, tmp_path
):
    ids = organisation
    conf = {"accounts": [ids["Prod"], ids["Dev"]], "strategy": "bulk"}
    # A file where Prod's folder of the first run's output would be: only its part cannot be
    # written (the dag_runs fixture writes run N into tmp_path/runN).
    (tmp_path / "run1").mkdir()
    (tmp_path / "run1" / f"account={ids['Prod']}").write_text("not a folder")
    state, tasks, summary, events = runs(**conf)
    assert state == "failed"
    assert tasks["write_files"] == ["success"]  # the batch both share; Dev's part written
    assert org_of(events) == {ids["Dev"]: {"d1.dev", "d2.dev"}}
    assert summary["accounts"][ids["Prod"]]["error"].startswith("delivery to file: ")
    assert sink_state(account=ids["Prod"]) is None
    assert sink_state(account=ids["Dev"]) is not None

    state, _, _, events = runs(**conf)
    assert state == "success"
    assert org_of(events) == {ids["Prod"]: {"p1.prod", "p2.prod"}}


def test_task_instances_grow_with_users_not_accounts_and_max_map_length_caps_nothing(
    runs, monkeypatch
):
    """40 accounts of 2 users, 5 accounts per listing task, batches of 20, and a
    max_map_length of 4: fewer than the 40 accounts, or the 8 listing tasks at 5 a task.
    (A moto of its own, without AWS managed policies: loading them into 60 accounts is slow.)"""
    with moto_server_process(managed_policies=False) as endpoint:
        conn = json.loads(aws_connection_json(endpoint, retries={"max_attempts": 2}))
        monkeypatch.setenv("AIRFLOW_CONN_AWS_SCALE", json.dumps(conn))
        accounts = [str(300000000000 + n) for n in range(40)]
        for account in accounts:
            member = member_client(endpoint, account)
            for n in range(2):
                member.create_user(UserName=f"u{n}.{account}")
        monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "4")
        forget_state("aws_scale")
        state, tasks, summary, events = runs(
            accounts=accounts,
            aws_conn_id="aws_scale",
            strategy="bulk",
            accounts_per_task=5,
            batch_size=20,
        )
    assert state == "success", summary
    users = 40 * 2
    assert {a: len(u) for a, u in org_of(events).items()} == {a: 2 for a in accounts}
    assert len(tasks["list_users"]) == 4  # 10 accounts a task: 8 would pass max_map_length
    assert len(tasks["enrich_users"]) == math.ceil(users / 20)
    instances = sum(len(states) for states in tasks.values())  # skipped ones included
    assert instances <= 20 + 4 * math.ceil(users / 20) + math.ceil(40 / 5)
    assert all(sink_state(aws_conn_id="aws_scale", account=a) for a in accounts)
    forget_state("aws_scale")
