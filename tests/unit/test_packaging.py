"""What the wheel carries: the license it declares, its type hints, and no dev harness; and the
Airflow versions it supports, each with generated pins that satisfy its requirements."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO


def metadata() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    return cfg


def test_license_file_matches_the_declared_license():
    cfg = metadata()
    assert cfg["metadata"]["license"] == "Apache-2.0"
    assert cfg["metadata"]["license_files"].strip() == "LICENSE"
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text


def test_type_hints_ship_with_the_package():
    assert (REPO / "airflow_provider_awsiam_ocsf" / "py.typed").exists()
    assert "py.typed" in metadata()["options.package_data"]["airflow_provider_awsiam_ocsf"]


def test_only_the_provider_package_is_shipped():
    include = metadata()["options.packages.find"]["include"].split()
    assert include == ["airflow_provider_awsiam_ocsf*"]  # not devtools, tests or benchmarks


def test_s3_output_support_is_installed_with_the_package():
    # ObjectStoragePath's s3:// needs s3fs, which the amazon provider pulls only with this extra.
    requires = metadata()["options"]["install_requires"].split()
    assert any(r.startswith("apache-airflow-providers-amazon[s3fs]") for r in requires)


# -- the supported Airflow range and its pinned versions (constraints/airflow-<version>.txt) ------


def requirements(section: str, key: str) -> list[Requirement]:
    lines = metadata()[section][key].splitlines()
    return [Requirement(line) for line in (raw.strip() for raw in lines) if line and line[0] != "#"]


def pins(path: Path) -> dict[str, Version]:
    found = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            found[canonicalize_name(name)] = Version(version)
    return found


CONSTRAINTS = sorted((REPO / "constraints").glob("airflow-*.txt"))


def test_ci_proves_both_ends_of_the_supported_airflow_range():
    install_requires = requirements("options", "install_requires")
    [airflow] = [r for r in install_requires if r.name == "apache-airflow"]
    assert str(airflow.specifier) == "<3.4,>=3.0.6"
    proven = {p.stem.removeprefix("airflow-") for p in CONSTRAINTS}
    assert proven == {"3.0.6", "3.3.2"}
    for version in proven:
        assert Version(version) in airflow.specifier
    run = (REPO / ".ci" / "run").read_text()
    assert "OLDEST=3.0.6" in run and "make test\n" in run


@pytest.mark.parametrize("path", CONSTRAINTS, ids=lambda p: p.name)
def test_constraints_pin_their_airflow_and_satisfy_every_requirement(path):
    pinned = pins(path)
    assert pinned["apache-airflow"] == Version(path.stem.removeprefix("airflow-"))
    for requirement in requirements("options", "install_requires"):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not pinned in {path.name}"
        assert pinned[name] in requirement.specifier, f"{path.name}: {name}=={pinned[name]}"


@pytest.mark.parametrize("path", CONSTRAINTS, ids=lambda p: p.name)
def test_constraints_cover_every_extra(path):
    """An extra added to setup.cfg needs `python3 scripts/constraints.py` run again."""
    pinned = pins(path)
    for extra in metadata()["options.extras_require"]:
        for requirement in requirements("options.extras_require", extra):
            name = canonicalize_name(requirement.name)
            assert name in pinned, f"extra {extra!r}: {name} is not pinned in {path.name}"
            assert pinned[name] in requirement.specifier, f"{path.name}: {name}=={pinned[name]}"
