"""One in-process simulator for the sim integration tests, with ground truth, on 127.0.0.1:0."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.sim import SimBehaviour, SimConfig, SimEndpoint, SimThread, serve_in_thread

FAST = {"ttft_ms": 20, "ttft_jitter_ms": 2, "tokens_per_s": 2000, "output_tokens_default": 24}


def _ep(name: str, dialect: str, model: str, key: str | None = None, **behaviour: object) -> SimEndpoint:
    return SimEndpoint(
        name=name,
        dialect=dialect,  # type: ignore[arg-type]
        model=model,
        api_key=key,
        behaviour=SimBehaviour.model_validate({**FAST, **behaviour}),
    )


ENDPOINTS = [
    _ep("oa", "openai-chat", "gpt-sim", key="sk-oa"),
    _ep("an", "anthropic-messages", "claude-sim", key="sk-an"),
    _ep("az", "azure-openai", "dep-1", key="az-key"),
    _ep("oa500", "openai-chat", "gpt-sim", error_rates={500: 1.0}),
    _ep("an529", "anthropic-messages", "claude-sim", error_rates={529: 1.0}),
    _ep("oa429", "openai-chat", "gpt-sim", rpm_limit=600, rate_limit_window_s=0.1),
    _ep("oamid", "openai-chat", "gpt-sim", midstream_error_rate=1.0),
    _ep("anmid", "anthropic-messages", "claude-sim", midstream_error_rate=1.0),
    _ep("oacut", "openai-chat", "gpt-sim", midstream_close_rate=1.0, midstream_close_mode="rst"),
    _ep("oastall", "openai-chat", "gpt-sim", stall_rate=1.0, stall_ms=300, tokens_per_s=200),
    _ep("oagt", "openai-chat", "gpt-sim", tokens_per_s=100, token_jitter_frac=0.0, output_tokens_default=10),
]


@pytest.fixture(scope="session")
def gt_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sim") / "ground_truth.jsonl"


@pytest.fixture(scope="session")
def sim(gt_path: Path) -> Iterator[SimThread]:
    with serve_in_thread(SimConfig(seed=11, endpoints=ENDPOINTS), ground_truth=gt_path) as s:
        yield s
