"""pyproject.toml ships every package of harness/ and the three top-level data folders inside it
(tests/e2e/test_install.py installs the result and runs it)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
DATA = {
    "harness._builtin.scenarios": "scenarios",
    "harness._builtin.faults": "faults",
    "harness._builtin.prompts": "prompts",
}


def test_every_package_of_harness_is_listed() -> None:
    code = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "harness").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    templates = {
        ".".join(p.relative_to(ROOT).parts) for p in (ROOT / "harness").rglob("templates") if p.is_dir()
    }
    assert set(CONFIG["packages"]) == code | templates | set(DATA)


def test_the_data_folders_ship_inside_the_package() -> None:
    assert CONFIG["package-dir"] == DATA
    for package, folder in DATA.items():
        patterns = CONFIG["package-data"][package]
        files = [p.relative_to(ROOT / folder).as_posix() for p in (ROOT / folder).rglob("*") if p.is_file()]
        files = [f for f in files if "__pycache__" not in f]
        missed = [
            f
            for f in files
            if not any(
                fnmatch.fnmatch(f, pat) or fnmatch.fnmatch(f, pat.removeprefix("**/")) for pat in patterns
            )
        ]
        assert missed == [], f"{folder}/: not shipped by package-data {patterns}: {missed}"
