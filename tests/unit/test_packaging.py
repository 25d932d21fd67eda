"""What the wheel carries: the license it declares, its type hints, and no dev harness; and the
Airflow versions it supports, each with generated pins that satisfy its requirements."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_license_file_matches_the_declared_license():
    project = pyproject()["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text


def test_type_hints_ship_with_the_package():
    assert (REPO / "airflow_provider_awsiam_ocsf" / "py.typed").exists()
    package_data = pyproject()["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["airflow_provider_awsiam_ocsf"]


def test_only_the_provider_package_is_shipped():
    include = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    assert include == ["airflow_provider_awsiam_ocsf*"]  # not devtools, tests or benchmarks


def test_s3_output_support_is_the_s3_extra_not_a_bare_requirement():
    # ObjectStoragePath's s3:// needs s3fs (the amazon provider's s3fs extra). s3fs brings
    # aiobotocore, whose narrow botocore range made a bare install backtrack for tens of minutes,
    # so it is this package's `s3` extra; every constraints file and CI install it.
    assert not any(
        "[s3fs]" in r or "aiobotocore" in r for r in pyproject()["project"]["dependencies"]
    )
    s3 = [Requirement(r) for r in pyproject()["project"]["optional-dependencies"]["s3"]]
    assert [(r.name, r.extras) for r in s3] == [("apache-airflow-providers-amazon", {"s3fs"})]
    assert "s3" in (REPO / "Makefile").read_text().split("EXTRAS := ")[1].splitlines()[0]


def test_common_io_is_not_required():
    # Imported nowhere: the file sink needs ObjectStoragePath (Airflow core), not common-io.
    names = [Requirement(r).name for r in pyproject()["project"]["dependencies"]]
    assert "apache-airflow-providers-common-io" not in names


# -- the supported Airflow range and its pinned versions (constraints/airflow-<version>.txt) ------


def requirements(extra: str | None = None) -> list[Requirement]:
    """The install requirements, or those of ``extra``."""
    project = pyproject()["project"]
    lines = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def pins(path: Path) -> dict[str, Version]:
    found = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            found[canonicalize_name(name)] = Version(version)
    return found


CONSTRAINTS = sorted((REPO / "constraints").glob("airflow-*.txt"))


def test_ci_proves_both_ends_of_the_supported_airflow_range():
    install_requires = requirements()
    [airflow] = [r for r in install_requires if r.name == "apache-airflow"]
    assert str(airflow.specifier) == "<3.4,>=3.0.6"
    proven = {p.stem.removeprefix("airflow-") for p in CONSTRAINTS}
    assert proven == {"3.0.6", "3.3.2"}
    for version in proven:
        assert Version(version) in airflow.specifier
    run = (REPO / ".ci" / "run").read_text()
    assert "OLDEST=3.0.6" in run and "make test " in run
    assert "not e2e or both_ends" in run  # the oldest runs every test but most e2e ones


@pytest.mark.parametrize("path", CONSTRAINTS, ids=lambda p: p.name)
def test_constraints_pin_their_airflow_and_satisfy_every_requirement(path):
    pinned = pins(path)
    assert pinned["apache-airflow"] == Version(path.stem.removeprefix("airflow-"))
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not pinned in {path.name}"
        assert pinned[name] in requirement.specifier, f"{path.name}: {name}=={pinned[name]}"


@pytest.mark.parametrize("path", CONSTRAINTS, ids=lambda p: p.name)
def test_constraints_cover_every_extra(path):
    """An extra added to pyproject.toml needs `python3 scripts/constraints.py` run again."""
    pinned = pins(path)
    for extra in pyproject()["project"]["optional-dependencies"]:
        for requirement in requirements(extra):
            name = canonicalize_name(requirement.name)
            assert name in pinned, f"extra {extra!r}: {name} is not pinned in {path.name}"
            assert pinned[name] in requirement.specifier, f"{path.name}: {name}=={pinned[name]}"
