"""Organisation mode, the AWS side: listing an organisation's accounts and reading each member
through its role, on moto's server over real HTTP (botocore's Stubber only for ListAccounts pages).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
import requests
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from airflow_provider_awsiam_ocsf.account_plan import split_active
from airflow_provider_awsiam_ocsf.arn import role_arn
from airflow_provider_awsiam_ocsf.errors import (
    MemberAccountUnreadableError,
    OrganizationAccountsUnreadableError,
)
from airflow_provider_awsiam_ocsf.hooks.iam import IamHook
from airflow_provider_awsiam_ocsf.hooks.organizations import OrganizationsHook
from tests.conftest import aws_connection_uri
from tests.support.aws_operations import assume_role_signers
from tests.support.org_world import (
    MANAGEMENT,
    READER_ROLE,
    client,
    create_organization,
    create_reader_role,
    member_client,
    moto_server_process,
    set_enforcement,
)

SESSION = "airflow-aws_iam_users_ocsf"
MEMBERS = ["Prod", "Staging", "Sandbox"]


def member_hook(account_id: str, conn_id: str = "aws_default") -> IamHook:
    """What a per-account task builds for another account than the connection's."""
    return IamHook(
        aws_conn_id=conn_id,
        member_role_arn=role_arn("aws", account_id, READER_ROLE),
        role_session_name=SESSION,
    )


def names(hook: IamHook) -> list[str]:
    return sorted(u["UserName"] for u in hook.iter_users())


@pytest.fixture(scope="module")
def org_world(iam_endpoint) -> Iterator[dict[str, str]]:
    """moto's shared server, emptied, holding an organisation: the management account (user
    ``mgmt.admin``) and three members created with ``create_account``, each with two users
    created through its role; ``Sandbox`` then closed. Yields member ids by name, and empties
    moto again afterwards.

    Built once for the module: creating member accounts loads their IAM (with AWS managed
    policies) and emptying moto reloads it, several seconds either way.
    """
    requests.post(f"{iam_endpoint}/moto-api/reset", timeout=30).raise_for_status()
    members = create_organization(iam_endpoint, MEMBERS)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_uri(iam_endpoint))
        for name, account in members.items():
            writer = member_hook(account).client  # the member's own IAM, through its role
            for user in member_users(name):
                writer.create_user(UserName=user)
    client(iam_endpoint, "iam").create_user(UserName="mgmt.admin")
    client(iam_endpoint, "organizations").close_account(AccountId=members["Sandbox"])
    yield members
    requests.post(f"{iam_endpoint}/moto-api/reset", timeout=30).raise_for_status()


@pytest.fixture
def org(org_world, iam_endpoint, monkeypatch) -> dict[str, str]:
    """The organisation, with the ``aws_default`` connection on moto (``testing`` keys)."""
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_uri(iam_endpoint))
    return org_world


def member_users(name: str) -> list[str]:
    return [f"{name.lower()}.alice", f"{name.lower()}.bob"]


# --- listing the organisation ------------------------------------------------------------------


def test_organization_lists_every_account_and_reads_only_active_ones(org):
    hook = OrganizationsHook(aws_conn_id="aws_default")
    accounts = hook.list_accounts()
    assert sorted(a["Id"] for a in accounts) == sorted([MANAGEMENT, *org.values()])
    active, skipped = split_active(accounts)
    # The management account is a member of its organisation: it is read too (with the
    # connection's own credentials).
    assert sorted(a["Id"] for a in active) == sorted([MANAGEMENT, org["Prod"], org["Staging"]])
    assert skipped == [{"Id": org["Sandbox"], "Name": "Sandbox", "State": "SUSPENDED"}]
    json.dumps(skipped)  # goes to XCom as is
    assert hook.calls == {"ListAccounts": 1}


def _account(account_id: str) -> dict:
    return {
        "Id": account_id,
        "Arn": f"arn:aws:organizations::{MANAGEMENT}:account/o-abcdefghij/{account_id}",
        "Email": f"{account_id}@example.com",
        "Name": f"n{account_id}",
        "State": "ACTIVE",
        "JoinedMethod": "CREATED",
        "JoinedTimestamp": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    }


