"""The adaptive capacity search's decisions (harness.analysis._search.SearchBook) on hand-made step rows:
the shared ramp, stopping a contender at its first clear failure, bisection of its bracket to the
precision, a marginal failure repeated, and the budget. Expected rates are worked out by hand here."""

from __future__ import annotations

from typing import Any

import pytest

from harness.analysis import SearchBook
from harness.config import Search

SLO = {"min_good_fraction": 0.9, "max_error_rate": 0.05, "ttft": None, "tpot": None, "e2e": None}


def row(rate: float, n: int = 20, good: int | None = None) -> dict[str, Any]:
    """A step at ``rate`` with ``n`` requests, ``good`` of them good, the rest succeeded too slowly."""
    good = n if good is None else good
    return {
        "offered_rps": rate,
        "requests": n,
        "good_fraction": good / n,
        "error_rate": 0.0,
        "schedule_lag_p95": 0.01,
        "schedule_lag_p50": 0.0,
        "user_latency_p50": 1.0 if good == n else 3.0,
        "user_ttft_p50": 0.2 if good == n else 2.2,  # slower because it queued: overload
        "bad": {"quota": 0, "overload": 0, "errors": 0, "latency": n - good},
        "ramp": False,
    }


def vendor(knee: float) -> Any:
    """A vendor that passes every step at or below ``knee`` and clearly fails above (no good request)."""
    return lambda rate: row(rate) if rate <= knee + 1e-9 else row(rate, good=0)


def drive(book: SearchBook, vendors: dict[str, Any]) -> list[dict[str, float]]:
    """Run the search to its end; the rates of every round."""
    rounds = []
    t = 0.0
    while True:
        rates = book.plan(t)
        if not rates:
            return rounds
        rounds.append(rates)
        book.observe({c: vendors[c](r) for c, r in rates.items()}, at_s=t)
        t += book.search.step_duration


SEARCH = Search(start=1, max=10, factor=2, step_duration=10, precision=0.1, max_steps=20)


def test_every_contender_on_the_ramp_gets_the_same_rate_and_a_failed_one_is_never_raised_again() -> None:
    book = SearchBook(SEARCH, ["a", "b"], SLO)
    rounds = drive(book, {"a": vendor(3.0), "b": vendor(100.0)})
    # the ramp is 1, 2, 4, 8, then capped at max: 10
    assert [r.get("b") for r in rounds] == [1, 2, 4, 8, 10, None]
    # a failed at 4: bracket [2, 4] -> 3 passes -> [3, 4] -> 3.5 fails -> [3, 3.5]: uncertainty
    # 3.5 - (3 + 0.5 * 0.05 / 0.95) = 0.47 > 10 % of 3.03 -> 3.25 fails -> [3, 3.25]: 0.24, done
    assert [r["a"] for r in rounds] == [1, 2, 4, 3, 3.5, 3.25]
    assert book.of["a"].done == "precise" and book.of["b"].done == "not_reached"
    assert book.knee("b")["sustainable_rps"] == 10 and book.knee("b")["limit"] == "not_reached"


def test_bisection_stops_when_the_knee_is_known_to_the_precision() -> None:
    book = SearchBook(SEARCH, ["a"], SLO)
    rounds = drive(book, {"a": vendor(5.3)})
    # ramp 1, 2, 4, 8 (fails); bisect [4, 8] -> 6 fails, [4, 6] -> 5 passes, [5, 6] -> 5.5 fails
    assert [r["a"] for r in rounds] == [1, 2, 4, 8, 6, 5, 5.5]
    knee = book.knee("a")
    # pass slack 0.05, fail slack -0.9: r = 5 + 0.5 * 0.05 / 0.95, uncertainty 5.5 - r
    r = 5 + 0.5 * 0.05 / 0.95
    assert knee["bracket_rps"] == [5, 5.5]
    assert knee["sustainable_rps"] == pytest.approx(r)
    assert knee["uncertainty_rps"] == pytest.approx(5.5 - r)
    assert 5.5 - r <= 0.1 * r  # the precision reached ...
    assert 6 - (5 + 0.05 / 0.95) > 0.1 * 5  # ... and not at the step before (bracket [5, 6])
    assert book.of["a"].done == "precise"


def test_a_contender_failing_at_the_first_rate_is_done_at_once() -> None:
    book = SearchBook(SEARCH, ["a", "b"], SLO)
    rounds = drive(book, {"a": vendor(0.5), "b": vendor(1.5)})
    assert rounds[0] == {"a": 1, "b": 1}
    assert all("a" not in r for r in rounds[1:])
    assert book.of["a"].done == "failed_at_start"
    assert book.knee("a")["sustainable_rps"] is None


def test_a_failure_by_one_request_is_run_again_before_it_counts() -> None:
    book = SearchBook(SEARCH, ["a"], SLO)
    assert book.plan(0) == {"a": 1}
    book.observe({"a": row(1)})
    assert book.plan(10) == {"a": 2}
    # 17 of 20 good: 0.85, 0.05 under 0.9 = exactly one request -> marginal: the same rate again
    book.observe({"a": row(2, good=17)})
    assert book.of["a"].steps[-1]["marginal"]
    assert book.plan(20) == {"a": 2}
    book.observe({"a": row(2)})  # the repeat passes: the ramp goes on, the first run does not count
    assert book.of["a"].steps[1]["superseded"]
    assert book.plan(30) == {"a": 4}
    # 16 of 20: two requests short -> a clear failure, bisection at once
    book.observe({"a": row(4, good=16)})
    assert book.plan(40) == {"a": 3}


def test_a_repeated_marginal_failure_counts() -> None:
    book = SearchBook(SEARCH, ["a"], SLO)
    for rate, good in ((1, 20), (2, 20), (4, 17), (4, 17)):
        assert book.plan(0) == {"a": rate}
        book.observe({"a": row(rate, good=good)})
    assert book.plan(0) == {"a": 3}  # bracket [2, 4]


def test_the_budget_ends_the_search_of_every_contender_still_searching() -> None:
    short = Search(start=1, max=100, factor=2, step_duration=10, precision=0.1, max_steps=3)
    book = SearchBook(short, ["a", "b"], SLO)
    rounds = drive(book, {"a": vendor(50), "b": vendor(1.5)})
    assert len(rounds) == 3  # max_steps
    assert book.of["a"].done == "budget" and book.of["b"].done == "budget"
    # the time budget: a round must end by budget_s
    timed = SearchBook(SEARCH, ["a"], SLO, budget_s=35)
    assert len(drive(timed, {"a": vendor(50)})) == 3  # rounds at 0, 10, 20; one at 30 would end at 40
    # the request budget: 1 + 2 + 4 requests/s for 10 s = 70; the next round (80) would pass 100
    capped = SearchBook(SEARCH, ["a"], SLO, max_requests=100)
    rounds_run = 0
    while rates := capped.plan(0):
        capped.of["a"].scheduled += int(rates["a"] * 10)
        capped.observe({"a": row(rates["a"])})
        rounds_run += 1
    assert rounds_run == 3 and capped.of["a"].done == "budget"


def test_a_load_process_that_fell_behind_ends_the_search_without_a_number() -> None:
    book = SearchBook(SEARCH, ["a"], SLO)
    book.plan(0)
    book.observe({"a": {**row(1), "schedule_lag_p95": 2.0}})
    assert book.of["a"].done == "harness" and book.plan(10) == {}
    assert book.knee("a")["sustainable_rps"] is None
