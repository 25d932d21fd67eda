"""Bad or unusual input: refused before it can do harm, or carried through intact."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from airflow_provider_awsiam_ocsf.inventory import IamUser
from airflow_provider_awsiam_ocsf.links.aws_console import IamUsersConsoleLink
from airflow_provider_awsiam_ocsf.ocsf import to_ocsf_deleted_user, to_ocsf_user_inventory
from devtools.local import aws_connection_json
from tests.support.dag_runs import DAG_ID, run_sample_dag, sample_dag, sink_state
from tests.support.iam_world import add_users
from tests.support.throttling_proxy import ThrottlingProxy

# Every Param, each given a value out of its range or of the wrong type.
BAD_CONF = [
    {"aws_conn_id": ""},
    {"aws_conn_id": 5},
    {"accounts": "everyone"},
    {"accounts": ["12345"]},
    {"accounts": ["1234567890123"]},
    {"accounts": []},
    {"accounts": ["123456789012", "123456789012"]},
    {"member_role_name": "role name with spaces"},
    {"member_role_name": ""},
    {"accounts_per_task": 0},
    {"accounts_per_task": 1001},
    {"accounts_per_task": "25"},
    {"account_concurrency": 0},
    {"account_concurrency": 65},
    {"account_concurrency": 2.5},
    {"strategy": "fast"},
    {"strategy": None},
    {"mode": "everything"},
    {"batch_size": 0},
    {"batch_size": 9},
    {"batch_size": 10001},
    {"batch_size": "500"},
    {"batch_size": 12.5},
    {"sinks": []},
    {"sinks": ["email"]},
    {"sinks": ["file", "file"]},
    {"sinks": "file"},
    {"output_uri": "/no/scheme"},
    {"output_uri": 5},
    {"sekoia_conn_id": ""},
    {"access_key_ids": "yes"},
    {"settle_seconds": -1},
    {"settle_seconds": 3601},
    {"identities": []},
    {"identities": ["admins"]},
    {"identities": ["root", "root"]},
    {"identities": "root"},
    {"identity_center_region": "Frankfurt"},
    {"identity_center_region": 5},
]


def dag_run_count() -> int:
    from tests.support.airflow_compat import DagRun, create_session

    with create_session() as session:
        return session.query(DagRun).filter_by(dag_id=DAG_ID).count()


def test_every_param_out_of_range_or_of_the_wrong_type_is_refused_before_any_task(
    iam, airflow_home, tmp_path, fault
):
    from airflow.providers.common.compat.sdk import ParamValidationError

    add_users(iam, ["someone"])
    before = dag_run_count()
    refused = []
    for bad in BAD_CONF:
        conf = {"output_uri": f"file://{tmp_path}/out", **bad}
        with pytest.raises(ParamValidationError) as excinfo:
            run_sample_dag(conf)
        (name,) = bad
        assert name in str(excinfo.value), (bad, str(excinfo.value))
        refused.append(name)
    assert dag_run_count() == before  # no run was created, so no task ran
    assert not (tmp_path / "out").exists() and sink_state() is None
    assert set(refused) == set(sample_dag().params)  # every Param was tried
    fault.record(
        "Bad input: Params out of range or of the wrong type",
        did=f"{len(BAD_CONF)} run confs, every Param at least once",
        lost=0,
        duplicates=0,
        recovery="each refused before a run was created, naming the Param",
    )


# 64 characters, every symbol IAM allows in a user name.
LONG_NAME = ("a+b=c,d.e@f_g-h" * 5)[:63] + "Z"
TAGS = {"Équipe": "Sécurité opérationnelle", "site": "東京 Zürich", "plain": "ascii"}


def test_long_names_with_every_allowed_symbol_and_non_ascii_tags_arrive_intact(
    iam, dag_runs, tmp_path, ocsf_validator, fault
):
    assert len(LONG_NAME) == 64
    iam.create_user(UserName=LONG_NAME, Path="/dept.x/team-1/")
    iam.tag_user(UserName=LONG_NAME, Tags=[{"Key": k, "Value": v} for k, v in TAGS.items()])
    add_users(iam, ["plain.user"])
    for strategy in ("bulk", "per_user"):
        run = dag_runs(strategy=strategy, mode="full")
        assert run.state == "success"
        (event,) = [e for e in run.events if e["user"]["name"] == LONG_NAME]
        ocsf_validator(event)
        assert event["user"]["uid"].endswith(f":user/dept.x/team-1/{LONG_NAME}")
        if strategy == "bulk":  # ListUsers, which per_user reads, carries no tags
            tags = {t["name"]: t["value"] for t in event["user"]["ldap_person"]["tags"]}
            assert tags == TAGS
    raw = b"".join(p.read_bytes() for p in tmp_path.rglob("*.ndjson"))
    assert "東京 Zürich".encode() in raw and LONG_NAME.encode() in raw  # the characters, UTF-8
    fault.record(
        "Bad input: 64-character names with +=,.@_- and non-ASCII tags",
        did="a user named with every allowed symbol, on a path, tagged in French and Japanese",
        lost=0,
        duplicates=0,
        recovery="delivered intact by both strategies (UTF-8 in the files)",
    )


EMPTY_LISTS = re.compile(
    rb"<(GroupList|Tags|AttachedManagedPolicies|UserPolicyList)\s*/>"
    rb"|<(GroupList|Tags|AttachedManagedPolicies|UserPolicyList)>\s*</\2>"
)


def test_iam_answers_with_unknown_fields_and_without_optional_ones_are_read_alike(
    iam, iam_endpoint, dag_runs, monkeypatch, fault
):
    add_users(iam, [f"user{i}" for i in range(12)])
    expected = {e["user"]["uid"]: e["user"] for e in dag_runs(strategy="bulk").events}
    assert len(expected) == 12

    edits = {"removed": 0, "added": 0}

    def reshape(payload: bytes) -> bytes:
        payload, removed = EMPTY_LISTS.subn(b"", payload)
        payload, added = re.subn(
            rb"(<UserName>[^<]*</UserName>)",
            rb"\1<SignInMethods><member>passkey</member></SignInMethods><Risk>low</Risk>",
            payload,
        )
        edits["removed"] += removed
        edits["added"] += added
        return payload

    proxy = ThrottlingProxy(iam_endpoint)
    try:
        proxy.rewrite("GetAccountAuthorizationDetails", reshape)
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_json(proxy.url))
        run = dag_runs(strategy="bulk", mode="full")
    finally:
        proxy.stop()
    assert edits["removed"] >= 12 * 3 and edits["added"] >= 12  # the answers were reshaped
    assert run.state == "success"
    assert {e["user"]["uid"]: e["user"] for e in run.events} == expected
    fault.record(
        "Bad input: IAM answers with unknown fields, without optional ones",
        did="GetAccountAuthorizationDetails answers given unknown elements and stripped of "
        "empty lists",
        lost=0,
        duplicates=0,
        recovery="the same users with the same facts as from the untouched answers",
    )


def test_arns_of_an_unknown_partition_are_mapped_like_any_other(ocsf_validator, fault):
    arn = "arn:aws-iso-z:iam::210987654321:user/ops/jane"
    user = IamUser(
        name="jane",
        user_id="AIDAEXAMPLE",
        arn=arn,
        created=datetime(2026, 1, 2, tzinfo=UTC),
        groups=[],
        grants_admin=False,
    )
    event = to_ocsf_user_inventory(user).as_dict()
    ocsf_validator(event)
    assert event["user"]["uid"] == arn and event["user"]["org"]["uid"] == "210987654321"
    tombstone = to_ocsf_deleted_user(
        name="jane", arn=arn, user_id="AIDAEXAMPLE", deleted_at=datetime(2026, 2, 1, tzinfo=UTC)
    ).as_dict()
    ocsf_validator(tombstone)
    assert tombstone["user"]["org"]["uid"] == "210987654321"
    assert IamUsersConsoleLink.url_for("aws-iso-z").startswith("https://console.aws.amazon.com/")
    fault.record(
        "Bad input: an ARN of a partition unknown to the code",
        did="a user and its deletion in arn:aws-iso-z:…",
        lost=0,
        duplicates=0,
        recovery="events built and valid, account id read; the console link falls back to the "
        "commercial console",
    )