def test_list_accounts_asks_pages_of_20_and_goes_on_past_an_empty_page(iam_endpoint, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_uri(iam_endpoint))
    hook = OrganizationsHook(aws_conn_id="aws_default")
    ids = ["111111111111", "222222222222", "333333333333"]
    with Stubber(hook.client) as stub:
        stub.add_response(
            "list_accounts",
            {"Accounts": [_account(ids[0])], "NextToken": "t1"},
            {"MaxResults": 20},
        )
        stub.add_response(
            "list_accounts",
            {"Accounts": [], "NextToken": "t2"},
            {"MaxResults": 20, "NextToken": "t1"},
        )
        stub.add_response(
            "list_accounts",
            {"Accounts": [_account(ids[1]), _account(ids[2])]},
            {"MaxResults": 20, "NextToken": "t2"},
        )
        accounts = hook.list_accounts()
        stub.assert_no_pending_responses()
    assert [a["Id"] for a in accounts] == ids
    assert hook.calls == {"ListAccounts": 3}


# --- reading the members -----------------------------------------------------------------------


def test_each_member_sees_only_its_own_users(org):
    for name, account in org.items():
        hook = member_hook(account)
        assert names(hook) == member_users(name)
        details = [
            u for page in hook.iter_authorization_details(["User"]) for u in page["UserDetailList"]
        ]
        assert sorted(u["UserName"] for u in details) == member_users(name)
        assert {u["Arn"].split(":")[4] for u in details} == {account}
    # The connection's own account holds none of theirs, and they none of its.
    assert names(IamHook(aws_conn_id="aws_default")) == ["mgmt.admin"]


def test_members_are_assumed_from_the_connections_keys_never_chained(org, iam_endpoint):
    first, second = member_hook(org["Prod"]), member_hook(org["Staging"])
    signers = {id(first): assume_role_signers(first), id(second): assume_role_signers(second)}
    assert names(first) == member_users("Prod")
    assert names(second) == member_users("Staging")  # member 2 read after member 1

    for hook, account in ((first, org["Prod"]), (second, org["Staging"])):
        assert signers[id(hook)] == ["testing"]  # the connection's login, never ASIA…
        assert hook.calls["AssumeRole"] == 1
        me = hook.get_session().client("sts", endpoint_url=iam_endpoint).get_caller_identity()
        assert me["Account"] == account
        assert me["Arn"] == f"arn:aws:sts::{account}:assumed-role/{READER_ROLE}/{SESSION}"
        assert hook.account_id == account  # AwsBaseHook's own view, through the member session

    # Near expiry the credentials are refreshed: re-assumed from the base session again.
    credentials = second.get_session().get_credentials()
    member_key = credentials.access_key
    credentials._expiry_time = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    assert names(second) == member_users("Staging")
    assert signers[id(second)] == ["testing", "testing"]
    assert second.calls["AssumeRole"] == 2
    assert credentials.access_key not in (member_key, "testing")


def test_assume_role_happens_on_the_first_call_and_once_per_hook(org):
    hook = member_hook(org["Prod"])
    signers = assume_role_signers(hook)
    hook.client  # noqa: B018  (building the client assumes nothing either)
    assert hook.calls == {} and signers == []
    names(hook)
    names(hook)
    assert list(hook.iter_groups()) == []
    assert hook.calls == {"AssumeRole": 1, "ListUsers": 2, "ListGroups": 1}


def test_the_connections_own_account_is_read_without_assume_role(org):
    hook = IamHook(aws_conn_id="aws_default")
    signers = assume_role_signers(hook)
    assert names(hook) == ["mgmt.admin"]
    assert hook.calls == {"ListUsers": 1} and signers == []


def test_caller_identity_is_the_connections_own_and_counted(org):
    hook = member_hook(org["Prod"])
    assert hook.account_id_of_caller == MANAGEMENT
    assert hook.caller_identity["Arn"] == f"arn:aws:sts::{MANAGEMENT}:user/moto"
    assert hook.account_id_of_caller == MANAGEMENT  # cached: one call
    assert hook.calls == {"GetCallerIdentity": 1}  # and no AssumeRole


def test_a_connection_that_assumes_its_own_role_assumes_members_from_that_role(
    org, iam_endpoint, monkeypatch
):
    conn = json.loads(aws_connection_uri(iam_endpoint))
    conn["extra"].update(
        role_arn=f"arn:aws:iam::{MANAGEMENT}:role/inventory-base",
        # AwsBaseHook assumes the connection's role on service_config.sts.endpoint_url only.
        service_config={"sts": {"endpoint_url": iam_endpoint}},
    )
    monkeypatch.setenv("AIRFLOW_CONN_AWS_HUB", json.dumps(conn))
    hook = member_hook(org["Prod"], conn_id="aws_hub")
    signers = assume_role_signers(hook)
    assert names(hook) == member_users("Prod")
    base_key = hook.base_session.get_credentials().access_key
    assert base_key != "testing"  # the connection's role, assumed by AwsBaseHook
    assert signers == [base_key]
    assert hook.account_id_of_caller == MANAGEMENT
    assert ":assumed-role/inventory-base/" in hook.caller_identity["Arn"]
    assert hook.account_id == org["Prod"]


