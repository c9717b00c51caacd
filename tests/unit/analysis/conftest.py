"""Literal record frames for analysis tests: a few attempts with hand-picked times and costs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from harness.record import RECORD_FIELDS, RequestRecord


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


def manifest(**kw: Any) -> dict[str, Any]:
    m: dict[str, Any] = {
        "run_id": "r",
        "scenario": {"name": "s", "description": "", "path": "s.yaml"},
        "seed": 1,
        "interrupted": False,
        "duration_s": 100.0,
        "elapsed_s": 100.0,
        "contenders": [
            {"name": "A", "primary": "a1", "fallbacks": ["a2"]},
            {"name": "B", "primary": "b1", "fallbacks": []},
        ],
        "load": {"warmup": 0.0, "cooldown": 0.0, "duration": 100.0},
        "faults": [],
        "slo": {"ttft": 1.0, "tpot": 0.1, "e2e": 5.0, "max_error_rate": 0.05, "min_good_fraction": 0.9},
        "monthly_requests": 1000,
    }
    m.update(kw)
    return m


@pytest.fixture
def make() -> Callable[..., dict[str, Any]]:
    return rec
