"""The adaptive capacity search (``load.search``): which rate each contender gets in the next step, and
when it is done. Pure: the run feeds it each step's records and asks for the next rates.

The search runs in **rounds**: every contender still searching runs one step of ``step_duration`` at the
same time (each at its own rate, the same seeded arrivals); the round ends when every request of it has
its record, then each contender's step is judged with the capacity analysis's own rule
(:func:`harness.analysis._capacity.find_knee` on the contender's steps so far: a step passes when its
slack is ≥ 0).

- **Ramp**: while every step of a contender passed, it follows the shared geometric ramp
  ``start × factor^k`` (capped at ``max``): every contender on the ramp gets the same rate.
- **Clearly failed**: a step that misses by at most one request (its slack ≥ −1 / its requests: one more
  good request would have passed it) is run once more at the same rate, and that repeat is the verdict at
  that rate (the first run is marked ``superseded`` and left out of the knee, here and in the analysis).
- **Stop**: a contender whose step clearly fails is never offered that rate or a higher one again (no
  money burnt past the knee); a contender that fails at ``start`` is done (it misses its SLOs even
  there), one that passes at ``max`` is done (``not_reached``), one whose load process fell behind is
  done (``harness``).
- **Refine**: a contender with a failing step bisects its bracket [highest pass below the lowest fail,
  lowest fail] (the next rate is the bracket's midpoint) until the knee's uncertainty is within
  ``precision`` × the knee (``find_knee``'s uncertainty is at least half the bracket, so the bracket
  narrows to about ``2 × precision`` of the rate). Its refinement runs while the others still ramp.
- **Budget**: no round starts when ``max_steps`` rounds have run, when the round would end after
  ``load.duration`` (the search's time budget), or when it would take a contender past
  ``load.max_requests``; the contenders still searching are then ``budget``: their knee is what the steps
  so far bracket.

The step log (per contender: step number, its times on the run clock, offered rate, ramp or refine)
is what the capacity analysis reads for a search run instead of the load's stage list.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis._capacity import capacity_steps, find_knee
from harness.analysis._metrics import good_mask, slo_settings
from harness.analysis._prepare import logical_requests_indexed
from harness.config import Search
from harness.record import Manifest

__all__ = ["SEARCH_DONE", "CapacitySearch", "SearchBook"]

SEARCH_DONE: tuple[str, ...] = (
    "precise",
    "failed_at_start",
    "not_reached",
    "harness",
    "stalled",
    "budget",
    "unfinished",
)
"""Why a contender's search ended: its knee is known to ``precision``; it failed at the first rate; it
passed at ``max``; the load process fell behind; the next rate was one already run; the budget ran out;
the run ended first (stopped, or its deadline passed while a step's requests were still out)."""


@dataclass
class _Contender:
    steps: list[dict[str, Any]] = field(default_factory=list)  # judged step rows, time order
    done: str | None = None
    done_at_s: float | None = None
    scheduled: int = 0
    repeat: float | None = None  # the rate of a marginal failure, to run once more


def _counted(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps the knee is read from: not a marginal failure waiting for its repeat, nor one repeated."""
    return [s for s in steps if not s.get("marginal")]


class SearchBook:
    """The decisions of a search over hand-made or measured step rows (rows as
    :func:`~harness.analysis._capacity.capacity_steps` makes them, with ``offered_rps``)."""

    def __init__(
        self,
        search: Search,
        contenders: Sequence[str],
        slo: Mapping[str, float | None],
        *,
        budget_s: float = math.inf,
        max_requests: int | None = None,
    ) -> None:
        self.search = search
        self.slo = dict(slo)
        self.budget_s = budget_s
        self.max_requests = max_requests
        self.of: dict[str, _Contender] = {c: _Contender() for c in contenders}
        self.rounds = 0

    def plan(self, now_s: float) -> dict[str, float]:
        """The next round's rates if it fits the budget (``max_steps`` rounds, a round ending by
        ``budget_s``, no contender past ``max_requests``); else every contender still searching is done
        (``budget``) and the answer is ``{}``."""
        rates = self.next_rates()
        if not rates:
            return {}
        over = (
            self.rounds >= self.search.max_steps or now_s + self.search.step_duration > self.budget_s + 1e-9
        )
        if not over and self.max_requests is not None:
            over = any(
                self.of[c].scheduled + _round_requests(self.search, r) > self.max_requests
                for c, r in rates.items()
            )
        if over:
            self.out_of_budget(now_s)
            return {}
        return rates

    def knee(self, contender: str) -> dict[str, Any]:
        """``find_knee`` on the contender's steps that count so far (on copies: the rows stay as recorded)."""
        return find_knee(copy.deepcopy(_counted(self.of[contender].steps)), self.slo)

    def _ramping(self, c: _Contender) -> bool:
        return all(s.get("passed") for s in _counted(c.steps))

    def next_rates(self) -> dict[str, float]:
        """The rate of each contender still searching in the next round (``{}``: the search is over)."""
        out: dict[str, float] = {}
        for name, c in self.of.items():
            if c.done is not None:
                continue
            if c.repeat is not None:
                out[name], c.repeat = c.repeat, None
                continue
            if self._ramping(c):
                out[name] = self.search.ramp_rate(len(_counted(c.steps)))
                continue
            lo, hi = (self.knee(name).get("bracket_rps") or [None, None])[:2]
            if lo is None or hi is None:  # cannot happen once observe() ran; be safe
                c.done = "stalled"
                continue
            rate = (float(lo) + float(hi)) / 2
            if any(math.isclose(float(s["offered_rps"]), rate) for s in c.steps):
                c.done = "stalled"
                continue
            out[name] = rate
        return out

    def observe(self, rows: Mapping[str, dict[str, Any]], at_s: float | None = None) -> None:
        """One round's step row per contender that ran in it: judge it and decide who is done."""
        self.rounds += 1
        for name, measured in rows.items():
            c = self.of[name]
            row = dict(measured)
            rate = float(row["offered_rps"])
            for earlier in c.steps:  # a repeat: the verdict at this rate is the new step's
                if (
                    earlier.get("marginal")
                    and not earlier.get("superseded")
                    and math.isclose(float(earlier["offered_rps"]), rate)
                ):
                    earlier["superseded"] = True
            c.steps.append(row)
            knee = find_knee(_counted(c.steps), self.slo)  # judges the rows in place: passed, slack, ...
            r, u, lim = knee["sustainable_rps"], knee["uncertainty_rps"], knee["limit"]
            repeated = any(
                s.get("superseded") and math.isclose(float(s["offered_rps"]), rate) for s in c.steps
            )
            if row.get("passed") is False and not row.get("harness_saturated") and not repeated:
                n = int(row.get("requests") or 0)
                if n and float(row["slack"]) >= -1.0 / n - 1e-12:
                    row["marginal"] = True
                    c.repeat = rate
                    continue
            bracket = knee.get("bracket_rps") or [None, None]
            if lim == "harness":
                c.done = "harness"
            elif bracket[0] is None and bracket[1] is not None:
                c.done = "failed_at_start"
            elif lim == "not_reached" and float(row["offered_rps"]) >= self.search.max * (1 - 1e-9):
                c.done = "not_reached"
            elif r is not None and u is not None and lim != "not_reached" and u <= self.search.precision * r:
                c.done = "precise"
            if c.done is not None:
                c.done_at_s = at_s

    def out_of_budget(self, at_s: float | None = None) -> None:
        """End the search of every contender still searching (``budget``)."""
        for c in self.of.values():
            if c.done is None:
                c.done, c.done_at_s = "budget", at_s

    @property
    def finished(self) -> bool:
        return all(c.done is not None for c in self.of.values())


def _round_requests(search: Search, rate: float) -> int:
    """Requests a constant-rate step schedules at most (Poisson arrivals vary around it)."""
    return max(1, math.ceil(rate * search.step_duration))


class CapacitySearch:
    """A search as the run drives it: ``plan(now)`` the next round, ``close(attempts)`` when every request
    of it has its record; ``log()`` is the step log the run keeps in end.json for the analysis."""

    def __init__(self, manifest: Manifest) -> None:
        load = manifest.load
        if load.search is None:
            raise ValueError("the scenario has no load.search")
        self.search: Search = load.search
        self.manifest = manifest
        self.book = SearchBook(
            self.search,
            [c.name for c in manifest.contenders],
            slo_settings(manifest.slo),
            budget_s=float(load.duration),
            max_requests=load.max_requests,
        )
        self.windows: dict[str, list[dict[str, Any]]] = {c: [] for c in self.book.of}
        self._round: tuple[float, float, dict[str, float]] | None = None

    @property
    def finished(self) -> bool:
        return self.book.finished

    def plan(self, now_s: float) -> dict[str, float]:
        """The rates of the next round, starting at ``now_s`` (run clock); ``{}`` when the search is over."""
        rates = self.book.plan(now_s)
        if not rates:
            return {}
        step = self.search.step_duration
        self._round = (now_s, now_s + step, rates)
        for c, r in rates.items():
            self.windows[c].append(
                {
                    "step": self.book.rounds + 1,
                    "t_start_s": round(now_s, 6),
                    "t_end_s": round(now_s + step, 6),
                    "seconds": step,
                    "offered_rps": r,
                    "ramp": False,
                    "phase": "ramp" if self.book._ramping(self.book.of[c]) else "refine",
                }
            )
        return rates

    def scheduled(self, contender: str, n: int) -> None:
        """The run scheduled ``n`` requests for ``contender`` in the current round."""
        self.book.of[contender].scheduled += n

    def close(self, attempts: Sequence[Mapping[str, Any]], now_s: float) -> dict[str, dict[str, Any]]:
        """Judge the current round from every attempt record of it (dicts of the record schema)."""
        if self._round is None:
            return {}
        _t0, _t1, rates = self._round
        self._round = None
        frame = pd.DataFrame(list(attempts))
        frame = frame[frame["error_class"] != "not_sent"] if len(frame) else frame
        lg, _ = logical_requests_indexed(frame.reset_index(drop=True), self.manifest)
        good = good_mask(lg, self.book.slo) if len(lg) else np.zeros(0, dtype=bool)
        rows = {c: capacity_steps(lg, good, [self.windows[c][-1]], c)[0] for c in rates}
        self.book.observe(rows, at_s=now_s)
        for c, state in self.book.of.items():  # windows and steps are one to one, in time order
            for window, step in zip(self.windows[c], state.steps, strict=False):
                window["superseded"] = bool(step.get("superseded"))
        return rows

    def log(self) -> dict[str, Any]:
        """What end.json keeps: the step windows per contender and why each contender's search ended."""
        return {
            "steps": {c: list(w) for c, w in self.windows.items()},
            "done": {
                c: {"reason": s.done or "unfinished", "at_s": s.done_at_s, "scheduled": s.scheduled}
                for c, s in self.book.of.items()
            },
            "rounds": self.book.rounds,
        }
