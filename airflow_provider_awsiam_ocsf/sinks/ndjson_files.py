"""NDJSON files through Airflow's ObjectStoragePath (``file://``, ``s3://``, …)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from airflow.providers.common.compat.sdk import ObjectStoragePath

from airflow_provider_awsiam_ocsf.errors import S3SupportMissingError


def default_output_uri(dag_id: str) -> str:
    """``$AIRFLOW_HOME/data/<dag_id>``: a folder per DAG, so two DAGs built with
    ``build_inventory_dag`` never replace each other's parts (scheduled run ids are equal)."""
    home = os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow"))
    return f"file://{os.path.abspath(home)}/data/{dag_id}"


def encode_ndjson(events: Iterable[dict]) -> bytes:
    """One event per line, keys sorted so a re-run writes byte-identical files."""
    return b"".join(
        json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        for e in events
    )


# ObjectStoragePath schemes the amazon provider serves (with s3fs); the ``aws`` connection fits.
S3_PROTOCOLS = ("s3", "s3a", "s3n")
LOCAL_PROTOCOLS = ("file", "local", "")


def conn_id_of(path: ObjectStoragePath) -> str | None:
    """The connection a path is reached through: ``.conn_id`` on Airflow 3.1+, a storage option
    on 3.0 (whose ObjectStoragePath has no such attribute)."""
    return getattr(path, "conn_id", None) or path.storage_options.get("conn_id")


def output_folder(uri: str, aws_conn_id: str | None) -> ObjectStoragePath:
    """The sink's folder. An ``s3://`` folder is reached through ``aws_conn_id`` (its keys, role,
    ``endpoint_url``…) unless the URI names its own connection (``s3://aws_out@bucket/prefix``).

    Without a connection ObjectStoragePath would use the worker's default boto credentials and
    AWS's own endpoint, ignoring the connection the DAG was given.
    """
    folder = ObjectStoragePath(uri)
    if folder.protocol in S3_PROTOCOLS:
        _require_s3fs(uri)
        if conn_id_of(folder) is None and aws_conn_id:
            folder = ObjectStoragePath(uri, conn_id=aws_conn_id)
    return folder


def _require_s3fs(uri: str) -> None:
    # Without s3fs ObjectStoragePath fails only at the first write, with a bare ImportError.
    try:
        import s3fs  # noqa: F401
    except ImportError as error:
        raise S3SupportMissingError(uri) from error


def write_atomically(target: ObjectStoragePath, data: bytes) -> None:
    """Replace ``target`` as a whole: readers see the old file or the new one, never a part.

    Local file system: write beside the target, then rename (atomic on POSIX). Object stores: one
    upload, no temporary object. On S3 a rename would be a copy plus a delete (two requests,
    neither atomic with the other, and s3:DeleteObject needed), whereas a PUT publishes the whole
    object at once or not at all; s3fs sends one ``PutObject`` below its block size (50 MiB; the
    demo's events are about 1.1 KB, so even a 10,000-user batch stays below it) and a multipart
    upload above it, which also appears only once completed. No ``mkdir`` either: S3 has no
    folders, and s3fs's would look the bucket up (s3:ListBucket) and create it when it seems
    missing, so the write needs only s3:PutObject.
    """
    if target.protocol not in LOCAL_PROTOCOLS:
        target.write_bytes(data)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    try:
        tmp.write_bytes(data)
        os.replace(tmp.path, target.path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no partial part behind
        raise
