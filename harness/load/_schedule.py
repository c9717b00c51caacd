"""Seeded schedule generation (sans-I/O): every logical request's intended start time and prompt.

The same schedule is used for every contender: in parallel mode they all receive request ``seq`` at the
same intended time; in sequential mode contender k's copy is shifted by k run lengths.

Arrival processes (open model), all driven by one ``random.Random(seed)``:

- ``constant``: gaps of exactly ``1 / rate``;
- ``poisson``: exponential gaps with mean ``1 / rate``;
- ``gamma``: gamma gaps with shape ``burstiness`` and mean ``1 / rate`` (shape < 1 is burstier).

Stages change the rate over time (step, or linear ramp from the previous rate). The arrival process is
generated as a unit-rate process and mapped through the integrated rate function, so ramps are exact.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

from harness.config import LoadProfile, PromptItem, PromptSet, turn_count

__all__ = [
    "ScheduledRequest",
    "build_schedule",
    "prompt_order",
    "rate_at",
    "requests_per_contender",
    "schedule_digest",
]


@dataclass(frozen=True, slots=True)
class ScheduledRequest:
    seq: int
    t_intended: float
    prompt_index: int


def _segments(load: LoadProfile) -> list[tuple[float, float, float, float]]:
    """(start, end, rate_start, rate_end) pieces covering [0, duration]."""
    stages = load.effective_stages()
    if not stages:
        return [(0.0, load.duration, load.rate, load.rate)]
    out: list[tuple[float, float, float, float]] = []
    t = 0.0
    prev = stages[0].rate if not stages[0].ramp else 0.0
    for st in stages:
        start_rate = prev if st.ramp else st.rate
        out.append((t, t + st.duration, start_rate, st.rate))
        t += st.duration
        prev = st.rate
    if t < load.duration:
        out.append((t, load.duration, prev, prev))
    return [s for s in out if s[0] < load.duration]


def rate_at(load: LoadProfile, t: float) -> float:
    """Intended arrival rate (requests/s) at run time ``t``."""
    for a, b, r0, r1 in _segments(load):
        if a <= t < b:
            return r0 + (r1 - r0) * (t - a) / (b - a)
    return 0.0


def _invert(segments: list[tuple[float, float, float, float]], target: float) -> float | None:
    """Time at which the integrated rate reaches ``target`` (None when it never does)."""
    acc = 0.0
    for a, b, r0, r1 in segments:
        span = b - a
        area = (r0 + r1) / 2 * span
        if acc + area >= target:
            need = target - acc
            if r1 == r0:
                return a + need / r0 if r0 > 0 else None
            k = (r1 - r0) / span  # rate(t) = r0 + k (t - a); solve r0 x + k x^2 / 2 = need
            disc = r0 * r0 + 2 * k * need
            x = (-r0 + float(max(disc, 0.0) ** 0.5)) / k
            return a + x
        acc += area
    return None


def prompt_order(n_prompts: int, count: int, seed: int) -> list[int]:
    """Prompt index per position: seeded shuffles of the set, repeated, so every prompt is used evenly."""
    rng = random.Random(f"{seed}:prompts")
    order: list[int] = []
    while len(order) < count:
        block = list(range(n_prompts))
        rng.shuffle(block)
        order.extend(block)
    return order[:count]


def build_schedule(load: LoadProfile, n_prompts: int, seed: int) -> list[ScheduledRequest]:
    """The open-model schedule: every arrival in [0, duration), capped by ``max_requests``."""
    if n_prompts < 1:
        raise ValueError("a schedule needs at least one prompt")
    rng = random.Random(f"{seed}:arrivals")
    segments = _segments(load)
    mean_gap = 1.0
    times: list[float] = []
    cum = 0.0
    cap = load.max_requests or 10_000_000
    while len(times) < cap:
        if load.arrival == "constant":
            gap = mean_gap
        elif load.arrival == "poisson":
            gap = rng.expovariate(1.0 / mean_gap)
        else:
            shape = load.burstiness
            gap = rng.gammavariate(shape, mean_gap / shape)
        cum += gap
        if load.arrival == "constant" and not times:
            cum = 0.5  # first constant arrival half a gap in, so a 1/s run of 10 s sends 10
        t = _invert(segments, cum)
        if t is None or t >= load.duration:
            break
        times.append(t)
    order = prompt_order(n_prompts, len(times), seed)
    return [ScheduledRequest(i, round(t, 6), order[i]) for i, t in enumerate(times)]


def requests_per_contender(schedule: Sequence[ScheduledRequest], prompts: Sequence[PromptItem]) -> int:
    """Logical requests per contender the schedule makes: one per scheduled request, every turn of a
    session (a scheduled session is played whole) one of its own."""
    lines = prompts if isinstance(prompts, PromptSet) else None
    turns: dict[int, int] = {}
    total = 0
    for r in schedule:
        i = r.prompt_index
        n = turns.get(i)
        if n is None:
            n = 1 if lines is not None and not lines.is_session(i) else turn_count(prompts[i])
            turns[i] = n
        total += n
    return total


def schedule_digest(schedule: Sequence[ScheduledRequest]) -> str:
    """sha256 over (seq, t_intended µs, prompt index): proves two schedules are identical."""
    h = hashlib.sha256()
    for r in schedule:
        h.update(f"{r.seq},{round(r.t_intended * 1e6)},{r.prompt_index};".encode())
    return h.hexdigest()
