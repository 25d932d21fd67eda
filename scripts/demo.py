"""`make demo`: the sample DAG against a loopback IAM seeded with a demo organisation.

Starts moto's IAM server on 127.0.0.1 with 20 users (admins directly, through a group and inline;
virtual and hardware MFA; several groups; none), runs ``airflow dags test`` twice on a fresh SQLite
Airflow home under ``.demo/`` — a first full inventory, then an incremental run after two users
are created — and prints where the events went.
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
    mfa = sum(1 for e in events if e["user"].get("has_mfa"))
    print(f"\n== {title}: {len(events)} events in {len(files)} file(s) under {folder}")
    for f in files:
        print(f"   {f.relative_to(REPO)}")
    print(f"   user types: {dict(types)}; with MFA: {mfa}")
    return events


def main() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    HOME.mkdir(parents=True)
    from devtools.demo_org import USERS, seed_demo_organisation
    from devtools.local import aws_connection_json, iam_client, local_airflow_env, start_iam_server

    os.environ.update(local_airflow_env(HOME, REPO / "dags"))

    print(f"Airflow home: {HOME} (SQLite); migrating the metadata DB…")
    airflow("db", "migrate", log=DEMO / "db-migrate.log")
    server, endpoint = start_iam_server()
    try:
        iam = iam_client(endpoint)
        seed_demo_organisation(iam)
        print(f"Demo IAM (moto) at {endpoint} with {len(USERS)} users")
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = aws_connection_json(endpoint)

        conf = {"batch_size": 10, "settle_seconds": 0, "output_uri": f"file://{OUTPUT}/first"}
        print(f"Run 1: airflow dags test {DAG_ID} -c '{json.dumps(conf)}'")
        airflow("dags", "test", DAG_ID, "-c", json.dumps(conf), log=DEMO / "run-1.log")
        events = describe("Run 1 (everyone: no checkpoint yet)", OUTPUT / "first")

        iam.create_user(UserName="uma.newhire")
        iam.create_user(UserName="victor.newhire")
        conf["output_uri"] = f"file://{OUTPUT}/second"
        print("\nCreated uma.newhire and victor.newhire. Run 2: incremental from the checkpoint")
        airflow("dags", "test", DAG_ID, "-c", json.dumps(conf), log=DEMO / "run-2.log")
        second = describe("Run 2 (only users created since run 1)", OUTPUT / "second")
    finally:
        server.stop()

    admin = next(e for e in events if e["user"]["name"] == "ivan.breakglass")
    print("\nA sample event (ivan.breakglass: admin through an inline policy of a group):")
    print(json.dumps(admin, indent=2))
    print(
        f"\nRun logs and summaries: {DEMO}/run-1.log, {DEMO}/run-2.log "
        f"(search for 'Run summary'). Second run users: "
        f"{sorted(e['user']['name'] for e in second)}"
    )


if __name__ == "__main__":
    main()
