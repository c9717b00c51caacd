"""Exact order statistics and confidence intervals over raw samples (never over rounded histograms)."""

from __future__ import annotations

import math
from concurrent.futures import Executor
from typing import TYPE_CHECKING

import numpy as np

from harness._percentile import percentiles_at, sorted_percentiles

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["PERCENTILES", "STAT_NAMES", "describe", "describe_finite", "describe_in_two", "mean_ci"]

PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0, 99.9)
"""Percentiles reported for every latency metric (linear interpolation between order statistics)."""

STAT_NAMES: tuple[str, ...] = ("count", "mean", "min", "p50", "p90", "p95", "p99", "p99.9", "max")


def _pname(p: float) -> str:
    return f"p{p:g}"


def describe(values: ArrayLike) -> dict[str, float]:
    """count, mean, min, p50, p90, p95, p99, p99.9, max of the finite values (NaN when there are none).

    Percentiles are exact (:func:`harness._percentile.percentiles`: linear interpolation between the
    sorted raw samples).
    """
    arr = np.asarray(values, dtype=float)
    return describe_finite(arr[np.isfinite(arr)])


def describe_finite(arr: np.ndarray) -> dict[str, float]:
    """:func:`describe` of ``arr``, a 1-D float array of finite values that this function may reorder
    (it is sorted in place: pass a copy you own, such as the result of a boolean mask).

    The mean, min and max are taken before the sort, in the values' own order (a sum's rounding depends on
    its order); the percentiles from the sorted array, bit for bit ``np.percentile``'s.
    """
    out: dict[str, float] = {"count": float(arr.size)}
    if arr.size == 0:
        out.update(dict.fromkeys(STAT_NAMES[1:], math.nan))
        return out
    out["mean"] = float(arr.mean())
    out["min"] = float(arr.min())
    arr_max = float(arr.max())
    arr.sort()
    for p, q in zip(PERCENTILES, sorted_percentiles(arr, PERCENTILES), strict=True):
        out[_pname(p)] = q
    out["max"] = arr_max
    return out


def describe_in_two(values: np.ndarray, pool: Executor) -> dict[str, float]:
    """:func:`describe_finite` of ``values`` (1-D, finite, at least one; left as they are), sorted in two
    halves at once: those below a pivot (a sample's median) on one of ``pool``'s threads, the rest on this
    one (numpy's filter and sort release the GIL). Every value below the pivot ranks before every other,
    so the k-th smallest is the low half's k-th, or the high half's (k − its size)-th."""
    out: dict[str, float] = {"count": float(values.size)}
    out["mean"] = float(values.mean())
    out["min"] = float(values.min())
    values_max = float(values.max())
    pivot = float(np.median(values[:: max(1, values.size // 1023)]))

    def part(low: bool) -> np.ndarray:
        half: np.ndarray = values[values < pivot] if low else values[values >= pivot]
        half.sort()
        return half

    job = pool.submit(part, True)
    high = part(False)
    low = job.result()
    k = int(low.size)
    ranked = percentiles_at(
        int(values.size), PERCENTILES, lambda i: float(low[i]) if i < k else float(high[i - k])
    )
    for p, q in zip(PERCENTILES, ranked, strict=True):
        out[_pname(p)] = q
    out["max"] = values_max
    return out


# two-sided 95 % Student t quantiles for 1..30 degrees of freedom; 1.96 beyond
_T95 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def mean_ci(values: ArrayLike) -> dict[str, float]:
    """Mean, sample standard deviation and the 95 % t-interval of the mean of repeated-run values.

    With one value the interval is that value's point (std NaN): a single run proves nothing about spread.
    """
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    n = int(arr.size)
    if n == 0:
        return {"n": 0.0, "mean": math.nan, "std": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    mean = float(arr.mean())
    if n == 1:
        return {"n": 1.0, "mean": mean, "std": math.nan, "ci_low": mean, "ci_high": mean}
    std = float(arr.std(ddof=1))
    t = _T95[n - 2] if n - 1 <= len(_T95) else 1.96
    half = t * std / math.sqrt(n)
    return {"n": float(n), "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half}
