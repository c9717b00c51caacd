"""The accuracy benchmark still runs end to end (tiny sizes; no performance asserted here)."""

from __future__ import annotations

import math
import subprocess
import sys


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
