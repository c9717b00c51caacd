"""The accuracy benchmark still runs end to end (tiny sizes; no performance asserted here)."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import pytest


def test_client_accuracy_bench_runs_both_paths() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.bench.client",
            "--streams",
            "2",
            "--path",
            "full,direct",
            "--seconds",
            "3",
            "--tokens",
            "8",
            "--tokens-per-s",
            "200",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith(("full ", "direct "))]
    assert [r[0] for r in rows] == ["full", "direct"], out.stdout
    for _path, streams, req, ok, *errors in (r[:11] for r in rows):
        assert streams == "2" and int(req) > 0 and ok == req, out.stdout  # every request answered
        assert all(math.isfinite(float(v)) for v in errors), out.stdout  # every column was measured


@pytest.mark.slow  # 30-45 s; the bench itself is run on demand (python -m harness.bench ...)
def test_load_bench_runs_every_phase() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.bench.load",
            "--phases",
            "abc",
            "--users",
            "8",
            "--streams",
            "20",
            "--rates",
            "30",
            "--seconds",
            "2.5",
            "--warm",
            "0.5",
            "--transport",
            "gevent",
            "--rt",
            "0",
            "--nice",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    verdicts = [line for line in out.stdout.splitlines() if line.startswith(("(a)", "(b)", "(c)"))]
    assert [v[:3] for v in verdicts] == ["(a)", "(b)", "(c)"], out.stdout
    rows = {line[:2]: line.split() for line in out.stdout.splitlines() if line[:2] in ("a ", "b ", "c ")}
    assert set(rows) == {"a ", "b ", "c "}, out.stdout
    assert rows["b "][6] == "0" and rows["c "][6] == "0", out.stdout  # no failed request in either phase


@pytest.mark.slow  # 30-45 s; the bench itself is run on demand (python -m harness.bench ...)
def test_hostile_bench_prints_the_control_beside_a_flood_and_a_case() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.bench.hostile",
            "--seconds",
            "2",
            "--rate",
            "2",
            "--users",
            "8",
            "--cases",
            "gzip_bomb",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    rows = [re.match(r"^(control alone|control \+ flood)\s+(\d+)\s+(\d+)\s", line) for line in lines]
    counts = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in rows if m}
    assert set(counts) == {"control alone", "control + flood"}, out.stdout
    assert all(n > 0 and errors == 0 for n, errors in counts.values()), out.stdout
    assert any(v.startswith("(f) control TTFT p95") for v in lines), out.stdout
    [case] = [v for v in lines if v.startswith("(c) gzip_bomb")]
    assert "every scheduled request a record PASS" in case, out.stdout
