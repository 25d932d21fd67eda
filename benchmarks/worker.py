"""One measured collection, in a fresh process (the IAM server stays in the bench's process).

    python benchmarks/worker.py '{"workflow": "bulk", "endpoint": "http://…",
                                  "events": "/tmp/x.ndjson", "tracemalloc": false}'

Prints one JSON line: wall time of collection + mapping (with its parts), IAM calls by action
counted by botocore (``before-call.iam``), the process's RSS before the step and its peak RSS
(imports included) and, with ``tracemalloc``, the
peak of Python allocations during the measured step. Imports happen before the clock starts; the
client is built inside the measured step, as a task would.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _status_mib(field: str) -> float:
    """``VmRSS``/``VmHWM`` of this process from /proc. Unlike ``ru_maxrss``, which Linux carries
    across exec (so a child forked from the big bench process would inherit its size), ``VmHWM``
    starts afresh with the worker's own program."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(spec: dict) -> dict:
    import tracemalloc

    import boto3  # noqa: F401  (imported before the clock starts)

    from airflow_provider_awsiam_ocsf.collection import enrich_users, list_users
    from airflow_provider_awsiam_ocsf.collection_plan import Window
    from airflow_provider_awsiam_ocsf.hooks.iam import IamHook
    from airflow_provider_awsiam_ocsf.ocsf import to_ocsf_user_inventory
    from benchmarks.page_workflow import page_workflow
    from devtools.local import iam_client

    workflow = spec["workflow"]
    key_ids = spec.get("access_key_ids", False)  # off: bulk's handful of calls
    parts: dict[str, float] = {}
    rss_before = _status_mib("VmRSS")
    if spec.get("tracemalloc"):
        tracemalloc.start()
    start = time.perf_counter()
    if workflow == "page":
        calls: Counter[str] = Counter()
        client = iam_client(spec["endpoint"])
        client.meta.events.register(
            "before-call.iam", lambda model, **_: calls.update([model.name])
        )
        users = list(page_workflow(client))
        parts["collect"] = time.perf_counter() - start
    else:
        hook = IamHook(aws_conn_id="aws_default")
        report_time = [0.0]
        real_report = hook.get_credential_report

        def timed_report(*args, **kwargs):
            t = time.perf_counter()
            try:
                return real_report(*args, **kwargs)
            finally:
                report_time[0] += time.perf_counter() - t

        hook.get_credential_report = timed_report  # instance attribute: times, changes nothing
        listing = list_users(hook, workflow, Window())
        parts["list"] = time.perf_counter() - start
        parts["credential_report"] = report_time[0]
        t = time.perf_counter()
        users = enrich_users(hook, listing.users, listing.catalog, access_key_ids=key_ids)
        parts["enrich"] = time.perf_counter() - t
        calls = hook.calls
    t = time.perf_counter()
    events = [to_ocsf_user_inventory(u, access_key_ids=key_ids).as_dict() for u in users]
    parts["map"] = time.perf_counter() - t
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] if tracemalloc.is_tracing() else None
    tracemalloc.stop()
    degraded = sum(1 for u in users if u.degraded)
    Path(spec["events"]).write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in events))
    return {
        "workflow": workflow,
        "seconds": elapsed,
        "parts": parts,
        "calls": dict(sorted(calls.items())),
        "events": len(events),
        "degraded_users": degraded,
        "tracemalloc_peak_mib": peak / 2**20 if peak is not None else None,
        "rss_before_mib": rss_before,
        "rss_peak_mib": _status_mib("VmHWM"),
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
