"""The ranking: must-pass gates first, then objectives with their uncertainty, dominance and ties.

    gates       the SLO checks the scenario declares must-pass (``decision.gates``); a contender that fails
                one ranks below every contender that passes them all
    objectives  p95 user TTFT; p95 and p99 user latency; good fraction; cost per good request; and, under the
                faults every contender faced (the *shared* faults only): share of requests served, p95 user
                latency added over the fault-free phases, slowest time to recover
    score       each objective scores 1 for the best contender and less for the others: (floor + best) /
                (floor + value) for what should be low (floor 0.1 s for latency added, 1 s for time to
                recover, 0 otherwise), value / best for what should be high. The decision score is their
                weighted mean (``decision.weights``; latency's weight is split between p95 and p99,
                resilience's in three)
    noise       each contender's logical requests are resampled with replacement (``decision.bootstrap``
                times, seeded by the run's seed); a difference is proven when its interval at
                ``decision.confidence`` excludes 0. Time to recover is not resampled: it differs when it
                differs by more than 1 s. Above 10,000 requests a contender is resampled 10,000 at a time
                and the spread scaled by √(10,000 / n)
    dominance   A dominates B when A is proven better on at least one objective and proven worse on none:
                B never ranks above A, whatever the weights
    ties        walking down the order, a contender shares the rank above it ("=2") unless a contender of that
                rank is proven better (decision score interval or dominance)
    robustness  the order is recomputed with every weight at 0.5×, 1× and 1.5× of its declared value (all
                combinations); the nearest single-weight change that reorders contenders of different ranks
                is named

The decision never uses the scorecard's overall score nor the latency-stability ratio (p99/p50): a contender
that is fast and steady is not ranked below one that is slow and steady.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness._percentile import percentiles, row_percentiles
from harness.analysis._faults import NOT_RECOVERED
from harness.analysis._phases import AFTER, BASELINE
from harness.analysis._rows import column_at, positions
from harness.config import Decision

__all__ = [
    "OBJECTIVES",
    "Objective",
    "decide",
    "order_of",
]

RESAMPLE_CAP = 10_000
_CHUNK_CELLS = 2_000_000  # resampled requests held at once
WORST = 1e9  # stands for "never answered" / "no good request": worse than any measured value
RECOVERY_RESOLUTION_S = 1.0


@dataclass(frozen=True, slots=True)
class Objective:
    key: str
    label: str
    weight: str  # the field of decision.weights it takes its weight from
    share: float  # its part of that weight
    higher_is_better: bool
    kind: str  # how to print it: sec, pct, usd
    floor: float = 0.0
    resampled: bool = True


OBJECTIVES: tuple[Objective, ...] = (
    Objective("ttft_p95", "p95 user TTFT", "ttft", 1.0, False, "sec"),
    Objective("latency_p95", "p95 user latency", "latency", 0.5, False, "sec"),
    Objective("latency_p99", "p99 user latency", "latency", 0.5, False, "sec"),
    Objective("good_fraction", "good fraction", "good_fraction", 1.0, True, "pct"),
    Objective("cost_per_good", "cost per good request", "cost", 1.0, False, "usd"),
    Objective("fault_served", "requests served during the shared faults", "resilience", 1 / 3, True, "pct"),
    Objective(
        "fault_added_p95",
        "p95 user latency added by the shared faults",
        "resilience",
        1 / 3,
        False,
        "sec",
        0.1,
    ),
    Objective(
        "recovery_s",
        "slowest recovery after a shared fault",
        "resilience",
        1 / 3,
        False,
        "sec",
        RECOVERY_RESOLUTION_S,
        resampled=False,
    ),
)
_INDEX = {o.key: i for i, o in enumerate(OBJECTIVES)}


# ---- exposure ---------------------------------------------------------------------------------------


def _faced(exposure: pd.DataFrame) -> tuple[list[str], dict[str, list[str]], dict[str, str]]:
    """(shared fault ids, contender → ids of unshared faults it faced, fault id → name)."""
    if exposure.empty:
        return [], {}, {}
    names = {str(f): str(n) for f, n in zip(exposure["fault_id"], exposure["fault"], strict=True)}
    shared_col = exposure["shared"].to_numpy(dtype=bool)
    faced_col = (exposure["seconds_inside"].to_numpy(dtype=float) > 0) | (
        exposure["requests_inside"].to_numpy(dtype=float) > 0
    )
    fids = exposure["fault_id"].astype(str).to_numpy()
    shared = sorted({f for f, s in zip(fids, shared_col, strict=True) if s})
    unshared: dict[str, list[str]] = {}
    for c, f, s, hit in zip(exposure["contender"].astype(str), fids, shared_col, faced_col, strict=True):
        if hit and not s:
            unshared.setdefault(c, [])
            if f not in unshared[c]:
                unshared[c].append(f)
    return shared, unshared, names


# ---- per-contender values and their bootstrap ----------------------------------------------------------


@dataclass
class _Requests:
    """One contender's logical requests as arrays, in the form the objectives need."""

    ttft: np.ndarray  # user TTFT (user latency for answers without a first token); NaN when not ok
    latency: np.ndarray  # user latency; NaN when not ok
    ok: np.ndarray
    good: np.ndarray
    cost: np.ndarray
    inside: np.ndarray  # asked for inside a shared fault window
    clean: np.ndarray  # asked for in a fault-free phase (baseline or after)

    @property
    def n(self) -> int:
        return int(self.ok.size)


