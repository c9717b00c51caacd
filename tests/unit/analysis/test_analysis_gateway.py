"""A gateway that fell back or served another model is a risk the analysis names (issue 17, part 5).
The LiteLLM 1.108 case: 200 with ``x-litellm-attempted-fallbacks: 1`` and another served model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import run_info
from factories import record_row, records_frame

from harness.analysis import analyse
from harness.analysis._gateway import _factorize_with_na, same_model


@pytest.mark.parametrize(
    ("requested", "served"),
    [
        ("gpt-4o", "gpt-4o-2024-08-06"),  # OpenAI answers with the dated snapshot
        ("gpt-4o", "gpt-4o"),
        ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),  # Anthropic alias → snapshot
        ("claude-3-5-haiku-latest", "claude-3-5-haiku-20241022"),
        ("gemini-2.0-flash", "gemini-2.0-flash-001"),  # Gemini's modelVersion
        ("openai/gpt-4o", "gpt-4o-2024-08-06"),  # a router's provider prefix
        ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama/llama-3.1-8b-instruct"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
    ],
)
def test_the_same_model_under_its_snapshot_names(requested: str, served: str) -> None:
    assert same_model(requested, served)


@pytest.mark.parametrize(
    ("requested", "served"),
    [
        ("gpt-4o", "gpt-4o-mini"),  # a prefix, but another model
        ("gpt-4o", "claude-3-5-haiku-20241022"),  # the LiteLLM fallback
        ("claude-sonnet-4-5", "claude-haiku-4-5-20251001"),
        ("llama-3.1-70b", "llama-3.1-8b"),
    ],
)
def test_another_model(requested: str, served: str) -> None:
    assert not same_model(requested, served)


def _rows(contender: str, endpoint: str, n: int, **fields: Any) -> list[dict[str, Any]]:
    """``n`` answered requests of gpt-4o (served as its dated snapshot); every fifth (40 of 200) with
    ``fields`` instead."""
    rows = []
    for i in range(n):
        base: dict[str, Any] = {
            "contender": contender,
            "endpoint": endpoint,
            "request_id": f"{contender}{i}",
            "model_requested": "gpt-4o",
            "model_served": "gpt-4o-2024-08-06",
            "t_intended": i * 0.5,
            "t_dispatch": i * 0.5,
            "t_first_token": i * 0.5 + 0.2,
            "t_last_token": i * 0.5 + 0.4,
            "t_end": i * 0.5 + 0.41,
            "output_tokens": 20,
        }
        rows.append(record_row(**{**base, **(fields if i % 5 == 0 else {})}))
    return rows


def test_a_gateway_fallback_to_another_model_is_a_risk_with_the_numbers() -> None:
    fell = {"gateway_fallbacks": 1, "model_served": "claude-3-5-haiku-20241022"}
    rows = _rows("A", "a1", 200, **fell) + _rows("B", "b1", 200)
    a = analyse(records_frame(rows), [], run_info())
    texts = [r["text"] for r in a.risks if r["contender"] == "A" and "gateway" in r["text"]]
    assert texts == [
        "A: its gateway fell back to another deployment on 40 of 200 answers (x-litellm-attempted-fallbacks) "
        "and 40 of 200 answers came from another model than the one requested (asked for gpt-4o, served by "
        "claude-3-5-haiku-20241022): its numbers partly measure what the gateway routed to, not only the "
        "model under evaluation."
    ]
    assert not [r for r in a.risks if r["contender"] == "B" and "gateway" in r["text"]]
    assert a.observability["A"]["model_pinning"] == pytest.approx(160 / 200)
    assert a.observability["B"]["model_pinning"] == 1.0  # dated snapshots are the model asked for


def test_a_fallback_to_the_same_model_is_still_named() -> None:
    rows = _rows("A", "a1", 200, gateway_fallbacks=2) + _rows("B", "b1", 200)
    a = analyse(records_frame(rows), [], run_info())
    (text,) = [r["text"] for r in a.risks if r["contender"] == "A" and "gateway" in r["text"]]
    assert "fell back to another deployment on 40 of 200 answers" in text and "another model" not in text


def test_retries_inside_the_gateway_are_named() -> None:
    rows = _rows("A", "a1", 200, gateway_retries=2) + _rows("B", "b1", 200, gateway_retries=0)
    a = analyse(records_frame(rows), [], run_info())
    texts = [r["text"] for r in a.risks if "gateway" in r["text"]]
    assert texts == [
        "A: its gateway retried 40 of 200 answers before answering (x-litellm-attempted-retries; their time "
        "is in the latency): the gateway's own retries are part of what was measured."
    ]


def test_azure_deployment_names_are_not_model_names() -> None:
    rows = _rows("A", "a1", 200, dialect="azure-openai", model_requested="prod-deployment") + _rows(
        "B", "b1", 200
    )
    a = analyse(records_frame(rows), [], run_info())
    assert not [r for r in a.risks if "gateway" in r["text"]]


def test_old_records_without_gateway_fields_say_nothing() -> None:
    frame = records_frame(_rows("A", "a1", 50) + _rows("B", "b1", 50)).drop(
        columns=["gateway_fallbacks", "gateway_retries"]
    )
    a = analyse(frame, [], run_info())
    assert not [r for r in a.risks if "gateway" in r["text"]]


def test_model_names_are_coded_as_a_factorize_with_a_nan_group_codes_them() -> None:
    rng = np.random.default_rng(1)
    pool = np.array(["a", "b", "c", "d", "e", None, np.nan, pd.NA], dtype=object)
    for _ in range(2000):
        values = pool[rng.integers(0, int(rng.integers(1, len(pool) + 1)), int(rng.integers(0, 30)))]
        want_codes, want_names = pd.factorize(values, use_na_sentinel=False)
        for given in (values, pd.Categorical(values)):  # the attempt arrays hold categoricals
            codes, names = _factorize_with_na(given)
            assert codes.tolist() == want_codes.tolist() and codes.dtype == want_codes.dtype
            assert [str(n) for n in names] == [str(n) for n in want_names]
