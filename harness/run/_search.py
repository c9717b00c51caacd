"""``load.search`` in a run: one execution fed step by step (harness.analysis._search decides the rates).

Each round schedules one step per contender still searching (the same seeded arrivals, each at its own
rate) from the current run time, waits until the step's time has passed and every request of it has its
final record, hands the round's attempt records to the search, and feeds the next round. The users of a
contender that is done wait for nothing: its lane gets no more requests. The pause between rounds (the
slowest request of a round finishing, and the next tick) is kept in the step log (``pauses_s``).

The run never imports the analysis (the report is built in a child process): the caller hands the search
in (``bakeoff run`` passes ``harness.analysis.CapacitySearch``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from harness.config import LoadProfile
from harness.load import ScheduledRequest, build_schedule
from harness.record import Manifest, RequestRecord

__all__ = ["SearchJudge", "SearchLoop", "SearchMaker"]

LEAD_S = 0.05
"""A round's first request is asked for this long after the round is planned (users wake up first)."""


class SearchJudge(Protocol):
    """What the run needs of a search (harness.analysis.CapacitySearch)."""

    def plan(self, now_s: float) -> dict[str, float]: ...
    def scheduled(self, contender: str, n: int) -> None: ...
    def close(self, attempts: Sequence[Mapping[str, Any]], now_s: float) -> Any: ...
    def log(self) -> dict[str, Any]: ...


SearchMaker = Callable[[Manifest], SearchJudge]


class _Fed(Protocol):
    def feed(self, contender: str, items: Sequence[ScheduledRequest]) -> None: ...
    def end_feeding(self) -> None: ...


def step_schedule(
    load: LoadProfile, rate: float, n_prompts: int, seed: int, round_no: int
) -> list[ScheduledRequest]:
    """One step's arrivals at ``rate`` (the load's arrival process, seeded by the run's seed and the round:
    every contender in a round gets the same times scaled to its rate)."""
    assert load.search is not None
    step = LoadProfile(
        model="open",
        arrival=load.arrival,
        burstiness=load.burstiness,
        rate=rate,
        duration=load.search.step_duration,
    )
    return build_schedule(step, n_prompts, seed * 1009 + round_no)


class SearchLoop:
    """Drives a search over a fed execution: ``start(now)`` once, ``add`` every record, ``tick`` often,
    ``finish`` when the load has ended."""

    def __init__(
        self,
        judge: SearchJudge,
        execution: _Fed,
        load: LoadProfile,
        *,
        n_prompts: int,
        seed: int,
        clock: Callable[[], float],
    ) -> None:
        self.judge = judge
        self.execution = execution
        self.load = load
        self.n_prompts = n_prompts
        self.seed = seed
        self.clock = clock
        self.round_no = 0
        self.pending: dict[str, int] | None = None  # contender -> requests scheduled in the open round
        self.finals: Counter[str] = Counter()
        self.attempts: list[dict[str, Any]] = []
        self.next_seq: Counter[str] = Counter()
        self.scheduled: Counter[str] = Counter()
        self.round_end = 0.0
        self.pauses: list[float] = []
        self.over = False

    def start(self, now_s: float) -> None:
        """Plan and feed the next round (or end the search)."""
        t0 = round(now_s + LEAD_S, 6)
        rates = self.judge.plan(t0)
        if not rates:
            self.over = True
            self.pending = None
            self.execution.end_feeding()
            return
        if self.round_no:
            self.pauses.append(round(t0 - self.round_end, 3))
        self.pending = {}
        for contender, rate in rates.items():
            base = self.next_seq[contender]
            items = [
                ScheduledRequest(base + r.seq, round(t0 + r.t_intended, 6), r.prompt_index)
                for r in step_schedule(self.load, rate, self.n_prompts, self.seed, self.round_no)
            ]
            self.next_seq[contender] += len(items)
            self.scheduled[contender] += len(items)
            self.pending[contender] = len(items)
            self.judge.scheduled(contender, len(items))
            self.execution.feed(contender, items)
        self.round_no += 1
        self.round_end = t0 + self.load.search.step_duration if self.load.search else t0

    def add(self, rec: RequestRecord) -> None:
        if self.pending is None:
            return
        self.attempts.append(rec.to_dict())
        if rec.is_final_attempt:
            self.finals[rec.contender] += 1

    def _complete(self) -> bool:
        return self.pending is not None and all(self.finals[c] >= n for c, n in self.pending.items())

    def tick(self) -> None:
        """Close the round once its time has passed and its every request has its record; feed the next."""
        if self.over or self.pending is None:
            return
        now = self.clock()
        if now < self.round_end or not self._complete():
            return
        self._close(now)
        self.start(self.clock())

    def _close(self, now: float) -> None:
        attempts, self.attempts = self.attempts, []
        self.finals.clear()
        self.pending = None
        self.judge.close(attempts, now)

    def finish(self) -> dict[str, Any]:
        """After the load ended (every request has its record): judge a round left open, return the log."""
        if self.pending is not None and self._complete():
            self._close(self.clock())
        return {**self.judge.log(), "pauses_s": self.pauses}