def _spans(exposure: pd.DataFrame, shared: set[str]) -> dict[str, tuple[float, float]]:
    """fault id → (start, end) on the run clock, for the shared faults of the exposure table."""
    out: dict[str, tuple[float, float]] = {}
    if exposure.empty or "start_s" not in exposure.columns:
        return out
    for fid, start, end in zip(exposure["fault_id"], exposure["start_s"], exposure["end_s"], strict=True):
        if str(fid) in shared:
            out[str(fid)] = (float(start), float(end))
    return out


class _Table:
    """The per-request table's contender positions and fault-free phases, from which each contender's
    requests are read (only its rows of the columns the objectives need: no copy of the frame)."""

    def __init__(self, lg: pd.DataFrame) -> None:
        self.lg = lg
        self.rows = positions(lg["contender"]) if len(lg) else {}
        if not self.rows:
            return
        # a fault-free phase, through the phases' few distinct names (a missing phase, code -1: not clean)
        codes, names = pd.factorize(lg["phase"])
        clean = [str(p) in (BASELINE, AFTER) for p in names]
        self.phase = np.asarray(codes)
        self.clean_of = np.array([*clean, False], dtype=bool)


def _requests_of(tab: _Table, c: str, shared: dict[str, tuple[float, float]]) -> _Requests:
    pos = tab.rows.get(c)
    if pos is None or not pos.size:
        z = np.empty(0)
        return _Requests(z, z, z.astype(bool), z.astype(bool), z, z.astype(bool), z.astype(bool))
    lat = column_at(tab.lg, "user_latency", pos, float)
    ttft = column_at(tab.lg, "user_ttft", pos, float)
    # asked for inside a shared window (whether it ended inside it or after: a request in flight across the
    # window's end was still asked for during the fault)
    t = column_at(tab.lg, "t_intended", pos, float)
    inside = np.zeros(t.size, dtype=bool)
    for start, end in shared.values():
        inside |= (t >= start) & (t < end)
    ok = column_at(tab.lg, "ok", pos, bool)
    return _Requests(
        ttft=np.where(ok, np.where(np.isnan(ttft), lat, ttft), math.nan),
        latency=np.where(ok, lat, math.nan),
        ok=ok,
        good=column_at(tab.lg, "good", pos, bool),
        cost=np.nan_to_num(column_at(tab.lg, "cost", pos, float)),
        inside=inside,
        clean=tab.clean_of[tab.phase[pos]],
    )


