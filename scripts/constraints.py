"""Generate ``constraints/airflow-<version>.txt``: the exact versions CI and ``make`` install.

    python3 scripts/constraints.py 3.0.6 3.3.2        # rewrites both files (a few minutes each)
    python3 scripts/constraints.py 3.0.6 --no-seed    # shows what a bare resolution picks

For each Airflow version: a fresh virtualenv in a temporary folder, then one ``pip install`` of
``apache-airflow==<version>``, this project with every extra ``setup.cfg`` declares (read from
it, so a new extra is picked up without touching this script), the packages in ``DEPLOYMENT``,
and the version's ``SEEDS`` as constraints; then ``pip freeze --exclude-editable`` (this project
itself left out) below a header saying how the file was made.

The official Airflow constraints files are not reachable from every machine this project runs
on, so the project carries its own. Seeds are kept as few as possible: only where an unconstrained
resolution picks something that breaks, or to keep versions the suite was proven with.
"""

from __future__ import annotations

import argparse
import configparser
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Installed with every version although the project does not require them, so that one
# constraints file also serves a deployment's optional parts:
DEPLOYMENT = [
    # ObjectStoragePath on s3:// (the `file` sink writing to S3) needs s3fs, which pulls
    # aiobotocore, which caps botocore: resolving them together keeps boto3/botocore consistent.
    "apache-airflow-providers-amazon[s3fs]",
    # The distributed path (CeleryExecutor on PostgreSQL and Redis) and its test.
    "apache-airflow-providers-celery",
    "celery[redis]",
    "psycopg2-binary",
]

# Applied to every version, --no-seed included. aiobotocore (from s3fs) accepts only three
# botocore releases (aiobotocore 3.10: botocore >=1.43.115,<1.43.118) while boto3 and the amazon
# provider accept hundreds: without a matching boto3/botocore pair pip backtracks through them
# for many minutes. 1.43.117 is the newest pair aiobotocore allows.
RESOLUTION = [
    "boto3==1.43.117",
    "botocore==1.43.117",
    # celery 5.7 dropped `celery.backends.database.retry`, which apache-airflow-providers-celery
    # 3.26 imports: every Celery worker dies at start-up (tests/e2e/test_celery_e2e.py).
    "celery<5.7",
]

SEEDS: dict[str, list[str]] = {
    "3.0.6": [
        # apache-airflow-core 3.0.6 asks only `fastapi>=0.115.0` and `cadwyn>=5.2.1`; with the
        # newest of both, every task fails at its first call to the execution API (how tasks
        # reach the metadata DB in Airflow 3): "ServerResponseError: Remote server returned
        # validation error". These are the FastAPI and cadwyn of 3.0.6's time (August 2025).
        "fastapi==0.116.1",
        "cadwyn==5.4.4",
        # universal-pathlib 0.3 rewrote UPath's internals that 3.0.6's ObjectStoragePath
        # subclasses: `file://` paths fail with "_IncompatibleProtocolError: ObjectStoragePath(...)
        # detected protocol file …". 0.2.6 is the last 0.2 release.
        "universal-pathlib==0.2.6",
    ],
    "3.3.2": [
        # The versions the suite was proven with before this file was generated (moto is pinned
        # by the `test` extra; boto3/botocore/s3transfer follow from RESOLUTION).
        "fastapi==0.136.3",
        "cadwyn==7.0.0",
    ],
}


def extras() -> list[str]:
    """Every extra of ``setup.cfg``'s ``[options.extras_require]``."""
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    if not cfg.has_section("options.extras_require"):
        return []
    return sorted(cfg["options.extras_require"])


def generate(version: str, seed: bool = True) -> str:
    """The constraints file's text for Airflow ``version``."""
    if seed and version not in SEEDS:
        sys.exit(f"no seed for Airflow {version}: add one to SEEDS in {Path(__file__).name}")
    seeds = SEEDS.get(version, []) if seed else []
    pins = [*RESOLUTION, *seeds]
    with tempfile.TemporaryDirectory(prefix=f"constraints-{version}-") as tmp:
        env_dir = Path(tmp) / "venv"
        venv.create(env_dir, with_pip=True)
        python = str(env_dir / "bin" / "python")
        seed_file = Path(tmp) / "seed.txt"
        seed_file.write_text("".join(f"{line}\n" for line in pins))
        project = f"{REPO}[{','.join(extras())}]" if extras() else str(REPO)
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "-c", str(seed_file), f"apache-airflow=={version}", *DEPLOYMENT, "-e", project],
            check=True,
        )  # fmt: skip
        frozen = subprocess.run(
            [python, "-m", "pip", "freeze", "--exclude-editable", "--disable-pip-version-check"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    python_version = ".".join(map(str, sys.version_info[:2]))
    header = [
        f"# Airflow {version} and everything installed with it here (Python {python_version}).",
        f"# Generated by `python3 scripts/constraints.py {version}`{'' if seed else ' --no-seed'};"
        " do not edit by hand.",
        f"# Installed together: apache-airflow=={version}, this project with extras"
        f" [{','.join(extras())}], {', '.join(DEPLOYMENT)}.",
        f"# Seed (RESOLUTION and SEEDS in scripts/constraints.py): {', '.join(pins)}.",
    ]
    lines = [line for line in frozen.splitlines() if line and not line.startswith("#")]
    return "\n".join([*header, *sorted(lines, key=str.lower)]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="+", help="Airflow versions, e.g. 3.0.6 3.3.2")
    parser.add_argument("--no-seed", action="store_true", help="resolve without the seed")
    parser.add_argument("--stdout", action="store_true", help="print instead of writing")
    args = parser.parse_args()
    for version in args.versions:
        text = generate(version, seed=not args.no_seed)
        if args.stdout:
            print(text, end="")
            continue
        out = REPO / "constraints" / f"airflow-{version}.txt"
        out.parent.mkdir(exist_ok=True)
        out.write_text(text)
        print(f"wrote {out.relative_to(REPO)} ({len(text.splitlines()) - 4} packages)")


if __name__ == "__main__":
    main()
