"""The run manifest analysis tests share (records and frames come from tests/factories.py)."""

from __future__ import annotations

from typing import Any

from harness.record import Manifest, RunEnd, RunInfo


def run_info(**kw: Any) -> RunInfo:
    """A run's manifest and end, written the way the tests read best: dict fields, ``interrupted`` and
    ``elapsed_s`` at the top level (they become the RunEnd; ``ended_at=None``: no end was written)."""
    m: dict[str, Any] = {
        "run_id": "r",
        "scenario": {"name": "s", "description": "", "path": "s.yaml"},
        "seed": 1,
        "started_at": "2026-01-01T00:00:00+00:00",
        "duration_s": 100.0,
        "contenders": [
            {"name": "A", "primary": "a1", "fallbacks": ["a2"]},
            {"name": "B", "primary": "b1", "fallbacks": []},
        ],
        "load": {"warmup": 0.0, "cooldown": 0.0, "duration": 100.0},
        "faults": [],
        "slo": {"ttft": 1.0, "tpot": 0.1, "e2e": 5.0, "max_error_rate": 0.05, "min_good_fraction": 0.9},
        "monthly_requests": 1000,
    }
    interrupted = bool(kw.pop("interrupted", False))
    elapsed = float(kw.pop("elapsed_s", 100.0) or 0.0)
    written = kw.pop("ended_at", "") is not None
    m.update(kw)
    m["load"] = {"duration": 100.0, **m["load"]}
    end = RunEnd(
        ended_at="2026-01-01T00:02:00+00:00",
        ended="interrupted" if interrupted else "completed",
        elapsed_s=elapsed,
    )
    return RunInfo(Manifest.model_validate(m), end if written else None)


def manifest(**kw: Any) -> Manifest:
    return run_info(**kw).manifest
