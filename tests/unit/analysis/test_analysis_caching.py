"""Prompt-caching figures per contender, worked out by hand, and the report section that shows them."""

from __future__ import annotations

import pytest
from conftest import run_info
from factories import make_record, records_frame

from harness.analysis import analyse
from harness.record import RequestRecord
from harness.report import render_html, summary

# a1 (A's endpoint, Anthropic-style prices): input $3, cache read $0.30, cache write $3.75 per million
PRICES = {"input_per_mtok": 3.0, "cached_input_per_mtok": 0.3, "cache_write_per_mtok": 3.75}


def _rec(i: int, contender: str, *, cached: int, write: int, ttft: float, cost: float) -> RequestRecord:
    t0 = 10.0 + i
    return make_record(
        request_id=f"{contender}{i}",
        contender=contender,
        endpoint="a1" if contender == "A" else "b1",
        dialect="anthropic-messages" if contender == "A" else "openai-chat",
        t_intended=t0,
        t_dispatch=t0,
        t_first_token=t0 + ttft,
        t_last_token=t0 + ttft + 0.5,
        t_end=t0 + ttft + 0.5,
        status=200,
        input_tokens=4000,
        cached_input_tokens=cached,
        cache_write_tokens=write,
        cache_write_1h_tokens=0,
        output_tokens=0,
        cost_usd=cost,
    )


def _analysis():
    # A: the first request writes 3,900 tokens of a 4,000-token prompt, the next three read them
    #   write:  100 x 3.00 + 3900 x 3.75 = 300 + 14625 = 14925 µ$
    #   read:   100 x 3.00 + 3900 x 0.30 = 300 +  1170 =  1470 µ$
    records = [
        _rec(0, "A", cached=0, write=3900, ttft=0.80, cost=0.014925),
        _rec(1, "A", cached=3900, write=0, ttft=0.20, cost=0.00147),
        _rec(2, "A", cached=3900, write=0, ttft=0.30, cost=0.00147),
        _rec(3, "A", cached=3900, write=0, ttft=0.25, cost=0.00147),
    ]
    records += [_rec(i, "B", cached=0, write=0, ttft=0.8, cost=0.012) for i in range(4)]
    info = run_info(
        endpoints=[
            {"name": "a1", "dialect": "anthropic-messages", "model": "m", "price": PRICES},
            {"name": "b1", "dialect": "openai-chat", "model": "m", "price": {"input_per_mtok": 3.0}},
        ]
    )
    return analyse(records_frame(records), [], info)


def test_hit_ratio_ttft_and_money_saved_by_hand() -> None:
    a = _analysis()
    A, B = a.caching["A"], a.caching["B"]
    assert (A["requests"], A["requests_with_hit"]) == (4, 3)
    assert A["request_hit_share"] == pytest.approx(0.75)
    assert A["token_hit_ratio"] == pytest.approx(3 * 3900 / (4 * 4000))  # 0.73125
    assert A["ttft_hit_p50_s"] == pytest.approx(0.25)  # median of 0.20, 0.30, 0.25
    assert A["ttft_miss_p50_s"] == pytest.approx(0.80)
    # saved: 3 reads x 3900 x (3.00 - 0.30) - 3900 x (3.75 - 3.00) = 31590 - 2925 = 28665 µ$
    assert A["saved_usd"] == pytest.approx(0.028665)
    # cost + saved is the bill without a cache: 4 x 4000 x 3.00 = 48000 µ$
    assert A["cost_usd"] + A["saved_usd"] == pytest.approx(0.048)
    assert A["saved_share"] == pytest.approx(0.028665 / 0.048)
    assert B["token_hit_ratio"] == 0 and B["saved_usd"] == 0 and B["requests_with_hit"] == 0
    assert B["ttft_hit_p50_s"] is None and B["ttft_miss_p95_s"] == pytest.approx(0.8)
    assert summary(a)["caching"]["A"]["saved_usd"] == pytest.approx(0.028665)


def test_report_shows_the_caching_section_only_when_something_was_cached() -> None:
    html = render_html(_analysis())
    section = html[html.index('<h3 id="caching">') : html.index("</table>", html.index('id="caching-table"'))]
    assert "Prompt caching" in section
    row_a = section[section.index('<td class="l">A</td>') :].split("</tr>")[0]
    assert "73.1 %" in row_a and "75.0 %" in row_a  # token hit ratio, requests with a hit
    assert "250 ms" in row_a and "800 ms" in row_a  # TTFT p50 with and without a hit
    assert "$0.0287" in row_a and "59.7 %" in row_a  # saved, and its share of the uncached bill
    plain = [make_record(request_id=f"q{i}", t_intended=10.0 + i, input_tokens=50) for i in range(3)]
    quiet = analyse(records_frame(plain), [], run_info())
    assert quiet.caching == {} and 'id="caching"' not in render_html(quiet)
    assert "caching" not in summary(quiet)
