"""Cost arithmetic, hand-computed: cache reads and writes, tiers, reasoning, fee, LiteLLM import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.client import price_attempt
from harness.config import Price, PriceTier, resolve_price


def cost(
    price: Price,
    dialect: str = "openai-chat",
    *,
    inp: int = 0,
    cached: int | None = None,
    write: int | None = None,
    out: int = 0,
    reasoning: int | None = None,
) -> float:
    return price_attempt(
        price,
        input_tokens=inp,
        cached_input_tokens=cached,
        cache_write_tokens=write,
        output_tokens=out,
        reasoning_tokens=reasoning,
        dialect=dialect,
    )


def test_openai_prompt_tokens_include_cached() -> None:
    p = Price(input_per_mtok=2.5, cached_input_per_mtok=1.25, output_per_mtok=10.0)
    # 1200 prompt tokens of which 1024 cached: 176 x 2.5 + 1024 x 1.25 + 300 x 10 = 4720 µ$
    assert cost(p, inp=1200, cached=1024, out=300) == pytest.approx(0.004720)


def test_anthropic_input_tokens_exclude_cache_reads_and_writes() -> None:
    p = Price(input_per_mtok=3.0, cached_input_per_mtok=0.3, cache_write_per_mtok=3.75, output_per_mtok=15.0)
    # 21 x 3 + 2000 x 0.3 + 100 x 3.75 + 50 x 15 = 63 + 600 + 375 + 750 = 1788 µ$
    assert cost(p, "anthropic-messages", inp=21, cached=2000, write=100, out=50) == pytest.approx(0.001788)


def test_same_numbers_different_convention() -> None:
    p = Price(input_per_mtok=3.0, cached_input_per_mtok=0.3)
    assert cost(p, "openai-chat", inp=1000, cached=800) == pytest.approx((200 * 3 + 800 * 0.3) / 1e6)
    assert cost(p, "azure-openai", inp=1000, cached=800) == pytest.approx((200 * 3 + 800 * 0.3) / 1e6)
    assert cost(p, "anthropic-messages", inp=1000, cached=800) == pytest.approx((1000 * 3 + 800 * 0.3) / 1e6)


TIERED = Price(
    input_per_mtok=1.25,
    cached_input_per_mtok=0.125,
    output_per_mtok=10.0,
    tiers=[
        PriceTier(
            above_input_tokens=200_000, input_per_mtok=2.5, cached_input_per_mtok=0.25, output_per_mtok=15.0
        )
    ],
)


def test_tier_applies_above_threshold() -> None:
    # 250k prompt (50k cached) > 200k: 200000 x 2.5 + 50000 x 0.25 + 1000 x 15 = 527500 µ$
    assert cost(TIERED, inp=250_000, cached=50_000, out=1000) == pytest.approx(0.5275)


def test_tier_not_applied_at_or_below_threshold() -> None:
    assert cost(TIERED, inp=100_000, out=1000) == pytest.approx(0.135)  # 125000 + 10000 µ$
    assert cost(TIERED, inp=200_000, out=0) == pytest.approx(0.25)  # exactly 200k is not "above"


def test_tier_counts_anthropic_cache_in_prompt_size() -> None:
    # native input 1000 + 199500 cache read = 200500 prompt tokens: tiered
    assert cost(TIERED, "anthropic-messages", inp=1000, cached=199_500) == pytest.approx(
        (1000 * 2.5 + 199_500 * 0.25) / 1e6
    )


def test_reasoning_priced_apart_only_when_set() -> None:
    assert cost(Price(output_per_mtok=10.0, reasoning_per_mtok=20.0), out=100, reasoning=60) == pytest.approx(
        (40 * 10 + 60 * 20) / 1e6
    )
    assert cost(Price(output_per_mtok=10.0), out=100, reasoning=60) == pytest.approx(1000 / 1e6)


def test_cache_prices_default_to_input_price_and_fee_is_added() -> None:
    p = Price(input_per_mtok=2.0, per_request=0.01)
    assert cost(p, inp=1000, cached=400, out=0) == pytest.approx(0.002 + 0.01)
    assert cost(p, "anthropic-messages", inp=10, write=90) == pytest.approx(100 * 2.0 / 1e6 + 0.01)


def test_missing_usage_costs_only_the_fee() -> None:
    p = Price(input_per_mtok=2.0, output_per_mtok=8.0)
    assert (
        price_attempt(
            p,
            input_tokens=None,
            cached_input_tokens=None,
            cache_write_tokens=None,
            output_tokens=None,
            reasoning_tokens=None,
            dialect="openai-chat",
        )
        == 0.0
    )


def test_litellm_import_prices_like_inline(tmp_path: Path) -> None:
    table = {
        "sample_spec": {"input_cost_per_token": 0},
        "claude-x": {
            "input_cost_per_token": 3e-6,
            "output_cost_per_token": 1.5e-5,
            "cache_read_input_token_cost": 3e-7,
            "cache_creation_input_token_cost": 3.75e-6,
            "input_cost_per_token_above_200k_tokens": 6e-6,
            "output_cost_per_token_above_200k_tokens": 2.25e-5,
            "litellm_provider": "anthropic",
        },
    }
    (tmp_path / "prices.json").write_text(json.dumps(table))
    price, problem = resolve_price(Price(litellm={"file": "prices.json", "model": "claude-x"}), tmp_path)
    assert problem is None
    assert cost(price, "anthropic-messages", inp=21, cached=2000, write=100, out=50) == pytest.approx(
        0.001788
    )
    # above 200k: 210000 x 6 + 500 x 22.5 (cache read has no tier price: base 0.3 stays)
    assert cost(price, "anthropic-messages", inp=210_000, out=500) == pytest.approx(
        (210_000 * 6 + 500 * 22.5) / 1e6
    )


@given(
    uncached=st.integers(0, 10**6),
    cached=st.integers(0, 10**6),
    write=st.integers(0, 10**5),
    out=st.integers(0, 10**5),
    reasoning=st.integers(0, 10**5),
)
def test_conventions_agree_and_cost_never_negative(
    uncached: int, cached: int, write: int, out: int, reasoning: int
) -> None:
    p = Price(
        input_per_mtok=3.0,
        cached_input_per_mtok=0.3,
        cache_write_per_mtok=3.75,
        output_per_mtok=15.0,
        reasoning_per_mtok=20.0,
        tiers=[PriceTier(above_input_tokens=200_000, input_per_mtok=6.0)],
    )
    anthropic = cost(
        p, "anthropic-messages", inp=uncached, cached=cached, write=write, out=out, reasoning=reasoning
    )
    openai = cost(
        p,
        "openai-chat",
        inp=uncached + cached + write,
        cached=cached,
        write=write,
        out=out,
        reasoning=reasoning,
    )
    assert anthropic == pytest.approx(openai) and anthropic >= 0
    assert cost(p, inp=uncached + cached, cached=cached, out=out + 1) > cost(
        p, inp=uncached + cached, cached=cached, out=out
    )


def test_one_hour_cache_writes_priced_apart_and_imported_from_litellm(tmp_path: Path) -> None:
    table = {
        "claude-x": {
            "input_cost_per_token": 3e-6,
            "output_cost_per_token": 1.5e-5,
            "cache_read_input_token_cost": 3e-7,
            "cache_creation_input_token_cost": 3.75e-6,
            "cache_creation_input_token_cost_above_1hr": 6e-6,
        },
    }
    (tmp_path / "prices.json").write_text(json.dumps(table))
    price, problem = resolve_price(Price(litellm={"file": "prices.json", "model": "claude-x"}), tmp_path)
    assert problem is None and price.cache_write_1h_per_mtok == pytest.approx(6.0)
    # 21 x 3 + 2000 x 0.3 + (1000 - 600) x 3.75 + 600 x 6 + 50 x 15 = 63 + 600 + 1500 + 3600 + 750 = 6513 µ$
    got = price_attempt(
        price,
        input_tokens=21,
        cached_input_tokens=2000,
        cache_write_tokens=1000,
        cache_write_1h_tokens=600,
        output_tokens=50,
        reasoning_tokens=None,
        dialect="anthropic-messages",
    )
    assert got == pytest.approx(0.006513)
    # without a 1-hour price, 1-hour writes cost the (5-minute) write price
    plain = Price(input_per_mtok=3.0, cache_write_per_mtok=3.75)
    got = price_attempt(
        plain,
        input_tokens=0,
        cached_input_tokens=0,
        cache_write_tokens=1000,
        cache_write_1h_tokens=600,
        output_tokens=0,
        reasoning_tokens=None,
        dialect="anthropic-messages",
    )
    assert got == pytest.approx(1000 * 3.75 / 1e6)
