"""The README's layout map (under "Developing") names every module the package ships and every
top-level folder of the repository: a module added without a line there fails here."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "airflow_provider_awsiam_ocsf"


def layout_map() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Developing\n", 1)[1]
    return section.split("```", 2)[1]


def tracked(*paths: str) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", *paths], cwd=REPO, capture_output=True, text=True, check=True
    )
    return listed.stdout.split()


def test_every_shipped_module_is_in_the_layout_map():
    words = set(re.findall(r"[\w.]+", layout_map()))
    modules = [
        Path(path)
        for path in tracked(PACKAGE)
        if path.endswith(".py") and not path.endswith("__init__.py")
    ]
    assert modules, "git ls-files found no module: not a checkout?"
    missing = [str(m) for m in modules if m.stem not in words and m.name not in words]
    assert not missing, f"README layout map lacks {missing}"


def test_every_top_level_folder_is_in_the_layout_map():
    text = layout_map()
    folders = {path.split("/", 1)[0] for path in tracked() if "/" in path}
    folders -= {".ci", ".github"}
    missing = sorted(f for f in folders if f"{f}/" not in text and f"{f}," not in text)
    assert not missing, f"README layout map lacks {missing}"