def _values(r: _Requests, idx: np.ndarray | None, recovery: float) -> np.ndarray:
    """The objectives (columns, in :data:`OBJECTIVES` order) over each row of request positions ``idx``
    (None: one row of every request, read in place)."""
    nan = math.nan

    def take(a: np.ndarray) -> np.ndarray:  # positions drawn in [0, n): "clip" skips the bounds check
        return a[None, :] if idx is None else np.take(a, idx, mode="clip")

    lat_ok, good = take(r.latency), take(r.good)
    m = lat_ok.shape[1]
    out = np.full((lat_ok.shape[0], len(OBJECTIVES)), nan)
    out[:, _INDEX["ttft_p95"]] = row_percentiles(take(r.ttft), (95,))[:, 0]
    out[:, [_INDEX["latency_p95"], _INDEX["latency_p99"]]] = row_percentiles(lat_ok, (95, 99))
    n_good = good.sum(axis=1)
    out[:, _INDEX["good_fraction"]] = n_good / m if m else 0.0
    spent = take(r.cost).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[:, _INDEX["cost_per_good"]] = np.where(n_good > 0, spent / np.maximum(n_good, 1), WORST)
    if r.inside.any():
        ok, inside, clean = take(r.ok), take(r.inside), take(r.clean)
        n_in = inside.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, _INDEX["fault_served"]] = np.where(n_in > 0, (ok & inside).sum(axis=1) / n_in, nan)
        in_p95 = row_percentiles(np.where(inside, lat_ok, nan), (95,))[:, 0]
        clean_p95 = row_percentiles(np.where(clean, lat_ok, nan), (95,))[:, 0]
        added = np.where(np.isnan(in_p95), WORST, np.maximum(in_p95 - clean_p95, 0.0))
        out[:, _INDEX["fault_added_p95"]] = np.where(np.isnan(clean_p95) | (n_in == 0), nan, added)
    for key in ("ttft_p95", "latency_p95", "latency_p99"):  # never answered: the worst latency there is
        col = out[:, _INDEX[key]]
        col[np.isnan(col)] = WORST
    out[:, _INDEX["recovery_s"]] = recovery
    return out


