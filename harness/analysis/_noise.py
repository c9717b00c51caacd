"""Is a change in a percentile larger than the run's noise?

Each group's percentile gets a distribution-free 95 % interval from its own order statistics (the ranks
n·q ± 1.96·√(n·q·(1−q)), the normal approximation of the binomial, clipped to the sample); its half-width
is that group's noise. The noise of a change between two groups is the two half-widths combined in
quadrature, never below :data:`NOISE_FLOOR_S`. A change counts as real only when it is larger than that
noise, and is judged only when both groups hold at least :data:`MIN_SAMPLES` values for the percentile.
No resampling: deterministic, and cheap on a million records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from harness._percentile import percentile

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["MIN_SAMPLES", "NOISE_FLOOR_S", "Change", "percentile_change", "percentile_noise"]

Z95 = 1.959964
NOISE_FLOOR_S = 0.001
"""Changes below 1 ms are never counted: the schedule and the clocks do not resolve less."""

MIN_SAMPLES: dict[int, int] = {50: 5, 95: 20, 99: 100}
"""Fewest values a group needs before a change in that percentile is judged (else: shown, not judged)."""


def percentile_noise(values: ArrayLike, p: float) -> float:
    """Half-width of the distribution-free 95 % interval of the ``p`` percentile of ``values``."""
    arr = np.sort(np.asarray(values, dtype=float)[np.isfinite(np.asarray(values, dtype=float))])
    n = int(arr.size)
    if n == 0:
        return math.nan
    q = p / 100.0
    spread = Z95 * math.sqrt(n * q * (1.0 - q))
    lo = min(max(math.floor(n * q - spread), 1), n)  # 1-based ranks of the interval's ends
    hi = min(max(math.ceil(n * q + spread), 1), n)
    return float(arr[hi - 1] - arr[lo - 1]) / 2.0


@dataclass(frozen=True, slots=True)
class Change:
    """``value`` (the window's percentile) against ``baseline``: ``change`` = value − baseline, ``noise``
    the combined half-width; ``judged`` when both groups were big enough, ``beyond_noise`` when judged and
    |change| > noise."""

    value: float
    baseline: float
    change: float
    noise: float
    judged: bool
    beyond_noise: bool


def percentile_change(window: ArrayLike, baseline: ArrayLike, p: int) -> Change:
    """The ``p`` percentile of ``window`` against that of ``baseline``, with the noise of the difference."""
    w = np.asarray(window, dtype=float)
    b = np.asarray(baseline, dtype=float)
    w, b = w[np.isfinite(w)], b[np.isfinite(b)]
    value, base = percentile(w, p), percentile(b, p)
    change = value - base
    noise = max(math.hypot(percentile_noise(w, p), percentile_noise(b, p)), NOISE_FLOOR_S)
    need = MIN_SAMPLES.get(p, 20)
    judged = bool(w.size >= need and b.size >= need and math.isfinite(change) and math.isfinite(noise))
    return Change(value, base, change, noise, judged, judged and abs(change) > noise)
