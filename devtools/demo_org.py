"""The demo organisation: 20 IAM users on a loopback moto server (``make demo``, the compose
``demo`` profile, tests and the bench).

    python -m devtools.demo_org serve --host 127.0.0.1 --port 5000

Needs moto (the ``demo`` extra). Every interesting case of the mapping appears at least once.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading

from devtools.local import iam_client, start_iam_server

DEMO_ACCOUNT = "123456789012"
STAR_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
READ_ONLY_NOTES = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}

# group -> AWS managed policies attached
GROUPS = {
    "Admins": ["AdministratorAccess"],
    "Developers": ["PowerUserAccess"],
    "Auditors": ["SecurityAudit", "ReadOnlyAccess"],
    "Support": ["AWSSupportAccess"],
    "BreakGlass": [],  # gets an inline */* policy
    "Finance": [],  # gets the customer-managed ReadOnlyAdminNotes policy: not admin
}
# user -> (groups, extra)
USERS = {
    "alice.admin": (["Admins"], {"mfa": "virtual"}),
    "bob.dev": (["Developers"], {"mfa": "virtual"}),
    "carol.dev": (["Developers", "Auditors"], {}),
    "dave.ops": (["Developers", "Support", "Auditors"], {"mfa": "hardware"}),
    "erin.audit": (["Auditors"], {}),
    "frank.support": (["Support"], {}),
    "grace.root-like": ([], {"attach": "AdministratorAccess", "mfa": "virtual"}),
    "heidi.inline": ([], {"inline": STAR_POLICY}),
    "ivan.breakglass": (["BreakGlass"], {"mfa": "hardware"}),
    "judy.finance": (["Finance"], {}),
    "ken.custom-admin": ([], {"customer_admin": True}),
    "leo.ci-bot": ([], {}),
    "mallory.contractor": (["Developers"], {}),
    "nina.readonly": (["Auditors"], {"mfa": "virtual"}),
    "oscar.noaccess": ([], {}),
    "peggy.finance": (["Finance", "Support"], {}),
    "quentin.dev": (["Developers"], {"mfa": "virtual"}),
    "rupert.admin2": (["Admins", "Developers"], {}),
    "sybil.svc-deploy": ([], {"attach": "PowerUserAccess"}),
    "trent.security": (["Auditors", "BreakGlass"], {"mfa": "virtual"}),
}


def seed_demo_organisation(iam) -> None:
    """Create the demo groups, policies and users through an IAM client (idempotence not needed)."""
    aws_policy = "arn:aws:iam::aws:policy/{}".format
    notes = iam.create_policy(
        PolicyName="ReadOnlyAdminNotes", PolicyDocument=json.dumps(READ_ONLY_NOTES)
    )["Policy"]["Arn"]
    custom_admin = iam.create_policy(
        PolicyName="PlatformFullControl", PolicyDocument=json.dumps(STAR_POLICY)
    )["Policy"]["Arn"]
    for group, policies in GROUPS.items():
        iam.create_group(GroupName=group)
        for policy in policies:
            iam.attach_group_policy(GroupName=group, PolicyArn=aws_policy(policy))
    iam.put_group_policy(
        GroupName="BreakGlass", PolicyName="everything", PolicyDocument=json.dumps(STAR_POLICY)
    )
    iam.attach_group_policy(GroupName="Finance", PolicyArn=notes)
    for n, (user, (groups, extra)) in enumerate(USERS.items()):
        iam.create_user(UserName=user, Tags=[{"Key": "team", "Value": user.split(".")[-1]}])
        for group in groups:
            iam.add_user_to_group(GroupName=group, UserName=user)
        if "attach" in extra:
            iam.attach_user_policy(UserName=user, PolicyArn=aws_policy(extra["attach"]))
        if "inline" in extra:
            iam.put_user_policy(
                UserName=user, PolicyName="inline-star", PolicyDocument=json.dumps(extra["inline"])
            )
        if extra.get("customer_admin"):
            iam.attach_user_policy(UserName=user, PolicyArn=custom_admin)
        if extra.get("mfa") == "virtual":
            serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{user}-mfa")[
                "VirtualMFADevice"
            ]["SerialNumber"]
            iam.enable_mfa_device(
                UserName=user,
                SerialNumber=serial,
                AuthenticationCode1="123456",
                AuthenticationCode2="654321",
            )
        elif extra.get("mfa") == "hardware":
            iam.enable_mfa_device(
                UserName=user,
                SerialNumber=f"GAHT{n:08d}",
                AuthenticationCode1="123456",
                AuthenticationCode2="654321",
            )


# The demo's IAM Identity Center: user -> (groups, permission sets assigned to the user directly)
IDENTITY_CENTER_GROUPS = {"Platform Admins": ["AdministratorAccess"], "Engineers": ["Developer"]}
IDENTITY_CENTER_USERS = {
    "ann.lead": (["Platform Admins", "Engineers"], []),  # admin through a group
    "ben.dev": (["Engineers"], []),
    "cleo.ops": ([], ["OpsFullAccess"]),  # admin directly: an inline * on * policy
    "dan.new": ([], []),  # no assignment yet
}


def seed_demo_identity_center(endpoint_url: str, region: str = "us-east-1") -> dict[str, str]:
    """Users, groups, memberships, three permission sets (AWS-managed AdministratorAccess, an
    inline read-only one, an inline ``*`` on ``*`` one) assigned in the demo account, in moto's
    default Identity Center instance of ``region``. Returns user name -> UserId."""
    import boto3

    def client(service: str):
        return boto3.client(
            service,
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    sso, store = client("sso-admin"), client("identitystore")
    instance = sso.list_instances()["Instances"][0]
    arn, store_id = instance["InstanceArn"], instance["IdentityStoreId"]
    sets = {}
    for name, managed, inline in [
        ("AdministratorAccess", "arn:aws:iam::aws:policy/AdministratorAccess", None),
        ("Developer", None, READ_ONLY_NOTES),
        ("OpsFullAccess", None, STAR_POLICY),
    ]:
        ps = sso.create_permission_set(InstanceArn=arn, Name=name)["PermissionSet"]
        sets[name] = ps["PermissionSetArn"]
        if managed:
            sso.attach_managed_policy_to_permission_set(
                InstanceArn=arn, PermissionSetArn=sets[name], ManagedPolicyArn=managed
            )
        if inline:
            sso.put_inline_policy_to_permission_set(
                InstanceArn=arn, PermissionSetArn=sets[name], InlinePolicy=json.dumps(inline)
            )
        sso.provision_permission_set(
            InstanceArn=arn,
            PermissionSetArn=sets[name],
            TargetType="AWS_ACCOUNT",
            TargetId=DEMO_ACCOUNT,
        )

    def assign(principal_type: str, principal_id: str, permission_set: str) -> None:
        sso.create_account_assignment(
            InstanceArn=arn,
            TargetId=DEMO_ACCOUNT,
            TargetType="AWS_ACCOUNT",
            PermissionSetArn=sets[permission_set],
            PrincipalType=principal_type,
            PrincipalId=principal_id,
        )

    groups = {}
    for name, permission_sets in IDENTITY_CENTER_GROUPS.items():
        groups[name] = store.create_group(IdentityStoreId=store_id, DisplayName=name)["GroupId"]
        for permission_set in permission_sets:
            assign("GROUP", groups[name], permission_set)
    users = {}
    for name, (member_of, permission_sets) in IDENTITY_CENTER_USERS.items():
        given, family = name.split(".")
        users[name] = store.create_user(
            IdentityStoreId=store_id,
            UserName=name,
            DisplayName=f"{given.title()} {family.title()}",
            Name={"GivenName": given.title(), "FamilyName": family.title()},
            Emails=[{"Value": f"{name}@example.com", "Type": "work", "Primary": True}],
        )["UserId"]
        for group in member_of:
            store.create_group_membership(
                IdentityStoreId=store_id, GroupId=groups[group], MemberId={"UserId": users[name]}
            )
        for permission_set in permission_sets:
            assign("USER", users[name], permission_set)
    return users


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the seeded demo IAM until interrupted")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    server, endpoint = start_iam_server(args.host, args.port)
    seed_demo_organisation(iam_client(endpoint.replace("0.0.0.0", "127.0.0.1")))
    print(f"Demo IAM with {len(USERS)} users at {endpoint}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.stop()


if __name__ == "__main__":
    main()
