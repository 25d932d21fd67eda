"""The fault suite's table: every test that provokes a fault records one row of what it observed.

A test asks for the ``fault`` fixture (which marks it ``fault``) and calls ``fault.record(...)``
with the figures it measured (users lost, events delivered twice) and how the product recovered.

- The whole suite (``make test``: no path, ``-k`` or ``-m`` narrowing it) renders the rows as a
  Markdown table and compares it with the README's, between ``<!-- fault-table:begin -->`` and
  ``<!-- fault-table:end -->``: a stale table fails the session.
- ``make faults`` runs ``-m fault`` with ``FAULT_TABLE=write`` and rewrites the README's table.

Either way, only when every fault test that ran passed. Rows keep the order the tests are
collected in, so the table is the same from run to run; ``test-artifacts/faults.json`` keeps them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
BEGIN, END = "<!-- fault-table:begin -->", "<!-- fault-table:end -->"
ARTIFACT = REPO / "test-artifacts" / "faults.json"


@dataclass(frozen=True)
class Row:
    fault: str
    did: str
    lost: int
    duplicates: int
    recovery: str
    test: str


class FaultRecorder:
    def __init__(self, test: str, rows: dict[str, Row]) -> None:
        self._test, self._rows = test, rows

    def record(self, fault: str, *, did: str, lost: int, duplicates: int, recovery: str) -> None:
        """One row for this test; ``lost`` and ``duplicates`` are what the test counted."""
        assert self._test not in self._rows, "one row per test"
        self._rows[self._test] = Row(fault, did, lost, duplicates, recovery, self._test)


def lost_and_twice(expected: Iterable[str], delivered: Iterable[str]) -> tuple[int, int]:
    """The users of ``expected`` never delivered, and the deliveries of a user beyond its first."""
    delivered = list(delivered)
    return len(set(expected) - set(delivered)), len(delivered) - len(set(delivered))


def render(rows: list[Row]) -> str:
    cell = lambda text: str(text).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = [
        "| Fault | What the test did | Users lost | Events sent twice | How it recovered | Test |",
        "|---|---|---:|---:|---|---|",
    ]
    for r in rows:
        test = r.test.split("::")
        where = f"`{Path(test[0]).name}::{test[-1]}`"
        lines.append(
            f"| {cell(r.fault)} | {cell(r.did)} | {r.lost} | {r.duplicates} | "
            f"{cell(r.recovery)} | {where} |"
        )
    return "\n".join(lines)


BLOCK = re.compile(re.escape(BEGIN) + r"(.*?)" + re.escape(END), re.S)


def readme_table(text: str) -> str | None:
    match = BLOCK.search(text)
    return None if match is None else match.group(1).strip()


def with_table(text: str, table: str) -> str:
    return BLOCK.sub(lambda _: f"{BEGIN}\n{table}\n{END}", text)


class FaultTablePlugin:
    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.fault_tests: list[str] = []
        self.passed: set[str] = set()
        self.narrowed = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            if "fault" in getattr(item, "fixturenames", ()):
                item.add_marker("fault")

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.narrowed = True

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.fault_tests = [i.nodeid for i in session.items if i.get_closest_marker("fault")]
        roots = {
            (Path(session.config.invocation_params.dir) / a).resolve() for a in session.config.args
        }
        self.narrowed |= not roots <= {REPO, REPO / "tests"}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and report.passed:
            self.passed.add(report.nodeid)

    @pytest.fixture
    def fault(self, request: pytest.FixtureRequest) -> FaultRecorder:
        return FaultRecorder(request.node.nodeid, self.rows)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.rows:
            return
        rows = [self.rows[t] for t in self.fault_tests if t in self.rows]
        ARTIFACT.parent.mkdir(exist_ok=True)
        ARTIFACT.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
        if not all(t in self.passed and t in self.rows for t in self.fault_tests):
            return  # a failure is reported as such; the table only shows passing runs
        write = os.environ.get("FAULT_TABLE") == "write"
        if self.narrowed and not write:
            return  # a part of the suite ran: the README's table describes all of it
        table = render(rows)
        text = README.read_text()
        if readme_table(text) == table:
            return
        if write:
            README.write_text(with_table(text, table))
            return
        session.config.get_terminal_writer().line(
            "The README's fault table differs from what the fault tests observed: run "
            "`make faults` to regenerate it.",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(FaultTablePlugin(), "fault_table")
