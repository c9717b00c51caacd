"""The project's own gates: ruff-clean code and tests, mypy-strict harness/."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(
    shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff").exists(),
    reason="ruff is not installed (pip install -e '.[test]')",
)
def test_ruff_clean() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--output-format", "concise", "harness", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_mypy_strict_on_harness() -> None:
    pytest.importorskip("mypy")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "harness"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_locust_stays_inside_harness_load() -> None:
    """Locust monkey-patches the process at import: only harness/load may import it (or gevent)."""
    offenders = []
    for path in (ROOT / "harness").rglob("*.py"):
        if path.is_relative_to(ROOT / "harness" / "load"):
            continue
        for no, line in enumerate(path.read_text().splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith(("import locust", "from locust", "import gevent", "from gevent")):
                offenders.append(f"{path.relative_to(ROOT)}:{no}: {stripped}")
    assert offenders == []