def test_a_member_session_is_synchronous_only():
    hook = IamHook(member_role_arn=role_arn("aws", "222222222222", READER_ROLE))
    with pytest.raises(NotImplementedError):
        hook.get_session(deferrable=True)


# --- a member that cannot be read --------------------------------------------------------------

DENIED, READABLE = "222222222222", "111111111111"


@pytest.fixture(scope="module")
def enforced_world():
    """A moto server of its own (IAM enforcement is process-wide in moto) where the connection's
    user ``inventory`` may do anything but ``sts:AssumeRole`` on DENIED's reader role and
    ``organizations:ListAccounts``; both members have the role, READABLE a user. Yields the
    connection id and its access key id, with enforcement on."""
    with moto_server_process() as endpoint, pytest.MonkeyPatch.context() as env:
        iam = client(endpoint, "iam")
        iam.create_user(UserName="inventory")
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {
                    "Effect": "Deny",
                    "Action": "sts:AssumeRole",
                    "Resource": role_arn("aws", DENIED, READER_ROLE),
                },
                {"Effect": "Deny", "Action": "organizations:ListAccounts", "Resource": "*"},
            ],
        }
        iam.put_user_policy(
            UserName="inventory", PolicyName="inventory", PolicyDocument=json.dumps(policy)
        )
        key = iam.create_access_key(UserName="inventory")["AccessKey"]
        for account in (READABLE, DENIED):
            create_reader_role(endpoint, account)
        member_client(endpoint, READABLE).create_user(UserName="readable.alice")
        conn = json.loads(aws_connection_uri(endpoint))
        conn.update(login=key["AccessKeyId"], password=key["SecretAccessKey"])
        env.setenv("AIRFLOW_CONN_AWS_ENFORCED", json.dumps(conn))
        set_enforcement(endpoint, on=True)
        yield "aws_enforced", key["AccessKeyId"]


def test_a_member_whose_role_cannot_be_assumed_fails_alone(enforced_world):
    conn_id, access_key = enforced_world
    denied = member_hook(DENIED, conn_id=conn_id)
    denied_signers = assume_role_signers(denied)
    with pytest.raises(MemberAccountUnreadableError) as failure:
        names(denied)
    error = failure.value
    message = str(error)
    denied_role = f"arn:aws:iam::{DENIED}:role/{READER_ROLE}"
    assert f"Cannot read AWS account {DENIED}: sts:AssumeRole on {denied_role} failed" in message
    assert (
        "(AccessDenied: User: arn:aws:iam::123456789012:user/inventory is not authorized" in message
    )
    assert "StackSet" in message and "trust policy" in message and "`member_role_name`" in message
    assert (error.account_id, error.role_arn, error.aws_code) == (
        DENIED,
        denied_role,
        "AccessDenied",
    )
    assert isinstance(error.__cause__, ClientError)
    assert denied.calls["AssumeRole"] == 1  # AccessDenied is not retried
    assert denied_signers == [access_key]

    # The same connection still reads the other member.
    readable = member_hook(READABLE, conn_id=conn_id)
    readable_signers = assume_role_signers(readable)
    assert names(readable) == ["readable.alice"]
    assert readable_signers == [access_key]


def test_list_accounts_refused_names_the_fix(enforced_world):
    conn_id, _ = enforced_world
    with pytest.raises(OrganizationAccountsUnreadableError) as failure:
        OrganizationsHook(aws_conn_id=conn_id).list_accounts()
    message = str(failure.value)
    # moto answers this JSON API with an XML error (code "403"); AWS says AccessDeniedException.
    assert failure.value.aws_code in ("AccessDeniedException", "403")
    assert f"with connection {conn_id!r} ({failure.value.aws_code}: " in message
    assert "is not authorized to perform: organizations:ListAccounts" in message
    assert "management account or a delegated administrator" in message
    assert "organizations:ListAccounts" in message
    assert isinstance(failure.value.__cause__, ClientError)