def _bootstrap(
    r: _Requests, recovery: float, n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(point values, ``n_boot`` × objectives over resamples of the contender's requests)."""
    if r.n == 0:
        point = np.full(len(OBJECTIVES), math.nan)
        point[[_INDEX["ttft_p95"], _INDEX["latency_p95"], _INDEX["latency_p99"]]] = WORST
        point[_INDEX["good_fraction"]] = 0.0
        point[_INDEX["cost_per_good"]] = WORST
        point[_INDEX["recovery_s"]] = recovery
        return point, np.tile(point, (n_boot, 1))
    point = _values(r, None, recovery)[0]
    m = min(r.n, RESAMPLE_CAP)
    chunk = max(1, _CHUNK_CELLS // m)
    reps = np.concatenate(
        [
            _values(r, rng.integers(0, r.n, size=(min(chunk, n_boot - b), m)), recovery)
            for b in range(0, n_boot, chunk)
        ]
    )
    if m < r.n:  # m-out-of-n: a resample of m spreads √(n/m) times wider than one of n would
        finite = (reps < WORST) & (point < WORST)
        reps = np.where(finite, point + (reps - point) * math.sqrt(m / r.n), reps)
    return point, np.where(np.isnan(reps), point, reps)  # a resample without fault requests: no change


def _recovery(
    c: str, impact: Sequence[Mapping[str, Any]], shared: set[str], window_end: float
) -> tuple[float, str | None]:
    """(slowest recovery after a shared fault, why it is unknown). Not recovered counts as the run's rest."""
    worst = 0.0
    for f in impact:
        if str(f["contender"]) != c or str(f["fault_id"]) not in shared:
            continue
        ttr = f.get("time_to_recover_s")
        if isinstance(ttr, int | float) and math.isfinite(ttr):
            worst = max(worst, float(ttr))
        elif f.get("recovery") == NOT_RECOVERED:
            worst = max(worst, window_end - float(f["end_s"]), 0.0)
        else:
            return math.nan, f"{c}: {f.get('recovery')}"
    return worst, None


# ---- scores, proofs, order ---------------------------------------------------------------------------


def _normalise(values: np.ndarray) -> np.ndarray:
    """Per objective, 1 for the best contender: values (…, contenders, objectives) → scores in [0, 1]."""
    out = np.empty_like(values)
    for k, o in enumerate(OBJECTIVES):
        v = values[..., k]
        if o.higher_is_better:
            best = v.max(axis=-1, keepdims=True)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[..., k] = np.where(best > 0, v / np.where(best > 0, best, 1.0), 1.0)
        else:
            best = v.min(axis=-1, keepdims=True)
            den = o.floor + v
            with np.errstate(divide="ignore", invalid="ignore"):
                out[..., k] = np.where(den > 0, (o.floor + best) / np.where(den > 0, den, 1.0), 1.0)
    return out


def _weighted(scores: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (scores * w).sum(axis=-1) / w.sum() if w.sum() > 0 else np.zeros(scores.shape[:-1])


def _interval(d: np.ndarray, confidence: float) -> tuple[float, float]:
    lo, hi = percentiles(d, (50 * (1 - confidence), 50 * (1 + confidence)))
    return lo, hi


def _better(d: np.ndarray, confidence: float) -> int:
    """+1 when ``d`` (a − b, positive = a better) is proven above 0, −1 when below, 0 when not proven."""
    lo, hi = _interval(d, confidence)
    return 1 if lo > 0 else -1 if hi < 0 else 0


def order_of(
    names: Sequence[str],
    score: Mapping[str, float],
    dominates: Mapping[str, set[str]],
    passed: Mapping[str, bool],
) -> list[str]:
    """Gate passers first; within each group by score, never a contender above one that dominates it."""
    out: list[str] = []
    for group in ([c for c in names if passed[c]], [c for c in names if not passed[c]]):
        left = sorted(group, key=lambda c: (-score[c], names.index(c)))
        while left:
            free = [c for c in left if not any(c in dominates.get(o, set()) for o in left if o != c)]
            pick = (free or left)[0]  # a dominance cycle (noise) falls back to the score
            out.append(pick)
            left.remove(pick)
    return out


def _weight_vector(weights: Mapping[str, float], used: Sequence[bool]) -> np.ndarray:
    return np.array(
        [weights[o.weight] * o.share if u else 0.0 for o, u in zip(OBJECTIVES, used, strict=True)]
    )


def _flips(
    order: list[str], block_of: Mapping[str, int], passed: Mapping[str, bool]
) -> list[tuple[str, str]]:
    """Pairs (a, b) of contenders of different ranks, same gate group, with b now above a."""
    pos = {c: i for i, c in enumerate(order)}
    return [
        (a, b)
        for a, b in itertools.permutations(order, 2)
        if passed[a] == passed[b] and block_of[a] < block_of[b] and pos[b] < pos[a]
    ]


def _factor_text(key: str, f: float) -> str:
    label = key.replace("_", " ")
    if f == 0:
        return f"leaving {label} out"
    if f > 1:
        return f"weighting {label} {f:g}×"
    return f"weighting {label} {f:.2g}× (less)"


def _robustness(
    names: list[str],
    point_scores: np.ndarray,
    weights: Mapping[str, float],
    used: Sequence[bool],
    dominates: Mapping[str, set[str]],
    passed: Mapping[str, bool],
    block_of: Mapping[str, int],
) -> dict[str, Any]:
    keys = sorted({o.weight for o, u in zip(OBJECTIVES, used, strict=True) if u and weights[o.weight] > 0})
    apart = len(set(block_of.values())) > 1
    if not apart or len(keys) < 2:
        text = (
            "No weighting changes the order: the contenders tie within this run's noise."
            if not apart
            else "The order does not depend on the weights: one objective decides it."
        )
        return {"holds": True, "text": text, "flips": []}

    def flipped(w: Mapping[str, float]) -> list[tuple[str, str]]:
        s = _weighted(point_scores, _weight_vector(w, used))
        order = order_of(names, dict(zip(names, s.tolist(), strict=True)), dominates, passed)
        return _flips(order, block_of, passed)

    holds = True
    for combo in itertools.product((0.5, 1.0, 1.5), repeat=len(keys)):
        if flipped({**weights, **{k: weights[k] * f for k, f in zip(keys, combo, strict=True)}}):
            holds = False
            break
    nearest: list[dict[str, Any]] = []
    for k in keys:
        for f in (1.5, 0.5, 2.0, 1 / 3, 3.0, 0.2, 5.0, 0.1, 10.0, 0.0):
            pairs = flipped({**weights, k: weights[k] * f})
            if pairs:
                a, b = pairs[0]
                nearest.append({"weight": k, "factor": f, "above": b, "below": a})
                break
    nearest.sort(key=lambda x: abs(math.log(x["factor"])) if x["factor"] > 0 else math.inf)
    first = nearest[0] if nearest else None
    change = (
        f"{_factor_text(first['weight'], first['factor'])} puts {first['above']} above {first['below']}"
        if first
        else ""
    )
    if holds:
        text = "The order holds for any weights within ±50 % of the declared ones"
        text += f"; {change.replace(' puts ', ' would put ')}." if change else "."
    else:
        text = "The order depends on the weights" + (f": {change}." if change else ".")
    return {"holds": holds, "text": text, "flips": nearest}


# ---- the decision ------------------------------------------------------------------------------------


def decide(
    contenders: Sequence[str],
    lg: pd.DataFrame,
    passed: Mapping[str, bool],
    decision: Decision,
    impact: Sequence[Mapping[str, Any]],
    exposure: pd.DataFrame,
    priced: Mapping[str, bool],
    *,
    window_end: float,
    seed: int,
) -> dict[str, Any]:
    """Rank ``contenders`` (pure; plain data out). ``passed``: did each pass every must-pass gate."""
    names = list(contenders)
    weights = decision.weights.model_dump()
    shared, unshared, fault_names = _faced(exposure)
    shared_set = set(shared)
    spans = _spans(exposure, shared_set)
    rng = np.random.default_rng(seed)
    n_boot = decision.bootstrap
    point = np.full((len(names), len(OBJECTIVES)), math.nan)
    reps = np.full((n_boot, len(names), len(OBJECTIVES)), math.nan)
    notes: list[str] = []
    tab = _Table(lg)
    for i, c in enumerate(names):
        r = _requests_of(tab, c, spans)
        rec, why = _recovery(c, impact, shared_set, window_end) if shared else (math.nan, None)
        if why:
            notes.append(f"time to recover not compared: {why}")
        point[i], reps[:, i, :] = _bootstrap(r, rec, n_boot, rng)
    used = [weights[o.weight] > 0 and bool(names) for o in OBJECTIVES]
    unpriced = [c for c in names if not priced.get(c, False)]
    if unpriced and used[_INDEX["cost_per_good"]]:
        notes.append(f"cost not compared: no price table for {', '.join(unpriced)}")
    if unpriced:
        used[_INDEX["cost_per_good"]] = False
    for k, o in enumerate(OBJECTIVES):
        if used[k] and o.weight == "resilience" and (not shared or np.isnan(point[:, k]).any()):
            used[k] = False
    w = _weight_vector(weights, used)
    norm_point = _normalise(np.nan_to_num(point, nan=0.0))
    norm_reps = _normalise(np.nan_to_num(reps, nan=0.0))
    score = _weighted(norm_point, w)
    score_reps = _weighted(norm_reps, w)
    conf = decision.confidence

    # which contender is proven better than which, objective by objective
    better_on: dict[tuple[str, str], list[str]] = {(a, b): [] for a in names for b in names if a != b}
    for k, o in enumerate(OBJECTIVES):
        if not used[k]:
            continue
        for i, j in itertools.combinations(range(len(names)), 2):
            if o.resampled:
                d = reps[:, i, k] - reps[:, j, k]
                sign = _better(d if o.higher_is_better else -d, conf)
            else:
                diff = point[j, k] - point[i, k]
                sign = 1 if diff > RECOVERY_RESOLUTION_S else -1 if diff < -RECOVERY_RESOLUTION_S else 0
            if sign > 0:
                better_on[(names[i], names[j])].append(o.key)
            elif sign < 0:
                better_on[(names[j], names[i])].append(o.key)
    dominates: dict[str, set[str]] = {c: set() for c in names}
    for (a, b), keys in better_on.items():
        if keys and not better_on[(b, a)] and passed[a] == passed[b]:
            dominates[a].add(b)
    score_better = {
        (a, b): _better(score_reps[:, i] - score_reps[:, j], conf) > 0
        for i, a in enumerate(names)
        for j, b in enumerate(names)
        if a != b
    }
    s_of = dict(zip(names, score.tolist(), strict=True))
    order = order_of(names, s_of, dominates, passed)

    # ranks: a contender shares the rank above unless someone there is proven better
    blocks: list[list[str]] = []
    for c in order:
        top = blocks[-1] if blocks else None
        same_group = top is not None and passed[top[0]] == passed[c]
        if top is not None and same_group and not any(c in dominates[m] or score_better[(m, c)] for m in top):
            top.append(c)
            continue
        blocks.append([c])
    ranks: dict[str, dict[str, Any]] = {}
    block_of: dict[str, int] = {}
    position = 1
    for bi, block in enumerate(blocks):
        for c in block:
            block_of[c] = bi
            ranks[c] = {
                "rank": position,
                "label": f"={position}" if len(block) > 1 else str(position),
                "tied_with": [o for o in block if o != c],
            }
        position += len(block)

    robustness = _robustness(names, norm_point, weights, used, dominates, passed, block_of)
    values: dict[str, dict[str, Any]] = {}
    for i, c in enumerate(names):
        values[c] = {}
        for k, o in enumerate(OBJECTIVES):
            lo, hi = _interval(reps[:, i, k], conf) if o.resampled else (point[i, k], point[i, k])
            values[c][o.key] = {
                "value": None if point[i, k] >= WORST else point[i, k],
                "low": None if lo >= WORST else lo,
                "high": None if hi >= WORST else hi,
                "score": norm_point[i, k] if used[k] else None,
            }
    scores = {}
    for i, c in enumerate(names):
        lo, hi = _interval(score_reps[:, i], conf)
        scores[c] = {"score": float(score[i]), "low": lo, "high": hi}
    resilience = _resilience_note(names, shared, unshared, fault_names, exposure, used)
    return {
        "order": order,
        "ranks": ranks,
        "passed": dict(passed),
        "scores": scores,
        "values": values,
        "objectives": [
            {
                "key": o.key,
                "label": o.label,
                "kind": o.kind,
                "higher_is_better": o.higher_is_better,
                "weight": float(w[k]),
                "used": used[k],
            }
            for k, o in enumerate(OBJECTIVES)
        ],
        "weights": weights,
        "better_on": [
            {
                "better": a,
                "worse": b,
                "objectives": keys,
                "labels": [OBJECTIVES[_INDEX[k]].label for k in keys],
            }
            for (a, b), keys in better_on.items()
            if keys
        ],
        "score_proven": [{"better": a, "worse": b} for (a, b), v in score_better.items() if v],
        "dominates": {c: sorted(v) for c, v in dominates.items()},
        "robustness": robustness,
        "resilience": resilience,
        "notes": notes,
        "confidence": conf,
        "bootstrap": n_boot,
        "gates": list(decision.gates),
    }


def _resilience_note(
    names: list[str],
    shared: list[str],
    unshared: dict[str, list[str]],
    fault_names: dict[str, str],
    exposure: pd.DataFrame,
    used: Sequence[bool],
) -> dict[str, Any]:
    """Which faults resilience was compared on, and the sentence that says why not on the others."""
    compared = any(u for o, u in zip(OBJECTIVES, used, strict=True) if o.weight == "resilience")

    def named(ids: Sequence[str]) -> str:
        return " and ".join(fault_names.get(f, f) for f in ids)

    text: str | None = None
    if unshared and not shared:
        faced = "; ".join(f"{c}: {named(unshared[c]) if c in unshared else 'none'}" for c in names)
        text = f"resilience is not compared: the contenders faced different faults ({faced})"
    elif unshared:
        who: dict[str, list[str]] = {}
        for c, ids in unshared.items():
            for f in ids:
                who.setdefault(f, []).append(c)
        parts = [f"{fault_names.get(f, f)} ({', '.join(cs)} only)" for f, cs in who.items()]
        text = f"resilience is compared on {named(shared)} only: not every contender faced " + " and ".join(
            parts
        )
    elif shared and not compared:
        text = f"resilience under {named(shared)} is shown but not weighed"
    elif not shared and exposure.empty:
        text = None  # no faults: nothing to say about exposure
    return {"compared": compared and bool(shared), "shared": shared, "unshared": unshared, "text": text}
