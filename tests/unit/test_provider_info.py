"""What the providers manager is told: every hook and operator module the package ships."""

from __future__ import annotations

import importlib

from airflow_provider_awsiam_ocsf import get_provider_info
from tests.conftest import REPO

PACKAGE = REPO / "airflow_provider_awsiam_ocsf"


def modules_of(folder: str, *, besides: tuple[str, ...] = ()) -> set[str]:
    return {
        f"airflow_provider_awsiam_ocsf.{folder}.{path.stem}"
        for path in (PACKAGE / folder).glob("*.py")
        if path.stem not in ("__init__", *besides)
    }


def registered(kind: str) -> set[str]:
    return {module for entry in get_provider_info()[kind] for module in entry["python-modules"]}


def test_every_operator_module_is_registered():
    assert registered("operators") == modules_of("operators", besides=("base",))


def test_every_hook_module_is_registered():
    assert registered("hooks") == modules_of("hooks", besides=("base",))


def test_every_registered_module_imports():
    for module in registered("operators") | registered("hooks"):
        importlib.import_module(module)
