"""The OCSF mapping and the admin rule: pure functions of literal data, no AWS, no Airflow."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_provider_awsiam_ocsf import __version__
from airflow_provider_awsiam_ocsf.arn import account_id_of, parse_arn
from airflow_provider_awsiam_ocsf.credential_report import parse_credential_report
from airflow_provider_awsiam_ocsf.inventory import (
    GroupFacts,
    IamUser,
    catalog_from_authorization_details,
    user_from_authorization_detail,
)
from airflow_provider_awsiam_ocsf.ocsf import to_ocsf_user_inventory
from airflow_provider_awsiam_ocsf.policies import document_grants_admin
from tests.data.credential_report import CREDENTIAL_REPORT

ACCOUNT = "123456789012"
CREATED = datetime(2024, 5, 17, 9, 30, 15, tzinfo=UTC)
STAR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
NOTES = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}


def user(name="alice", partition="aws", **facts) -> IamUser:
    facts.setdefault("groups", [])
    facts.setdefault("grants_admin", False)
    return IamUser(
        name=name,
        user_id="AIDAEXAMPLE",
        created=CREATED,
        arn=f"arn:{partition}:iam::{ACCOUNT}:user/{name}",
        **facts,
    )


def group(name, admin=False, policies=("ReadOnlyAccess",)) -> GroupFacts:
    return GroupFacts(
        name=name,
        arn=f"arn:aws:iam::{ACCOUNT}:group/{name}",
        policy_names=list(policies),
        grants_admin=admin,
    )


def event(u: IamUser) -> dict:
    return to_ocsf_user_inventory(u).as_dict()


def test_every_row_of_the_mapping_table(ocsf_validator):
    e = event(
        user(groups=[group("Devs", policies=["PowerUserAccess", "ReadOnlyAccess"])], has_mfa=True)
    )
    ocsf_validator(e)
    assert (e["activity_id"], e["activity_name"]) == (2, "Collect")
    assert (e["category_uid"], e["category_name"]) == (5, "Discovery")
    assert (e["class_uid"], e["class_name"]) == (5003, "User Inventory Info")
    assert (e["type_uid"], e["type_name"]) == (500302, "User Inventory Info: Collect")
    assert (e["severity_id"], e["severity"]) == (1, "Informational")
    assert e["time"] == int(CREATED.timestamp()) * 1000
    assert e["metadata"] == {
        "product": {"name": "AWS IAM Asset Connector", "version": __version__},
        "version": "1.6.0",
    }
    arn = f"arn:aws:iam::{ACCOUNT}:user/alice"
    u = e["user"]
    assert (u["name"], u["uid"], u["uid_alt"]) == ("alice", arn, "AIDAEXAMPLE")
    assert u["account"] == {"name": "alice", "uid": arn, "type": "AWS Account", "type_id": 10}
    assert u["groups"] == [
        {
            "name": "Devs",
            "uid": f"arn:aws:iam::{ACCOUNT}:group/Devs",
            "privileges": ["PowerUserAccess", "ReadOnlyAccess"],
        }
    ]
    assert u["has_mfa"] is True
    assert u["org"] == {"uid": ACCOUNT, "name": f"AWS Account {ACCOUNT}"}
    assert (u["type"], u["type_id"]) == ("User", 1)


def test_user_admin_through_a_group_is_admin():
    e = event(user(groups=[group("Devs"), group("Admins", admin=True)]))
    assert (e["user"]["type"], e["user"]["type_id"]) == ("Admin", 2)


def test_user_with_own_admin_policy_is_admin():
    assert event(user(grants_admin=True))["user"]["type_id"] == 2


def test_user_with_no_groups_has_an_empty_group_list(ocsf_validator):
    e = event(user(groups=[]))
    ocsf_validator(e)
    assert e["user"]["groups"] == []
    assert e["user"]["type"] == "User"


def test_facts_that_could_not_be_read_are_left_out_not_guessed(ocsf_validator):
    e = event(user(groups=None, grants_admin=None, has_mfa=None))
    ocsf_validator(e)
    assert {"groups", "has_mfa", "type", "type_id"}.isdisjoint(e["user"])


def test_unknown_group_policies_leave_admin_undecided_unless_other_evidence():
    unknown = GroupFacts(name="Opaque", arn=f"arn:aws:iam::{ACCOUNT}:group/Opaque")
    assert "type" not in event(user(groups=[unknown]))["user"]
    assert "privileges" not in event(user(groups=[unknown]))["user"]["groups"][0]
    assert event(user(groups=[unknown], grants_admin=True))["user"]["type"] == "Admin"


@pytest.mark.parametrize("partition", ["aws", "aws-us-gov", "aws-cn"])
def test_org_is_parsed_from_arns_of_every_partition(partition, ocsf_validator):
    e = event(user(partition=partition))
    ocsf_validator(e)
    assert e["user"]["org"] == {"uid": ACCOUNT, "name": f"AWS Account {ACCOUNT}"}


@pytest.mark.parametrize("odd", ["not-an-arn", "arn:aws:iam::user/x", "arn:aws:iam::aws:policy/X"])
def test_odd_arn_leaves_org_out_but_keeps_the_user(odd, ocsf_validator):
    u = IamUser(name="odd", user_id="", arn=odd, created=CREATED, groups=[], grants_admin=False)
    e = event(u)
    ocsf_validator(e)
    assert "org" not in e["user"] and "uid_alt" not in e["user"]
    assert e["user"]["uid"] == odd


def test_naive_create_date_is_taken_as_utc():
    u = user()
    naive = IamUser(**{**u.model_dump(), "created": CREATED.replace(tzinfo=None)})
    assert event(naive)["time"] == event(u)["time"]


def test_parse_arn_keeps_slashes_and_colons_of_the_resource():
    arn = parse_arn("arn:aws-cn:iam::123456789012:user/path/with:colon")
    assert (arn.partition, arn.account_id, arn.resource) == (
        "aws-cn",
        ACCOUNT,
        "user/path/with:colon",
    )
    assert account_id_of("arn:aws:iam::aws:policy/AdministratorAccess") is None


# --- the admin rule --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Action": "*:*", "Resource": "*"},
        {"Effect": "Allow", "Action": ["s3:*", "*"], "Resource": ["arn:aws:s3:::b", "*"]},
    ],
)
def test_statement_allowing_everything_is_admin(statement):
    assert document_grants_admin({"Statement": [statement]})
    assert document_grants_admin({"Statement": statement})  # a lone statement, not a list


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::bucket/*"},
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
    ],
)
def test_narrower_statements_are_not_admin(statement):
    assert not document_grants_admin({"Statement": [statement]})


def test_url_encoded_documents_are_read():
    assert document_grants_admin(
        "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C"
        "%22Action%22%3A%22%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D"
    )


def authorization_details(user_detail: dict, groups=(), policies=()) -> list[dict]:
    return [
        {
            "UserDetailList": [user_detail],
            "GroupDetailList": list(groups),
            "Policies": list(policies),
        }
    ]


def detail(name="u", groups=(), attached=(), inline=()) -> dict:
    return {
        "UserName": name,
        "UserId": "AIDA" + name,
        "Arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "CreateDate": CREATED,
        "GroupList": list(groups),
        "AttachedManagedPolicies": [
            {"PolicyName": a.rsplit("/", 1)[-1], "PolicyArn": a} for a in attached
        ],
        "UserPolicyList": [
            {"PolicyName": f"p{i}", "PolicyDocument": d} for i, d in enumerate(inline)
        ],
    }


def group_detail(name, attached=(), inline=()) -> dict:
    return {
        "GroupName": name,
        "Arn": f"arn:aws:iam::{ACCOUNT}:group/{name}",
        "AttachedManagedPolicies": [
            {"PolicyName": a.rsplit("/", 1)[-1], "PolicyArn": a} for a in attached
        ],
        "GroupPolicyList": [
            {"PolicyName": f"g{i}", "PolicyDocument": d} for i, d in enumerate(inline)
        ],
    }


def customer_policy(name, document) -> dict:
    return {
        "PolicyName": name,
        "Arn": f"arn:aws:iam::{ACCOUNT}:policy/{name}",
        "PolicyVersionList": [
            {"Document": {"Statement": []}, "IsDefaultVersion": False},
            {"Document": document, "IsDefaultVersion": True},
        ],
    }


def is_admin_from_details(user_detail, groups=(), policies=()) -> bool | None:
    pages = authorization_details(user_detail, groups, policies)
    catalog = catalog_from_authorization_details(pages)
    return user_from_authorization_detail(user_detail, catalog).is_admin


@pytest.mark.parametrize("partition", ["aws", "aws-us-gov", "aws-cn"])
def test_administrator_access_through_a_group_is_admin(partition):
    admin = f"arn:{partition}:iam::aws:policy/AdministratorAccess"
    assert is_admin_from_details(detail(groups=["Admins"]), [group_detail("Admins", [admin])])


def test_administrator_access_attached_directly_is_admin():
    assert is_admin_from_details(detail(attached=["arn:aws:iam::aws:policy/AdministratorAccess"]))


def test_inline_star_policy_on_the_user_is_admin():
    assert is_admin_from_details(detail(inline=[STAR]))


def test_inline_star_policy_on_a_group_is_admin():
    assert is_admin_from_details(
        detail(groups=["BreakGlass"]), [group_detail("BreakGlass", inline=[STAR])]
    )


def test_customer_managed_star_policy_is_admin_only_in_its_default_version():
    policy = customer_policy("PlatformFullControl", STAR)
    assert is_admin_from_details(detail(attached=[policy["Arn"]]), policies=[policy])
    old_star = {
        **policy,
        "PolicyVersionList": [
            {"Document": STAR, "IsDefaultVersion": False},
            {"Document": NOTES, "IsDefaultVersion": True},
        ],
    }
    assert is_admin_from_details(detail(attached=[policy["Arn"]]), policies=[old_star]) is False


def test_a_policy_merely_named_like_admin_is_not_admin():
    policy = customer_policy("ReadOnlyAdminNotes", NOTES)
    assert (
        is_admin_from_details(
            detail(groups=["Finance"], attached=[policy["Arn"]]),
            [group_detail("Finance", [policy["Arn"]])],
            [policy],
        )
        is False
    )


def test_credential_report_gives_mfa_per_user_and_skips_the_root_row():
    report = parse_credential_report(CREDENTIAL_REPORT)
    assert "<root_account>" not in report.rows
    assert {name: row.user_facts()["has_mfa"] for name, row in report.rows.items()} == {
        "alice.keys": True,
        "bob.console": False,
        "carol.ci": False,
        "erin.idle": False,
        "dave": False,
    }
