"""Check that a bare ``pip install airflow-provider-awsiam-ocsf`` resolves, and quickly.

    python3 scripts/resolve_check.py                 # the plain install, 300 s budget
    python3 scripts/resolve_check.py --extras s3 --budget 600

What a user meets who installs from the package index into an empty virtualenv, or adds the
package to a deployment's requirements, without a constraints file: pip's resolver alone. A fresh
virtualenv in a temporary folder runs ``pip install --dry-run --ignore-installed`` of this project
(nothing is installed) and must finish within the budget; the versions it picked for Airflow, the
amazon provider and botocore are printed. Exit 1 when it failed or took longer than the budget.

Why it matters: the amazon provider's ``s3fs`` extra brings aiobotocore, which accepts only a
few botocore releases while the newest amazon providers want newer ones; as a requirement of the
package it sent pip backtracking for more than 19 minutes. S3 support is now the ``s3`` extra.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHOWN = ("apache-airflow", "apache-airflow-providers-amazon", "botocore", "aiobotocore", "s3fs")


def resolve(extras: str, budget: float) -> tuple[float, dict[str, str] | None, str]:
    """Seconds taken, the picked versions (None when pip failed or ran out of time), pip's
    error output."""
    with tempfile.TemporaryDirectory(prefix="resolve-check-") as tmp:
        env_dir = Path(tmp) / "venv"
        venv.create(env_dir, with_pip=True)
        report = Path(tmp) / "report.json"
        target = f"{REPO}[{extras}]" if extras else str(REPO)
        command = [
            str(env_dir / "bin" / "python"), "-m", "pip", "install", "--dry-run",
            "--ignore-installed", "--quiet", "--disable-pip-version-check",
            "--report", str(report), target,
        ]  # fmt: skip
        start = time.monotonic()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=budget)
        except subprocess.TimeoutExpired:
            return time.monotonic() - start, None, f"still resolving after {budget:.0f} s"
        took = time.monotonic() - start
        if done.returncode != 0:
            return took, None, done.stderr[-3000:]
        picked = {
            item["metadata"]["name"].lower(): item["metadata"]["version"]
            for item in json.loads(report.read_text())["install"]
        }
        return took, picked, ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", default="", help="e.g. s3 (default: none)")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds (default 300)")
    args = parser.parse_args()
    label = f"airflow-provider-awsiam-ocsf{f'[{args.extras}]' if args.extras else ''}"
    took, picked, error = resolve(args.extras, args.budget)
    if picked is None:
        print(f"resolve-check: {label}: FAILED after {took:.0f} s: {error}", file=sys.stderr)
        sys.exit(1)
    versions = ", ".join(f"{name} {picked[name]}" for name in SHOWN if name in picked)
    print(f"resolve-check: {label}: {len(picked)} packages in {took:.0f} s ({versions})")


if __name__ == "__main__":
    main()
