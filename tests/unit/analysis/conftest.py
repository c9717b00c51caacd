"""The run manifest analysis tests share (records and frames come from tests/factories.py)."""

from __future__ import annotations

from typing import Any


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
