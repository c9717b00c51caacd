"""The project's own gates: ruff-clean code and tests, mypy-strict harness/."""

from __future__ import annotations

import re
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


def test_private_apis_of_other_packages_stay_behind_the_fence() -> None:
    """Internals of httpx, httpcore, gevent, geventhttpclient and Locust are used in one module only,
    harness/load/_compat.py, where each has a canary (tests/integration/load/test_private_api_canaries.py)."""
    fence = ROOT / "harness" / "load" / "_compat.py"
    pkgs = r"(?:httpx|httpcore|gevent|geventhttpclient|locust|zmq)"
    # private modules and their names: gevent._waiter, httpx._client.UseClientDefault
    private_module = re.compile(rf"\b{pkgs}(?:\.[a-zA-Z]\w*)*\._[a-zA-Z]\w*")
    # their private attributes we know of (our own classes may use such names on self)
    private_attr = re.compile(r"(?<!self)\.(?:_sock|_read_event|_write_event|_pool|_transport|_response)\b")
    offenders = []
    for path in (ROOT / "harness").rglob("*.py"):
        if path == fence:
            continue
        for no, line in enumerate(path.read_text().splitlines(), 1):
            code = re.sub(r"\bharness(?:\.\w+)+", "", line)  # our own modules may be private
            if private_module.search(code) or private_attr.search(code):
                offenders.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()}")
    assert offenders == []


def test_test_modules_have_unique_names() -> None:
    """pytest imports test files by their base name (the folders are no packages): two files of one name
    make the second fail to collect."""
    seen: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        seen.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}
