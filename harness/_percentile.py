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
    from numpy.typing import ArrayLike

__all__ = ["percentile", "percentiles"]


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
