"""Metrics per contender over groups of logical requests (whole run, each phase, each prompt class).

Formulas (one name each, printed in the report's methodology):

    error rate            = failed logical requests / all logical requests
    throttle rate         = logical requests whose final attempt got HTTP 429 / all  (part of the error rate)
    good                  = succeeded AND user TTFT ≤ SLO.ttft AND user time to first output ≤ SLO.ttfot
                            AND TPOT ≤ SLO.tpot AND user latency ≤ SLO.e2e
    good fraction         = good / all logical requests (errors in the denominator)
    goodput               = good / window seconds;  throughput = succeeded / window seconds
    output tok/s (system) = Σ output_tokens of succeeded requests / window seconds
    fallback rate         = requests whose final attempt used a non-primary endpoint / all
    rescue rate           = succeeded on a fallback / requests the primary did not serve
    cost per 1k requests  = Σ cost of all attempts (wasted ones too) / all requests × 1000
    cost per good request = Σ cost of all attempts (wasted ones too) / good requests
    reasoning tokens/req  = Σ reasoning_tokens / succeeded requests
    reasoning cost share  = Σ reasoning cost of final attempts / Σ cost of all attempts
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis._stats import describe_finite, describe_in_two
from harness.config import SLO

__all__ = [
    "FORMULAS",
    "LATENCY_METRICS",
    "PER_REQUEST_SLOS",
    "SLO_KEYS",
    "GroupColumns",
    "RequestColumns",
    "good_mask",
    "latency_rows",
    "request_metrics",
    "slo_met",
    "slo_settings",
]

LATENCY_METRICS: tuple[str, ...] = (
    "ttft",
    "user_ttft",
    "ttfot",
    "user_ttfot",
    "tpot",
    "e2e",
    "user_latency",
    "schedule_lag",
    "chunk_gap",
)
_KEY_LATENCIES = ("ttft", "user_ttft", "ttfot", "user_ttfot", "tpot", "e2e", "user_latency")
SLO_KEYS: tuple[str, ...] = ("ttft", "ttfot", "tpot", "e2e", "max_error_rate", "min_good_fraction")
PER_REQUEST_SLOS: tuple[str, ...] = ("ttft", "ttfot", "tpot", "e2e")
"""The SLOs each request is judged by (the others judge a contender's whole run)."""
_SLO_DEFAULTS: dict[str, float | None] = {
    "ttft": None,
    "ttfot": None,
    "tpot": None,
    "e2e": None,
    "max_error_rate": 0.05,
    "min_good_fraction": 0.9,
}


def slo_settings(
    slo: SLO | None = None, overrides: dict[str, float] | None = None
) -> dict[str, float | None]:
    """The scenario's SLOs (the manifest's ``slo``) with optional overrides; unknown keys are refused."""
    out = dict(_SLO_DEFAULTS)
    for k, v in (slo.model_dump() if slo is not None else {}).items():
        if k in out:
            out[k] = None if v is None else float(v)
    for k, v in (overrides or {}).items():
        if k not in out:
            from harness._errors import ConfigError

            raise ConfigError([f"--slo {k}: unknown SLO; use one of {', '.join(SLO_KEYS)}"])
        out[k] = None if v is None else float(v)
    return out


def slo_met(lg: pd.DataFrame, slo: dict[str, float | None]) -> dict[str, np.ndarray]:
    """Per set per-request SLO (ttft, ttfot, tpot, e2e): which logical requests succeeded and met that one
    threshold.

    A request without a first-token time (non-streaming) uses its user latency as TTFT, and one without a
    first-output time (non-streaming, or an answer of reasoning alone) as time to first output; one with
    fewer than two output tokens has no TPOT and cannot miss the TPOT SLO.
    """
    out: dict[str, np.ndarray] = {}
    if lg.empty:
        return {k: np.zeros(0, dtype=bool) for k in PER_REQUEST_SLOS if slo.get(k) is not None}
    ok = lg["ok"].to_numpy(dtype=bool)
    ulat = lg["user_latency"].to_numpy(dtype=float)
    if slo.get("ttft") is not None:
        uttft = lg["user_ttft"].to_numpy(dtype=float)
        uttft = np.where(np.isnan(uttft), ulat, uttft)
        out["ttft"] = ok & (uttft <= float(slo["ttft"]))  # type: ignore[arg-type]
    if slo.get("ttfot") is not None:
        uttfot = lg["user_ttfot"].to_numpy(dtype=float)
        uttfot = np.where(np.isnan(uttfot), ulat, uttfot)
        out["ttfot"] = ok & (uttfot <= float(slo["ttfot"]))  # type: ignore[arg-type]
    if slo.get("tpot") is not None:
        tpot = lg["tpot"].to_numpy(dtype=float)
        out["tpot"] = ok & (np.isnan(tpot) | (tpot <= float(slo["tpot"])))  # type: ignore[arg-type]
    if slo.get("e2e") is not None:
        out["e2e"] = ok & (ulat <= float(slo["e2e"]))  # type: ignore[arg-type]
    return out


def good_mask(lg: pd.DataFrame, slo: dict[str, float | None]) -> np.ndarray:
    """Which logical requests are good: succeeded and met every per-request SLO (user-perceived times;
    see :func:`slo_met`)."""
    good = lg["ok"].to_numpy(dtype=bool).copy()
    for met in slo_met(lg, slo).values():
        good &= met
    return good


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan  # NaN seconds (no span of time): NaN rates


class RequestColumns:
    """The logical requests' columns that :func:`request_metrics` and :func:`latency_rows` read, each
    converted once (to bool, float, value codes) for all the groups cut from it: a request is in about
    three groups (the whole run, its phase, its prompt class).

    ``columns`` maps column names to equal-length arrays (a DataFrame of logical requests works too).
    :meth:`group` gives one group's view.
    """

    def __init__(self, columns: Mapping[str, Any] | pd.DataFrame) -> None:
        self._src = columns
        self._arrays: dict[tuple[str, str], np.ndarray] = {}
        self._names: dict[str, dict[Any, int]] = {}
        self._alias: dict[str, str] = {}  # column → a column with the same floats (itself if none)

    def __contains__(self, name: object) -> bool:
        return name in self._src

    def __len__(self) -> int:
        return len(self.bools("ok"))

    def raw(self, name: str) -> np.ndarray:
        return np.asarray(self._src[name])

    def _cached(self, name: str, kind: str) -> np.ndarray | None:
        return self._arrays.get((name, kind))

    def bools(self, name: str) -> np.ndarray:
        out = self._cached(name, "bool")
        if out is None:
            out = self._arrays[name, "bool"] = np.asarray(self._src[name], dtype=bool)
        return out

    def floats(self, name: str) -> np.ndarray:
        out = self._cached(name, "float")
        if out is None:
            out = self._arrays[name, "float"] = np.asarray(self._src[name], dtype=float)
        return out

    def same_floats(self, name: str) -> str:
        """The first column (of those asked for so far) whose floats are bit for bit ``name``'s, else
        ``name``: time to first output is TTFT when no answer reasoned, and its statistics need no second
        computation."""
        alias = self._alias.get(name)
        if alias is None:
            mine = self.floats(name)
            alias = name
            bits = mine.view(np.uint64)
            for other in self._alias.values():
                theirs = self.floats(other).view(np.uint64)
                if (
                    other != name
                    and bits.shape == theirs.shape
                    and np.array_equal(bits[:64], theirs[:64])  # most differ at once
                    and np.array_equal(bits, theirs)
                ):
                    alias = other
                    break
            self._alias[name] = alias
        return alias

    def codes(self, name: str) -> tuple[np.ndarray, dict[Any, int]]:
        """Integer codes of a column's values (−1: missing) and value → code; equal values share a code."""
        out = self._cached(name, "codes")
        if out is None:
            codes, uniques = pd.factorize(self._src[name])
            small = np.int8 if len(uniques) < 127 else np.int32 if len(uniques) < 2**31 - 1 else None
            out = self._arrays[name, "codes"] = codes if small is None else codes.astype(small)
            self._names[name] = {u: i for i, u in enumerate(uniques)}
        return out, self._names[name]

    def is_false(self, name: str) -> np.ndarray:
        """Which values are the boolean False itself (``False`` or ``np.False_``): a check that ran and
        failed; a missing value (None, NA, NaN: no check) or anything else is not."""
        out = self._cached(name, "false")
        if out is None:
            out = self._arrays[name, "false"] = _is_false(self._src[name])
        return out

    def group(self, idx: np.ndarray | None = None) -> GroupColumns:
        """The group of the requests at positions ``idx`` (ascending; None: all of them)."""
        return GroupColumns(self, idx)


def _is_false(col: Any) -> np.ndarray:
    if isinstance(getattr(col, "dtype", None), pd.BooleanDtype):  # a nullable boolean: NA is no check
        return ~np.asarray(col.to_numpy(dtype=bool, na_value=True))
    arr = np.asarray(col)
    if arr.dtype == bool:
        return ~arr
    if arr.dtype != object:
        return np.zeros(arr.shape, dtype=bool)  # numbers and strings are never the boolean False
    if pd.api.types.infer_dtype(arr, skipna=True) == "boolean":  # bools and missing values only
        try:  # == False is the identity for a bool; a missing None or NaN equals nothing
            return np.asarray(np.equal(arr, False), dtype=bool)
        except TypeError:  # pd.NA, whose truth is ambiguous
            pass
    return np.fromiter((c is False or c is np.False_ for c in arr), dtype=bool, count=arr.size)


class GroupColumns(Mapping[str, np.ndarray]):
    """One group of logical requests (rows ``idx`` of a :class:`RequestColumns`), read by
    :func:`request_metrics` and :func:`latency_rows`, which share its latency distributions: each is
    computed once (one sort) for both. As a Mapping: column name → the group's values."""

    def __init__(self, base: RequestColumns, idx: np.ndarray | None) -> None:
        self.base = base
        self.idx = np.arange(len(base)) if idx is None else np.asarray(idx)
        self.ok_idx = self.idx[base.bools("ok")[self.idx]]  # the succeeded requests
        self._dist: dict[str, dict[str, float]] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        out: np.ndarray = self.base.raw(name)[self.idx]
        return out

    def __contains__(self, name: object) -> bool:
        return name in self.base

    def __iter__(self) -> Iterator[str]:
        src = self.base._src
        return iter(src.columns if isinstance(src, pd.DataFrame) else src)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @property
    def size(self) -> int:
        return int(self.idx.size)

    def count(self, name: str, *, ok: bool = False) -> int:
        """How many of the group's requests (or of its succeeded ones) have a true ``name``."""
        return int(np.count_nonzero(self.base.bools(name)[self.ok_idx if ok else self.idx]))

    def floats(self, name: str, *, ok: bool = False) -> np.ndarray:
        """The group's values of ``name`` as floats (or its succeeded requests'), in row order."""
        return self.base.floats(name)[self.ok_idx if ok else self.idx]

    def total(self, name: str) -> float | int:
        """Σ of a count column over the group: integers summed as integers (exact, as their float sum
        is below 2⁵³, and without a float copy of the column), anything else as floats."""
        raw = self.base.raw(name)
        if raw.dtype.kind in "iu":
            return int(raw[self.idx].sum())
        return float(self.floats(name).sum())

    def dist(self, name: str) -> dict[str, float]:
        """:func:`describe` of ``name`` over the group's succeeded requests (computed once)."""
        name = self.base.same_floats(name)
        out = self._dist.get(name)
        if out is None:
            out = self._dist[name] = describe_finite(self.finite(name, ok=True))
        return out

    def finite(self, name: str, *, ok: bool = False) -> np.ndarray:
        """The group's (or its succeeded requests') finite values of ``name``, a new array."""
        vals = self.floats(name, ok=ok)
        out: np.ndarray = vals[np.isfinite(vals)]
        return out

    def prepare(self, names: Iterable[str]) -> None:
        """Compute the distributions :meth:`dist` gives for ``names``, on two threads when the group is
        large (each is a gather, a filter and a sort, all of which release the GIL)."""
        todo = [n for n in dict.fromkeys(map(self.base.same_floats, names)) if n not in self._dist]
        for n in todo:
            self.base.floats(n)  # columns converted on this thread, before the workers read them
        if len(todo) < 2 or self.ok_idx.size < PARALLEL_MIN:
            return
        with ThreadPoolExecutor(2, thread_name_prefix="metrics") as pool:
            stats = list(pool.map(lambda n: describe_finite(self.finite(n, ok=True)), todo))
        self._dist.update(zip(todo, stats, strict=True))


PARALLEL_MIN = 100_000
"""Requests in a group below which its distributions are computed on one thread (two cost more)."""


def _group(g: Mapping[str, Any]) -> GroupColumns:
    return g if isinstance(g, GroupColumns) else RequestColumns(g).group()


def request_metrics(
    g: Mapping[str, Any],
    good: np.ndarray,
    seconds: float,
    *,
    n_chunk_gaps: int = 0,
    n_reads: int = 0,
    n_merged_reads: int = 0,
) -> dict[str, float]:
    """Counts, rates, throughput and cost over one group of logical requests covering ``seconds``
    (NaN: a group that is no span of time, such as a transition group; its rates are NaN).

    ``g`` maps column names to equal-length arrays (a DataFrame of logical requests works too), or is a
    :class:`GroupColumns` (``RequestColumns(columns).group(rows)``), which converts each column once for
    all groups and shares its latency distributions with :func:`latency_rows`.
    ``n_reads`` / ``n_merged_reads``: reads with deltas of the group's succeeded answers, and those of them
    that carried several deltas at once.
    """
    grp = _group(g)
    base = grp.base
    n = grp.size
    n_ok = int(grp.ok_idx.size)
    n_good = int(np.count_nonzero(np.asarray(good, dtype=bool)))
    throttled = grp.count("throttled")
    failed = n - n_ok
    prim_failed = grp.count("primary_failed")
    rescued = grp.count("rescued")
    cost = float(grp.floats("cost").sum())
    usage_codes, usage_of = base.codes("usage_source")
    usage = np.bincount(usage_codes[grp.ok_idx] + 1, minlength=len(usage_of) + 1)  # [0]: missing

    def n_usage(value: str) -> int:
        code = usage_of.get(value)
        return 0 if code is None else int(usage[code + 1])

    attempts = int(grp.total("n_attempts"))
    reasoning = float(np.nansum(grp.floats("reasoning_tokens", ok=True))) if "reasoning_tokens" in g else 0.0
    reasoning_cost = float(np.nansum(grp.floats("reasoning_cost"))) if "reasoning_cost" in g else 0.0
    lat: dict[str, float] = {}
    present = [m for m in _KEY_LATENCIES if m in g]  # a group built without the reasoning columns lacks some
    grp.prepare(present)
    for m in present:
        d = grp.dist(m)
        for p in (50, 95, 99):
            lat[f"{m}_p{p}"] = d[f"p{p}"]
    return {
        "requests": float(n),
        "succeeded": float(n_ok),
        "failed": float(failed),
        "throttled": float(throttled),
        "failed_not_throttled": float(failed - throttled),
        "error_rate": _ratio(failed, n),
        "throttle_rate": _ratio(throttled, n),
        "failure_rate_excl_throttle": _ratio(failed - throttled, n),
        "good": float(n_good),
        "good_fraction": _ratio(n_good, n),
        "seconds": float(seconds),
        "offered_rps": _ratio(n, seconds),
        "throughput_rps": _ratio(n_ok, seconds),
        "goodput_rps": _ratio(n_good, seconds),
        "output_tok_s": _ratio(float(np.nansum(grp.floats("output_tokens", ok=True))), seconds),
        "fallback_rate": _ratio(grp.count("fallback"), n),
        "primary_failures": float(prim_failed),
        "rescued": float(rescued),
        "rescue_rate": _ratio(rescued, prim_failed),
        "attempts": float(attempts),
        "attempts_per_request": _ratio(attempts, n),
        "attempts_429": float(grp.total("attempts_429")),
        "cost_usd": cost,
        "wasted_cost_usd": float(grp.floats("wasted_cost").sum()),
        "cost_per_1k_requests": _ratio(cost, n) * 1000 if n else math.nan,
        "cost_per_good_request": _ratio(cost, n_good),
        "usage_reported_share": _ratio(n_usage("reported"), n_ok),
        "usage_estimated_share": _ratio(n_usage("estimated"), n_ok),
        "usage_missing_share": _ratio(n_usage("none"), n_ok),
        "max_tokens_overruns": float(grp.count("max_tokens_exceeded")),
        "check_failed": float(np.count_nonzero(base.is_false("check_passed")[grp.ok_idx])),
        "unfinished": float(n - grp.count("finished")),
        "chunk_gaps": float(n_chunk_gaps),
        "with_tpot": grp.dist("tpot")["count"],
        "tpot_share": _ratio(int(grp.dist("tpot")["count"]), n_ok),
        "reasoning_tokens_per_request": _ratio(reasoning, n_ok),
        "reasoning_cost_usd": reasoning_cost,
        "reasoning_cost_share": _ratio(reasoning_cost, cost),
        "reads": float(n_reads),
        "merged_read_share": _ratio(n_merged_reads, n_reads),
        **lat,
    }


def latency_rows(g: Mapping[str, Any], gaps: np.ndarray) -> list[dict[str, Any]]:
    """Distribution (count, mean, min, p50 … p99.9, max) of each latency metric over succeeded requests
    (``g`` as for :func:`request_metrics`)."""
    grp = _group(g)
    grp.prepare(m for m in LATENCY_METRICS if m not in ("chunk_gap", "schedule_lag"))
    gap_vals = np.ascontiguousarray(gaps, dtype=float).ravel()
    if grp.size + gap_vals.size < PARALLEL_MIN:
        lag = describe_finite(grp.finite("schedule_lag"))  # every request waited, failed or not
        gap = describe_finite(gap_vals[np.isfinite(gap_vals)])
    else:  # the lags sorted beside the gaps (several per answer), these in two halves when large
        grp.base.floats("schedule_lag")  # converted on this thread
        with ThreadPoolExecutor(2, thread_name_prefix="metrics") as pool:
            lag_job = pool.submit(lambda: describe_finite(grp.finite("schedule_lag")))
            if gap_vals.size >= PARALLEL_MIN and np.isfinite(gap_vals).all():
                gap = describe_in_two(gap_vals, pool)
            else:
                gap = describe_finite(gap_vals[np.isfinite(gap_vals)])
            lag = lag_job.result()
    rows: list[dict[str, Any]] = []
    for m in LATENCY_METRICS:
        stats = gap if m == "chunk_gap" else lag if m == "schedule_lag" else grp.dist(m)
        rows.append({"metric": m, **stats})
    return rows


FORMULAS: tuple[tuple[str, str], ...] = (
    ("E2E latency", "t_end − t_dispatch of the final attempt (succeeded requests)"),
    ("user latency", "t_end of the final attempt − t_intended: includes schedule lag, retries and fallbacks"),
    ("schedule lag", "t_dispatch of the first attempt − t_intended (every request)"),
    ("TTFT", "t_first_token − t_dispatch of the final attempt; user TTFT counts from t_intended"),
    (
        "time to first output",
        "t_first_output − t_dispatch of the final attempt: the first token of the answer itself, after any "
        "reasoning (TTFT counts a reasoning token too); user time to first output counts from t_intended",
    ),
    (
        "reasoning",
        "reasoning tokens per request = Σ reasoning_tokens / succeeded requests (reported by the vendor, or "
        "counted from the thinking text Anthropic streams); reasoning cost = reasoning tokens × "
        "reasoning_per_mtok, else the output price (reasoning is billed as output); its share = Σ "
        "reasoning cost / Σ cost",
    ),
    (
        "TPOT",
        "(t_last_token − t_first_token) / (output_tokens − 1), only when output_tokens ≥ 2 and the output "
        "arrived in two or more reads at distinct times; a non-streamed answer (or one read in one go) has "
        "no TPOT, and the TPOT SLO does not judge it",
    ),
    (
        "chunk gap",
        "every gap between consecutive reads that carried deltas, succeeded answers, pooled; reads at the "
        "same instant make no gap. Each record keeps how many deltas each read carried (chunk_deltas): a "
        "gap before a read of k deltas covers k deltas",
    ),
    ("merged reads", "reads that carried more than one delta / reads that carried deltas (succeeded)"),
    ("output tok/s (system)", "Σ output_tokens of succeeded requests / measured seconds"),
    ("throughput", "succeeded logical requests / measured seconds"),
    (
        "good request",
        "succeeded AND user TTFT ≤ SLO ttft AND user time to first output ≤ SLO ttfot AND TPOT ≤ SLO tpot "
        "AND user latency ≤ SLO e2e (an unset SLO is not checked; a non-streamed answer uses its user "
        "latency as TTFT and as time to first output)",
    ),
    ("goodput", "good logical requests / measured seconds"),
    ("good fraction", "good / all logical requests (errors in the denominator)"),
    ("error rate", "failed logical requests / all logical requests, by error class of the final attempt"),
    ("throttle rate", "logical requests whose final attempt got HTTP 429 / all (a part of the error rate)"),
    ("fallback rate", "logical requests whose final attempt used a non-primary endpoint / all"),
    (
        "rescue rate",
        "logical requests the primary did not serve but a fallback did / those the primary did not serve",
    ),
    ("cost per 1k requests", "Σ cost of all attempts (failed ones too) / logical requests × 1000"),
    ("cost per good request", "Σ cost of all attempts (failed ones too) / good requests"),
    ("wasted cost", "Σ cost of attempts that failed"),
    ("monthly projection", "declared monthly requests × Σ cost of all attempts / logical requests"),
    (
        "time to detect",
        "first failed attempt on a faulted endpoint, or first fallback away from one, after the "
        "fault started − fault start",
    ),
    (
        "time to recover",
        "first t ≥ fault end at which requests asked for in [t, t+W) have p95 user latency ≤ "
        "max(1.5 × baseline, baseline + 0.25 s) and error rate ≤ baseline + 5 points; W ≈ 20 "
        "requests at the baseline rate, 5–30 s, stepped by 0.5 s",
    ),
    (
        "decision score",
        "weighted mean over the objectives (p95 user TTFT; p95 and p99 user latency; good fraction; cost per "
        "good request; under the faults every contender faced: share served, p95 latency added, slowest "
        "recovery) of best/value (lower is better) or value/best (higher is better); weights from the "
        "scenario's decision section",
    ),
    (
        "proven / tie",
        "a difference is proven when its bootstrap interval (each contender's logical requests resampled, "
        "seeded) excludes 0; a contender proven better on one objective and worse on none dominates; "
        "contenders no one above has proven better than share a rank (=2)",
    ),
    (
        "percentiles",
        "exact, from the raw records: linear interpolation between order statistics "
        "(numpy/pandas default); p50, p90, p95, p99, p99.9",
    ),
    (
        "phases",
        "by t_intended: baseline (before the first fault), fault window (applied → removed, from the "
        "fault events), recovery (the fault's length after it, 10–30 s), after (the rest); a request in "
        "flight across a fault window's start or end (t_intended → t_end of its final attempt) goes to "
        "that fault's transition group instead, shown apart",
    ),
    (
        "fault impact baseline",
        "the contender's requests whose whole life lies outside every window and recovery period of the "
        "faults that touched it: those before the first fault when there are at least 10, else all",
    ),
    (
        "change beyond noise",
        "window percentile − baseline percentile (user TTFT, user latency; p50, p95; succeeded requests). "
        "Noise: each group's distribution-free 95 % interval of that percentile (order statistics at "
        "n·q ± 1.96·√(n·q·(1−q))), half-widths combined in quadrature, at least 1 ms. A change larger "
        "than its noise is always reported; it is judged only with ≥ 5 requests per group for p50, "
        "≥ 20 for p95",
    ),
    (
        "measured window",
        "warm-up and cool-down cut off (manifest load.warmup/cooldown); interrupted runs end "
        "at the last record",
    ),
)
