"""What the wheel carries: the license it declares, its type hints, and no dev harness."""

from __future__ import annotations

import configparser

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
