"""`make demo`: the sample DAG against a loopback IAM seeded with a demo organisation.

Starts moto's IAM server on 127.0.0.1 with 20 users (admins directly, through a group and inline;
virtual and hardware MFA; several groups; none), the root user (moto's credential report is
given the ``<root_account>`` row AWS writes) and an IAM Identity Center with 4 users (one admin
through a group, one through an inline policy) and runs ``airflow dags test`` three times on a
fresh SQLite Airflow home under ``.demo/``: a full inventory; then, after the organisation changed
(a user promoted to admin, one given MFA, one deleted, one created), an incremental run that sends
exactly those four; then one that sends nothing. Prints where the events went.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # devtools/: the demo organisation and local plumbing
DEMO = REPO / ".demo"
HOME = DEMO / "airflow"
OUTPUT = DEMO / "output"
DAG_ID = "aws_iam_users_ocsf"


def airflow(*args: str, log: Path | None = None) -> None:
    cmd = [sys.executable, "-m", "airflow", *args]
    with open(log or os.devnull, "w") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
    if done.returncode != 0:
        if log:
            print("".join(log.read_text().splitlines(keepends=True)[-40:]), file=sys.stderr)
        sys.exit(f"`airflow {' '.join(args[:3])}` failed (exit {done.returncode}); log: {log}")


def events_below(folder: Path) -> list[dict]:
    return [
        json.loads(line)
        for f in sorted(folder.rglob("*.ndjson"))
        for line in f.read_text().splitlines()
    ]


def describe(title: str, folder: Path) -> list[dict]:
    events = events_below(folder)
    files = sorted(folder.rglob("*.ndjson"))
    types = Counter(e["user"].get("type", "undecided") for e in events)
    kinds = Counter(kind_of(e) for e in events)
    mfa = sum(1 for e in events if e["user"].get("has_mfa"))
    print(f"\n== {title}: {len(events)} events in {len(files)} file(s) under {folder}")
    for f in files:
        print(f"   {f.relative_to(REPO)}")
    print(f"   identities: {dict(kinds)}; user types: {dict(types)}; with MFA: {mfa}")
    return events


def kind_of(event: dict) -> str:
    if event["user"]["account"]["type_id"] == 99:
        return "identity_center"
    return "root" if event["user"]["uid"].endswith(":root") else "iam_users"


def change_the_organisation(iam) -> None:
    """A day in the life of an AWS account: one of each change the inventory must catch."""
    iam.attach_user_policy(
        UserName="bob.dev", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
    )
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="carol-mfa")["VirtualMFADevice"][
        "SerialNumber"
    ]
    iam.enable_mfa_device(
        UserName="carol.dev",
        SerialNumber=serial,
        AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )
    iam.delete_user(UserName="oscar.noaccess")
    iam.create_user(UserName="uma.newhire")


def what_happened(event: dict) -> str:
    user = event["user"]
    if "deleted_time" in user.get("ldap_person", {}):
        return "deleted"
    return f"type {user.get('type', '?')}, MFA {user.get('has_mfa', '?')}"


def main() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    HOME.mkdir(parents=True)
    from devtools.demo_org import (
        IDENTITY_CENTER_USERS,
        USERS,
        seed_demo_identity_center,
        seed_demo_organisation,
    )
    from devtools.local import (
        aws_connection_json,
        iam_client,
        local_airflow_env,
        start_iam_server,
        write_root_rows,
    )

    os.environ.update(local_airflow_env(HOME, REPO / "dags"))

    print(f"Airflow home: {HOME} (SQLite); migrating the metadata DB…")
    airflow("db", "migrate", log=DEMO / "db-migrate.log")
    # What a dag-processor does: store the DAG and activate its Assets. Airflow 3.3's `dags test`
    # does it by itself; 3.0's does not, and fails the tasks that update an Asset.
    airflow("dags", "reserialize", log=DEMO / "dags-reserialize.log")
    server, endpoint = start_iam_server()
    write_root_rows()  # moto writes no <root_account> row; AWS always does
    try:
        iam = iam_client(endpoint)
        seed_demo_organisation(iam)
        seed_demo_identity_center(endpoint)
        print(
            f"Demo IAM (moto) at {endpoint} with {len(USERS)} users, the root user and an IAM "
            f"Identity Center of {len(IDENTITY_CENTER_USERS)} users"
        )
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = aws_connection_json(endpoint)

        def run(number: int, title: str, **extra) -> list[dict]:
            conf = {
                "batch_size": 10,
                "settle_seconds": 0,
                "identities": ["iam_users", "root", "identity_center"],
                **extra,
                "output_uri": f"file://{OUTPUT}/run-{number}",
            }
            print(f"\nRun {number}: airflow dags test {DAG_ID} -c '{json.dumps(conf)}'")
            airflow("dags", "test", DAG_ID, "-c", json.dumps(conf), log=DEMO / f"run-{number}.log")
            return describe(f"Run {number} ({title})", OUTPUT / f"run-{number}")

        first = run(1, "full: everyone", mode="full")
        change_the_organisation(iam)
        print(
            "\nChanged the organisation: bob.dev got AdministratorAccess, carol.dev an MFA "
            "device, oscar.noaccess was deleted, uma.newhire was created."
        )
        second = run(2, "incremental: exactly what changed")
        for event in sorted(second, key=lambda e: e["user"]["name"]):
            print(f"   {event['user']['name']:<16} {what_happened(event)}")
        third = run(3, "incremental: nothing changed since run 2")
    finally:
        server.stop()

    root = next(e for e in first if e["user"]["uid"].endswith(":root"))
    print(
        f"\nThe root user ({root['user']['uid']}): type {root['user']['type']}, "
        f"MFA {root['user']['has_mfa']}, enabled {root['enrichments'][0]['data']['is_enabled']}"
    )
    admin = next(e for e in first if e["user"]["name"] == "ivan.breakglass")
    print("\nA sample event (ivan.breakglass: admin through an inline policy of a group):")
    print(json.dumps(admin, indent=2))
    print(
        f"\nRun logs and summaries: {DEMO}/run-<n>.log (search for 'Run summary'). "
        f"Events per run: {len(first)}, {len(second)}, {len(third)}. "
        f"State: airflow variables list | grep {DAG_ID}__state__"
    )


if __name__ == "__main__":
    main()
