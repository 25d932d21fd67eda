"""NDJSON files through Airflow's ObjectStoragePath (``file://``, ``s3://``, …)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from airflow.providers.common.compat.sdk import ObjectStoragePath


def default_output_uri() -> str:
    home = os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow"))
    return f"file://{os.path.abspath(home)}/data/aws_iam_users_ocsf"


def encode_ndjson(events: Iterable[dict]) -> bytes:
    """One event per line, keys sorted so a re-run writes byte-identical files."""
    return b"".join(
        json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        for e in events
    )


def write_atomically(target: ObjectStoragePath, data: bytes) -> None:
    """Replace ``target`` as a whole: readers see the old file or the new one, never a part.

    Object stores publish an object only once its upload completes; on a local file system we
    write beside the target and rename, which is atomic on POSIX.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.protocol not in ("file", "local", ""):
        target.write_bytes(data)
        return
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    tmp.write_bytes(data)
    os.replace(tmp.path, target.path)
