"""The one percentile of the harness: exact, from raw samples, never from rounded histograms.

Linear interpolation between the sorted finite samples (numpy's default method, the same as
``pandas.Series.quantile``), NaN when there are none. The report's metrics, the fault analysis, a
bundle's summary, the live progress table and the benchmarks all call it, so a p95 means one thing
wherever it is printed. numpy is imported on first use: importing this module costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike

__all__ = ["percentile", "percentiles", "percentiles_at", "row_percentiles", "sorted_percentiles"]


def percentiles(values: ArrayLike, ps: Sequence[float]) -> list[float]:
    """The ``ps`` percentiles (0–100) of the finite ``values``, one sort for all of them.

    >>> percentiles([1.0, 2.0, 3.0, 4.0, float("nan")], (50, 90))
    [2.5, 3.7]
    """
    import numpy as np

    arr = np.asarray(values, dtype=float).ravel()
    arr = arr[np.isfinite(arr)]  # a copy: sorted in place below
    if arr.size == 0:
        return [math.nan] * len(ps)
    arr.sort()
    return sorted_percentiles(arr, ps)


def sorted_percentiles(ordered: np.ndarray, ps: Sequence[float]) -> list[float]:
    """The ``ps`` percentiles (0–100) of ``ordered``: finite values sorted ascending, at least one.

    Bit for bit what ``np.percentile(ordered, ps)`` (method "linear") gives: the same virtual index
    ``(n − 1) · p/100``, neighbours, weight and two-sided lerp as numpy's ``_quantile``, read from the
    sorted array instead of partitioning a copy of it (a sort is cheaper than numpy's partition for
    several percentiles, and one sort serves count, min, max and every percentile of a sample).

    >>> sorted_percentiles(np.array([1.0, 2.0, 3.0, 4.0]), (50, 90, 100))
    [2.5, 3.7, 4.0]
    """
    return percentiles_at(int(ordered.shape[0]), ps, lambda i: float(ordered[i]))


def percentiles_at(n: int, ps: Sequence[float], value_at: Callable[[int], float]) -> list[float]:
    """The ``ps`` percentiles of ``n`` ≥ 1 sorted values that ``value_at(i)`` gives by rank (0-based):
    :func:`sorted_percentiles` for values kept in pieces (such as two sorted halves)."""
    last = n - 1
    if last < 0:
        raise ValueError("sorted_percentiles needs at least one value")
    out: list[float] = []
    for p in ps:
        if not 0 <= p <= 100:
            raise ValueError("Percentiles must be in the range [0, 100]")
        v = last * (p / 100)  # numpy: (n - 1) * np.true_divide(q, 100)
        if v >= last:  # numpy takes the last value for both neighbours, its index -1
            lo = hi = last
            gamma = v + 1  # numpy: virtual index − (−1)
        else:
            lo = math.floor(v)
            hi = lo + 1
            gamma = v - lo
        a = value_at(lo)
        b = value_at(hi)
        diff = b - a
        out.append(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)  # numpy's _lerp
    return out


def percentile(values: ArrayLike, p: float) -> float:
    """The ``p`` percentile (0–100) of the finite ``values``; NaN when there are none."""
    return percentiles(values, (p,))[0]


def row_percentiles(matrix: ArrayLike, ps: Sequence[float]) -> np.ndarray:
    """The ``ps`` percentiles of each row of a 2-D array, non-finite values left out: rows × len(ps).

    The same linear interpolation as :func:`percentiles`, for many samples at once (the decision's
    bootstrap computes thousands of resampled p95s); a row without a finite value gives NaN.

    >>> row_percentiles([[1.0, 2.0, 3.0, 4.0], [float("nan"), 5.0, 1.0, float("nan")]], (50,))
    array([[2.5],
           [3. ]])
    """
    import numpy as np

    arr = np.array(matrix, dtype=float, ndmin=2)
    arr[~np.isfinite(arr)] = np.nan
    k = np.isfinite(arr).sum(axis=1)
    out = np.full((arr.shape[0], len(ps)), np.nan)
    rows = np.flatnonzero(k > 0)
    if not rows.size:
        return out
    # (a copy only when some row has no value)
    sub, kk = (arr, k) if rows.size == k.size else (arr[rows], k[rows])
    # only what a percentile can read is sorted: a partition moves each row's values from the lowest
    # position any row needs to its end (a resample's p95 reads its top twentieth), NaN last as in a sort
    first = int(np.floor((min(ps) / 100.0) * (kk.min() - 1)))
    if first > 0:
        sub.partition(first, axis=1)
        sub[:, first:].sort(axis=1)
    else:
        sub.sort(axis=1)
    for j, p in enumerate(ps):
        pos = (p / 100.0) * (kk - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, kk - 1)
        t = pos - lo
        a = np.take_along_axis(sub, lo[:, None], axis=1)[:, 0]
        b = np.take_along_axis(sub, hi[:, None], axis=1)[:, 0]
        diff = b - a
        out[rows, j] = np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)  # numpy's lerp
    return out
