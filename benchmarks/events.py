"""Event runs on a real stack: latency, a burst, and the idle cost in SQS requests (BENCHMARKS.md).

    flock /tmp/awsiam-heavy.lock .venv/bin/python benchmarks/events.py [--changes 12]
        [--burst-users 200] [--burst-messages 1000] [--burst-seconds 10] [--idle-minutes 5]

moto's server in this process (IAM, SQS, EventBridge; every request counted by action), the queue
and the README's rule (``tests/support/event_bus.py``), and an api-server, scheduler,
dag-processor and triggerer (LocalExecutor, SQLite; ``tests/support/airflow_stack.py``) running
the sample DAG with ``AIRFLOW__AWSIAM_OCSF__EVENTS_QUEUE_URL`` set and every other event option at
its default. After a periodic run of 20 users:

* **idle**: SQS requests served by moto over ``--idle-minutes`` with nothing sent (the triggerer's
  polls), scaled to an hour;
* **latency**: ``--changes`` times, one after the other, a user is created with a key and its
  ``CreateUser`` record put on the bus; from ``put_events`` to the user's event in the file sink,
  split into trigger pickup (to the asset event's timestamp), run queued (to the run's start) and
  tasks (to the file's modification time);
* **burst**: ``--burst-users`` users created, then ``--burst-messages`` records naming them put
  over ``--burst-seconds``; how many runs, IAM calls per user read, and the time until every one
  is in the file sink.

Prints markdown; nothing is asserted (BENCHMARKS.md quotes the printout).
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.servers import start_moto  # noqa: E402
from tests.data.cloudtrail_iam import ACCOUNT, cloudtrail  # noqa: E402
from tests.support.airflow_stack import (  # noqa: E402
    DAG_ID,
    TERMINAL_RUN_STATES,
    AirflowStack,
)
from tests.support.event_bus import event_queue, put_records, start_event_stack  # noqa: E402
from tests.support.org_world import client  # noqa: E402

SQS_ACTIONS = {
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "GetQueueAttributes",
    "GetQueueUrl",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
}
# Reads an event run makes once per run (README, "Changes in seconds"), not per user.
ACCOUNT_WIDE = {
    "GetCallerIdentity",
    "ListGroups",
    "ListAttachedGroupPolicies",
    "ListGroupPolicies",
    "GetGroupPolicy",
    "ListPolicies",
    "GetPolicy",
    "GetPolicyVersion",
    "GetGroup",
    "ListEntitiesForPolicy",
    "ListAccountAliases",
    "DescribeOrganization",
}
BURST_EVENTS = ("CreateUser", "CreateAccessKey", "TagUser", "AttachUserPolicy", "AddUserToGroup")


def ts(value: str | None) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else 0.0


def safe(run_id: str) -> str:  # as write_files names a run's folder
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Bench:
    def __init__(self, stack: AirflowStack, endpoint: str) -> None:
        self.stack = stack
        self.endpoint = endpoint
        self.iam = client(endpoint, "iam")
        self.events = client(endpoint, "events")
        self.root = stack.home / "data" / DAG_ID / f"account={ACCOUNT}"

    def sink(self) -> dict[str, list[tuple[Path, dict]]]:
        """User name -> (file, event) of every event in the file sink."""
        found: dict[str, list[tuple[Path, dict]]] = {}
        for path in sorted(self.root.rglob("*.ndjson")) if self.root.exists() else []:
            for line in path.read_text().splitlines():
                event = json.loads(line)
                found.setdefault(event["user"]["name"], []).append((path, event))
        return found

    def idle_runs(self) -> list[dict]:
        runs = self.stack.dag_runs()
        return runs if all(r["state"] in TERMINAL_RUN_STATES for r in runs) else []

    def asset_events(self) -> list[dict]:
        answer = self.stack.api(
            "GET", "/assets", params={"name_pattern": f"{DAG_ID}_iam_events", "limit": 10}
        )
        answer.raise_for_status()
        (asset,) = [a for a in answer.json()["assets"] if a["name"] == f"{DAG_ID}_iam_events"]
        answer = self.stack.api(
            "GET", "/assets/events", params={"asset_id": asset["id"], "limit": 100}
        )
        answer.raise_for_status()
        return list(answer.json()["asset_events"])

    def summary(self, run_id: str) -> dict:
        answer = self.stack.api(
            "GET",
            f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/refresh_from_events"
            "/xcomEntries/return_value",
            params={"deserialize": "true"},
        )
        answer.raise_for_status()
        value = answer.json()["value"]
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                value = ast.literal_eval(value)
        return value

    # -- the three measurements ------------------------------------------------------------

    def latency(self, changes: int) -> list[dict]:
        rows = []
        for n in range(changes):
            name = f"lat-{n:02d}"
            self.iam.create_user(UserName=name)
            self.iam.create_access_key(UserName=name)
            put_at = time.time()
            put_records(
                self.endpoint, cloudtrail("CreateUser", {"userName": name}), events=self.events
            )
            path = self.stack.wait_until(
                f"{name} in the file sink",
                lambda name=name: (self.sink().get(name) or [(None, None)])[0][0],
                180,
                interval=0.2,
            )
            written = path.stat().st_mtime
            runs = self.stack.wait_until("the runs to finish", self.idle_runs, 180)
            (run,) = [r for r in runs if f"run={safe(r['dag_run_id'])}" == path.parent.name]
            picked = min(
                ts(e["timestamp"])
                for e in self.asset_events()
                if name in json.dumps(e.get("extra") or {})
            )
            rows.append(
                {
                    "user": name,
                    "total": written - put_at,
                    "pickup": picked - put_at,
                    "queued": ts(run["start_date"]) - picked,
                    "tasks": written - ts(run["start_date"]),
                    "run": run["dag_run_id"],
                }
            )
            print(
                f"  {name}: {rows[-1]['total']:.1f} s (pickup {rows[-1]['pickup']:.1f}, "
                f"queued {rows[-1]['queued']:.1f}, tasks {rows[-1]['tasks']:.1f})",
                flush=True,
            )
        return rows

    def burst(self, users: int, messages: int, seconds: float) -> dict:
        names = [f"burst-{i:03d}" for i in range(users)]
        self.iam.create_group(GroupName="BurstOps")
        for name in names:
            self.iam.create_user(UserName=name)
        before = {r["dag_run_id"] for r in self.stack.dag_runs()}
        records = [
            cloudtrail(
                BURST_EVENTS[(i // users) % len(BURST_EVENTS)], {"userName": names[i % users]}
            )
            for i in range(messages)
        ]
        start = time.time()
        calls = max(1, (messages + 9) // 10)
        for i in range(calls):
            time.sleep(max(0.0, start + i * seconds / calls - time.time()))
            put_records(self.endpoint, *records[i * 10 : (i + 1) * 10], events=self.events)
        sent = time.time() - start

        def all_delivered() -> float | None:
            found = self.sink()
            if not all(name in found for name in names):
                return None
            return max(p.stat().st_mtime for name in names for p, _ in found[name])

        done = self.stack.wait_until("every burst user in the file sink", all_delivered, 900, 1)
        runs = [
            r
            for r in self.stack.wait_until("runs to finish", self.idle_runs, 300)
            if r["dag_run_id"] not in before
        ]
        per_run = []
        for run in sorted(runs, key=lambda r: r["run_after"]):
            summary = (
                self.summary(run["dag_run_id"]) if run["run_type"] == "asset_triggered" else {}
            )
            calls_by_action: Counter[str] = Counter()
            for figures in (summary.get("accounts") or {}).values():
                # the run's own messages, then each catch-up round (apache/airflow#56050)
                for part in [figures, *figures.get("caught_up", [])]:
                    calls_by_action.update(part.get("calls") or {})
            read = (summary.get("read") or {}).get("users", 0)
            user_calls = sum(n for a, n in calls_by_action.items() if a not in ACCOUNT_WIDE)
            per_run.append(
                {
                    "run": run["dag_run_id"],
                    "type": run["run_type"],
                    "state": run["state"],
                    "messages": summary.get("messages", 0),
                    "caught up": (summary.get("caught_up") or {}).get("messages", 0),
                    "users read": read,
                    "per-user calls": user_calls,
                    "account-wide calls": sum(calls_by_action.values()) - user_calls,
                    "seconds": ts(run["end_date"]) - ts(run["start_date"]),
                }
            )
        return {
            "sent_seconds": sent,
            "delivered_seconds": done - start,
            "runs": per_run,
        }

    def idle(self, minutes: float, counter) -> Counter[str]:
        self.stack.wait_until("the runs to finish", self.idle_runs, 180)
        counter.take()
        time.sleep(minutes * 60)
        return Counter({a: n for a, n in counter.take().items() if a in SQS_ACTIONS})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=12)
    parser.add_argument("--burst-users", type=int, default=200)
    parser.add_argument("--burst-messages", type=int, default=1000)
    parser.add_argument("--burst-seconds", type=float, default=10)
    parser.add_argument("--idle-minutes", type=float, default=5)
    parser.add_argument("--skip", default="", help="comma-separated: idle,latency,burst")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    server, endpoint, counter = start_moto()
    iam = client(endpoint, "iam")
    for i in range(20):
        iam.create_user(UserName=f"user-{i:02d}")
    url = event_queue(endpoint)
    home = Path(tempfile.mkdtemp(prefix="awsiam-events-bench-"))
    print(f"AIRFLOW_HOME {home}; queue {url}", flush=True)
    stack = start_event_stack(home, endpoint, url)
    bench = Bench(stack, endpoint)
    try:
        stack.wait_for_dag_runs(lambda r: r["run_type"] == "scheduled", 1, 180)
        run_id = stack.trigger({})
        stack.wait_for_dag_runs(lambda r: r["dag_run_id"] == run_id, 1, 180)
        print(f"periodic run of 20 users done; {len(bench.sink())} users in the sink", flush=True)

        if "idle" not in skip:
            sqs = bench.idle(args.idle_minutes, counter)
            total = sum(sqs.values())
            print(f"\n### Idle: SQS requests over {args.idle_minutes:g} min (measured at moto)\n")
            print(
                f"{dict(sorted(sqs.items()))}: {total} requests, "
                f"{total * 60 / args.idle_minutes:.0f} an hour",
                flush=True,
            )

        if "latency" not in skip:
            print(f"\n### Latency: {args.changes} changes, one at a time\n", flush=True)
            rows = bench.latency(args.changes)
            print("\n| | median (s) | p95 (s) | max (s) |\n|---|---|---|---|")
            for key in ("total", "pickup", "queued", "tasks"):
                values = [r[key] for r in rows]
                print(
                    f"| {key} | {statistics.median(values):.1f} | "
                    f"{percentile(values, 0.95):.1f} | {max(values):.1f} |"
                )

        if "burst" not in skip:
            print(
                f"\n### Burst: {args.burst_messages} messages naming {args.burst_users} users "
                f"over {args.burst_seconds:g} s\n",
                flush=True,
            )
            result = bench.burst(args.burst_users, args.burst_messages, args.burst_seconds)
            print(
                f"sent in {result['sent_seconds']:.1f} s; every user in the file sink "
                f"{result['delivered_seconds']:.1f} s after the first put_events\n"
            )
            print(
                "| run | type | state | messages | users read | per-user calls | "
                "calls per user | account-wide calls | seconds |"
            )
            print("|---|---|---|---|---|---|---|---|---|")
            for r in result["runs"]:
                per_user = r["per-user calls"] / r["users read"] if r["users read"] else 0
                print(
                    f"| {r['run']} | {r['state']} | {r['messages']} + {r['caught up']} | "
                    f"{r['users read']} | {r['per-user calls']} | {per_user:.1f} | "
                    f"{r['account-wide calls']} | {r['seconds']:.1f} |"
                )
    finally:
        stack.stop()
        server.stop()


if __name__ == "__main__":
    main()
