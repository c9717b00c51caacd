"""Time to first output apart from TTFT, its SLO and gate, reasoning tokens and their share of cost."""

from __future__ import annotations

import pytest
from conftest import manifest, run_info
from factories import record_row, records_frame

from harness.analysis import analyse, good_mask, logical_requests, slo_settings
from harness.analysis._risks import gate_checks

PRICES = [
    {"name": "a1", "dialect": "openai-chat", "model": "m", "price": {"output_per_mtok": 10.0}},
    {
        "name": "b1",
        "dialect": "anthropic-messages",
        "model": "m",
        "price": {"output_per_mtok": 10.0, "reasoning_per_mtok": 4.0},
    },
]


def _rows() -> list[dict]:
    """A: answers after 2 s of thinking (first token at 0.2 s, first output at 2.2 s); B: no thinking."""
    rows = []
    for i in range(10):
        t0 = float(i)
        rows.append(
            record_row(
                request_id=f"a{i}",
                t_intended=t0,
                t_dispatch=t0,
                t_first_token=t0 + 0.2,
                t_first_output=t0 + 2.2,
                t_last_token=t0 + 3.0,
                t_end=t0 + 3.0,
                output_tokens=300,
                reasoning_tokens=200,
                cost_usd=0.003,  # 300 output tokens × $10/M
            )
        )
        rows.append(
            record_row(
                request_id=f"b{i}",
                contender="B",
                endpoint="b1",
                dialect="anthropic-messages",
                t_intended=t0,
                t_dispatch=t0,
                t_first_token=t0 + 0.3,
                t_first_output=t0 + 0.3,
                t_last_token=t0 + 1.0,
                t_end=t0 + 1.0,
                output_tokens=100,
                cost_usd=0.001,
            )
        )
    return rows


def test_time_to_first_output_is_measured_apart_from_ttft() -> None:
    lg = logical_requests(records_frame(_rows()), manifest(endpoints=PRICES)).set_index("request_id")
    assert lg.loc["a3", "ttft"] == pytest.approx(0.2)
    assert lg.loc["a3", "ttfot"] == pytest.approx(2.2)
    assert lg.loc["b3", "user_ttfot"] == pytest.approx(0.3)
    assert lg.loc["a3", "reasoning_cost"] == pytest.approx(200 * 10.0 / 1e6)  # priced as output


def test_an_slo_on_time_to_first_output_turns_thinking_requests_bad() -> None:
    slo = {"ttft": 1.0, "ttfot": 1.0, "e2e": 5.0, "max_error_rate": 0.05, "min_good_fraction": 0.9}
    lg = logical_requests(records_frame(_rows()), manifest(slo=slo, endpoints=PRICES))
    good = dict(zip(lg["request_id"], good_mask(lg, slo_settings(overrides=slo)), strict=True))
    assert not any(v for k, v in good.items() if k.startswith("a"))  # TTFT 0.2 s meets 1 s; 2.2 s does not
    assert all(v for k, v in good.items() if k.startswith("b"))
    # without the ttfot SLO the same requests are good: TTFT alone cannot see the thinking
    good = good_mask(lg, slo_settings(overrides={**slo, "ttfot": None}))
    assert good.all()


def test_summary_rows_and_the_ttfot_gate() -> None:
    slo = {"ttft": 1.0, "ttfot": 1.0, "max_error_rate": 0.05, "min_good_fraction": 0.9}
    info = run_info(slo=slo, endpoints=PRICES, duration_s=20.0, load={"duration": 20.0})
    a = analyse(records_frame(_rows()), [], info)
    run = a.run_rows()
    assert run["A"]["user_ttfot_p50"] == pytest.approx(2.2)
    assert run["A"]["user_ttft_p50"] == pytest.approx(0.2)
    assert run["A"]["reasoning_tokens_per_request"] == pytest.approx(200)
    # 200 of A's 300 output tokens are reasoning, all at the output price: 2/3 of its cost
    assert run["A"]["reasoning_cost_share"] == pytest.approx(200 / 300)
    assert run["B"]["reasoning_tokens_per_request"] == 0
    assert run["A"]["ttfot_met"] == 0 and run["B"]["ttfot_met"] == 1
    (check,) = gate_checks(run["A"], a.slo, ["ttfot"])
    assert check["passed"] is False and "time to first output" in check["text"]
    (check,) = gate_checks(run["B"], a.slo, ["ttfot"])
    assert check["passed"] is True


def test_a_reasoning_price_of_its_own() -> None:
    rows = [
        {**r, "reasoning_tokens": 50, "cost_usd": (50 * 10.0 + 50 * 4.0) / 1e6}
        for r in _rows()
        if r["contender"] == "B"
    ]
    lg = logical_requests(records_frame(rows), manifest(endpoints=PRICES))
    assert lg["reasoning_cost"].iloc[0] == pytest.approx(50 * 4.0 / 1e6)
