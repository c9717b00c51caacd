from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness._percentile import percentile, percentiles
from harness.analysis import describe, mean_ci


def test_describe_hand_computed() -> None:
    d = describe([10, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert d["count"] == 10
    assert d["mean"] == 5.5
    assert d["min"] == 1 and d["max"] == 10
    # linear interpolation at rank p/100 * (n-1): p50 → 4.5 → 5.5; p90 → 8.1 → 9.1; p99.9 → 8.991 → 9.991
    assert d["p50"] == pytest.approx(5.5)
    assert d["p90"] == pytest.approx(9.1)
    assert d["p95"] == pytest.approx(9.55)
    assert d["p99"] == pytest.approx(9.91)
    assert d["p99.9"] == pytest.approx(9.991)


def test_describe_ignores_nan_and_handles_empty() -> None:
    assert describe([1.0, math.nan, 3.0])["p50"] == 2.0
    empty = describe([])
    assert empty["count"] == 0 and math.isnan(empty["p95"])


def test_mean_ci_hand_computed() -> None:
    r = mean_ci([1.0, 2.0, 3.0])
    half = 4.303 * 1.0 / math.sqrt(3)
    assert r["mean"] == 2.0 and r["std"] == pytest.approx(1.0)
    assert r["ci_low"] == pytest.approx(2 - half) and r["ci_high"] == pytest.approx(2 + half)
    one = mean_ci([5.0])
    assert one["ci_low"] == one["ci_high"] == 5.0 and math.isnan(one["std"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1, max_size=200))
def test_percentiles_are_monotonic(values: list[float]) -> None:
    d = describe(values)
    chain = [d["min"], d["p50"], d["p90"], d["p95"], d["p99"], d["p99.9"], d["max"]]
    assert all(a <= b + 1e-9 for a, b in itertools.pairwise(chain))
    assert d["min"] <= d["mean"] + 1e-9 <= d["max"] + 2e-9
    assert d["p50"] == pytest.approx(float(np.median(values)))


def test_public_api_is_pinned() -> None:
    import harness.analysis

    assert sorted(harness.analysis.__all__) == sorted(
        [
            "ANALYSIS_COLUMNS",
            "CAPACITY_LIMITS",
            "COMPARE_METRICS",
            "FORMULAS",
            "LATENCY_METRICS",
            "LAYERS",
            "PERCENTILES",
            "SLO_KEYS",
            "SearchBook",
            "Analysis",
            "CapacitySearch",
            "Comparison",
            "DeclaredScore",
            "DeclaredScores",
            "FaultWindow",
            "LayerWeights",
            "Window",
            "analyse",
            "assign_phases",
            "capacity_verdict",
            "chunk_gaps",
            "compare_analyses",
            "compare_runs",
            "describe",
            "fault_windows",
            "find_knee",
            "good_mask",
            "load_declared",
            "logical_requests",
            "mean_ci",
            "measurement_window",
            "slo_check",
            "slo_settings",
            "synthetic_run",
            "write_synthetic_run",
        ]
    )


def _old_repro_percentile(values: list[float], q: float) -> float:
    """The pure-Python percentile harness.repro had before it used the shared one (kept as an oracle)."""
    xs = sorted(values)
    if not xs:
        return math.nan
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=100),
    st.sampled_from([0.0, 1.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0]),
)
def test_one_percentile_gives_the_numbers_every_caller_gave_before(values: list[float], q: float) -> None:
    """analysis (np.percentile), pandas' quantile and repro's own interpolation all agree with it."""
    got = percentile(values, q)
    assert got == float(np.percentile(values, q))  # analysis' numbers: identical, bit for bit
    assert got == pytest.approx(float(pd.Series(values).quantile(q / 100)), rel=1e-12, abs=1e-9)
    assert got == pytest.approx(_old_repro_percentile(values, q), rel=1e-12, abs=1e-9)
    stats = describe(values)
    if f"p{q:g}" in stats:
        assert stats[f"p{q:g}"] == got


def test_percentile_skips_non_finite_values_and_is_nan_for_none() -> None:
    assert percentile([3.0, math.nan, 1.0, math.inf, 2.0], 50) == 2.0
    assert math.isnan(percentile([], 95)) and math.isnan(percentile([math.nan], 95))
    assert percentiles(np.array([1.0, 2.0, 3.0, 4.0]), (50, 90)) == [2.5, pytest.approx(3.7)]
    assert all(math.isnan(x) for x in percentiles([], (50, 99)))


