"""The one percentile of the harness: exact, from raw samples, never from rounded histograms.

Linear interpolation between the sorted finite samples (numpy's default method, the same as
``pandas.Series.quantile``), NaN when there are none. The report's metrics, the fault analysis, a
bundle's summary, the live progress table and the benchmarks all call it, so a p95 means one thing
wherever it is printed. numpy is imported on first use: importing this module costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike

__all__ = ["percentile", "percentiles", "row_percentiles"]


def percentiles(values: ArrayLike, ps: Sequence[float]) -> list[float]:
    """The ``ps`` percentiles (0–100) of the finite ``values``, one sort for all of them.

    >>> percentiles([1.0, 2.0, 3.0, 4.0, float("nan")], (50, 90))
    [2.5, 3.7]
    """
    import numpy as np

    arr = np.asarray(values, dtype=float).ravel()
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return [math.nan] * len(ps)
    return [float(q) for q in np.percentile(arr, ps)]


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
    arr.sort(axis=1)  # NaN last
    k = np.isfinite(arr).sum(axis=1)
    out = np.full((arr.shape[0], len(ps)), np.nan)
    rows = np.flatnonzero(k > 0)
    if not rows.size:
        return out
    sub, kk = arr[rows], k[rows]
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
