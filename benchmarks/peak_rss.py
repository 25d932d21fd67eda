"""Run a Python module as ``__main__`` and, at exit, write its peak RSS to a JSON file.

    python benchmarks/peak_rss.py OUT.json airflow dags test …

The peak is the process's ``VmHWM`` (its own program only: ``ru_maxrss`` would also count the
bench process it was forked from) and the largest ``ru_maxrss`` of any child it waited for.
"""

from __future__ import annotations

import atexit
import json
import resource
import runpy
import sys
from pathlib import Path


def _vm_hwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    out, module, *args = sys.argv[1:]

    def report() -> None:
        Path(out).write_text(
            json.dumps(
                {
                    "self_mib": _vm_hwm_kib() / 1024,
                    "children_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                }
            )
        )

    atexit.register(report)
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
