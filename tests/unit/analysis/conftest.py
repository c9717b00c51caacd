"""Literal record frames for analysis tests: a few attempts with hand-picked times and costs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from harness.record import RECORD_FIELDS, Manifest, RequestRecord, RunEnd, RunInfo


def rec(**kw: Any) -> dict[str, Any]:
    base = RequestRecord(
        run_id="r",
        request_id="q1",
        attempt=1,
        contender="A",
        endpoint="a1",
        dialect="openai-chat",
        model_requested="m",
    ).to_dict()
    base.update(outcome="ok", usage_source="reported")
    base.update(kw)
    return base


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(RECORD_FIELDS))


def run_info(**kw: Any) -> RunInfo:
    """A run's manifest and end, written the way the tests read best: dict fields, ``interrupted`` and
    ``elapsed_s`` at the top level (they become the RunEnd)."""
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
    kw.pop("ended_at", None)
    m.update(kw)
    m["load"] = {"duration": 100.0, **m["load"]}
    end = RunEnd(
        ended_at="2026-01-01T00:02:00+00:00",
        ended="interrupted" if interrupted else "completed",
        elapsed_s=elapsed,
    )
    return RunInfo(Manifest.model_validate(m), None if kw.get("ended_at", "") is None else end)


def manifest(**kw: Any) -> Manifest:
    return run_info(**kw).manifest


@pytest.fixture
def make() -> Callable[..., dict[str, Any]]:
    return rec