def test_no_other_percentile_implementation_in_the_harness() -> None:
    """The report, the fault analysis, bundles, live progress and benchmarks share harness._percentile."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[3] / "harness"
    own = re.compile(
        r"\b(np\.percentile|np\.quantile|quantile)\(|def _?(p9\d|percentiles?)\(|def _pct\(.*-> float"
    )
    offenders = [
        f"{path.relative_to(root)}:{no}"
        for path in root.rglob("*.py")
        if path.name != "_percentile.py"
        for no, line in enumerate(path.read_text().splitlines(), 1)
        if own.search(line) and "report/_charts.py" not in str(path)  # chart CDF points, not a metric
    ]
    assert offenders == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.one_of(st.floats(-1e6, 1e6), st.just(math.nan), st.just(math.inf)), min_size=1, max_size=30
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_row_percentiles_agree_with_the_one_percentile_row_by_row(rows: list[list[float]]) -> None:
    """The bootstrap takes thousands of p95s at once; each is the number percentile() gives."""
    from harness._percentile import row_percentiles

    width = max(len(r) for r in rows)
    matrix = np.array([r + [math.nan] * (width - len(r)) for r in rows])
    got = row_percentiles(matrix, (50, 95, 99))
    for row, out in zip(matrix, got, strict=True):
        want = percentiles(row, (50, 95, 99))
        assert all((math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(out, want, strict=True))


def test_sorted_percentiles_are_numpys_bit_for_bit() -> None:
    """The report reads its percentiles from one sort per sample: every bit as np.percentile gives them
    (sizes 1 … 3000, ties, negative values, p0 and p100)."""
    from harness._percentile import sorted_percentiles

    rng = np.random.default_rng(7)
    ps = (0, 0.1, 1, 25, 33.3, 50, 66.7, 90, 95, 99, 99.5, 99.9, 99.99, 100)
    for n in [*range(1, 40), 99, 100, 101, 999, 1000, 1001, 3000]:
        for values in (
            rng.lognormal(0, 2, n),
            rng.integers(0, 4, n) * 0.1,
            rng.normal(0, 1e3, n),
            np.round(rng.exponential(1, n), 6),
        ):
            want = [float(q) for q in np.percentile(values, ps)]
            got = sorted_percentiles(np.sort(values), ps)
            assert [x.hex() for x in got] == [x.hex() for x in want], n
    with pytest.raises(ValueError):
        sorted_percentiles(np.array([1.0]), (101,))
    with pytest.raises(ValueError):
        sorted_percentiles(np.array([]), (50,))


def test_describe_finite_sorts_its_argument_and_keeps_the_mean_of_the_original_order() -> None:
    from harness.analysis._stats import describe_finite

    values = np.random.default_rng(3).lognormal(0, 3, 10_001)
    arr = values.copy()
    d = describe_finite(arr)
    assert np.array_equal(arr, np.sort(values))  # sorted in place
    assert d["mean"] == float(values.mean())  # pairwise sum in the values' own order
    assert d["min"] == values.min() and d["max"] == values.max() and d["count"] == 10_001
    assert [d[f"p{p:g}"] for p in (50, 90, 95, 99, 99.9)] == [
        float(q) for q in np.percentile(values, (50, 90, 95, 99, 99.9))
    ]


def test_describe_in_two_gives_describes_numbers() -> None:
    """Two threads sort the values either side of a pivot: the same numbers as one sort, ties at the pivot
    and all-equal values included, the values left as they were."""
    from concurrent.futures import ThreadPoolExecutor

    from harness.analysis._stats import describe_in_two

    rng = np.random.default_rng(11)
    samples = [
        rng.lognormal(0, 1, 25_001),
        rng.integers(0, 3, 30_000).astype(float),
        np.full(2_000, 0.25),
        np.arange(5.0),
        np.array([7.0]),
    ]
    with ThreadPoolExecutor(2) as pool:
        for values in samples:
            before = values.copy()
            assert repr(describe_in_two(values, pool)) == repr(describe(values))
            assert np.array_equal(values, before)
