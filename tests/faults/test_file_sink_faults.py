"""The file sink on a file system that refuses writes or fills up, under a real run.

Needs root for ``mount -t tmpfs`` (CI and these machines run as root); skipped otherwise.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.dag_runs import forget_state, sink_state
from tests.support.faults import lost_and_twice
from tests.support.iam_world import add_users

USERS = [f"user{i:02d}" for i in range(30)]  # 3 batches of 10, one part file each


@contextmanager
def tmpfs(where: Path, *options: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join(["mode=0777", *options]), "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def parts(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def names(events) -> list[str]:
    return sorted(e["user"]["name"] for e in events)


def test_a_full_disk_leaves_no_partial_part_and_the_next_run_delivers(
    iam, dag_runs, tmp_path, fault
):
    add_users(iam, USERS)
    # How big the parts are, from a run on an ordinary folder (state forgotten after it).
    probe = tmp_path / "probe"
    assert dag_runs(strategy="bulk", output_uri=f"file://{probe}").state == "success"
    sizes = [p.stat().st_size for p in parts(probe)]
    assert len(sizes) == 3
    forget_state()
    # Room for one part and a half: the second one to be written cannot be written whole.
    room = max(sizes) + min(sizes) // 2
    with tmpfs(tmp_path / "small", f"size={room}") as small:
        full = dag_runs(strategy="bulk", output_uri=f"file://{small}")
        assert full.state == "failed"
        assert sorted(full.tasks["write_files"]).count("failed") == 2
        left = parts(small)
        # Only whole parts, each one batch of 10 valid events, and no temporary file.
        assert len(left) == 1 and left[0].name.startswith("part-")  # whichever ran first
        assert all(len(p.read_text().splitlines()) == 10 for p in left)
        first = [json.loads(line) for p in left for line in p.read_text().splitlines()]
        assert sink_state() is None
    recovered = dag_runs(strategy="bulk")
    assert recovered.state == "success" and names(recovered.events) == USERS
    lost, twice = lost_and_twice(USERS, names(first) + names(recovered.events))
    assert (lost, twice) == (0, 10)
    fault.record(
        "File sink: disk full",
        did="output on a tmpfs with room for 1.5 of the run's 3 part files",
        lost=lost,
        duplicates=twice,
        recovery="the parts that did not fit failed their tasks and left no partial file; no "
        "state moved; the next run wrote every user (the part that fitted again)",
    )


def test_a_read_only_output_fails_clearly_and_the_next_run_delivers(
    iam, dag_runs, tmp_path, fault, capfd
):
    add_users(iam, USERS)
    with tmpfs(tmp_path / "ro", "ro") as ro:
        denied = dag_runs(strategy="bulk", output_uri=f"file://{ro}/inventory")
        assert denied.state == "failed"
        assert set(denied.tasks["write_files"]) == {"failed"}
        assert parts(ro) == [] and sink_state() is None
    assert "Read-only file system" in capfd.readouterr().out
    recovered = dag_runs(strategy="bulk")
    assert recovered.state == "success" and names(recovered.events) == USERS
    fault.record(
        "File sink: no write permission",
        did="output folder on a read-only file system (root ignores mode bits)",
        lost=0,
        duplicates=0,
        recovery="every write_files task failed with the OS error; no state moved; the next "
        "run wrote every user",
    )
