"""Hermetic environment for every test: no proxies, no real vendor keys, no BAKEOFF__ settings; and the
one real run the report tests share."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from clirun import SCRUB, SCRUB_PREFIXES


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(SCRUB_PREFIXES) or name in SCRUB:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real ``bakeoff run`` of tests/e2e/short.yaml (three simulated vendors, the embedded proxy, an
    outage; about 30 s), made once per session: report tests check real run folders, not only synthetic
    ones."""
    from clirun import ROOT, bakeoff

    out = tmp_path_factory.mktemp("real-run")
    proc = bakeoff("run", ROOT / "tests" / "e2e" / "short.yaml", "--out", out, "--quiet", timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.endswith("report.html"), proc.stdout
    return Path(last).parent
