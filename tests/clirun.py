"""The real ``bakeoff`` command as a process, for tests (``from clirun import ...``).

One place knows how a test starts ``bakeoff`` (``python -m harness.cli``, this checkout first on the
path, the test's environment plus what it adds) and where a run's folder is (the last line a run
prints), so a test names only its arguments and the exit code it expects.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "ROOT",
    "SCRUB",
    "SCRUB_PREFIXES",
    "bakeoff",
    "bakeoff_popen",
    "bakeoff_run",
    "cli_env",
    "run_dir_of",
]

SCRUB_PREFIXES = ("BAKEOFF", "OPENAI_", "ANTHROPIC_", "AZURE_OPENAI", "GEMINI_", "AWS_")
"""Environment a test never inherits: real vendor keys and bakeoff settings of whoever runs the tests."""
SCRUB = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)

ROOT = Path(__file__).resolve().parents[1]
BAKEOFF = [sys.executable, "-m", "harness.cli"]


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without real keys, bakeoff settings or proxies, plus ``extra``."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    kept = {k: v for k, v in os.environ.items() if not (k.startswith(SCRUB_PREFIXES) or k in SCRUB)}
    return {**kept, "PYTHONPATH": path, **(extra or {})}


def bakeoff(
    *args: str | Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``bakeoff ARGS...`` to completion; stdout and stderr captured as text."""
    return subprocess.run(
        [*BAKEOFF, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd or ROOT,
        env=cli_env(env),
    )


def bakeoff_popen(*args: str | Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """``bakeoff ARGS...`` started in its own session (a test may signal it), pipes as text."""
    return subprocess.Popen(
        [*BAKEOFF, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(env),
        start_new_session=True,
    )


def run_dir_of(stdout: str) -> Path:
    """The run folder a ``bakeoff run`` printed (its last line: report.html, or the folder itself)."""
    last = Path(stdout.strip().splitlines()[-1])
    return last.parent if last.name == "report.html" else last


def bakeoff_run(
    scenario: str | Path,
    out: Path,
    *extra: str,
    env: Mapping[str, str] | None = None,
    exit_code: int = 0,
    timeout: float = 120,
) -> Path:
    """``bakeoff run SCENARIO --out OUT --quiet EXTRA...``; asserts the exit code, returns the run folder."""
    proc = bakeoff("run", scenario, "--out", out, "--quiet", *extra, env=env, timeout=timeout)
    assert proc.returncode == exit_code, proc.stderr[-3000:]
    return run_dir_of(proc.stdout)
