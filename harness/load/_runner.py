"""Executing a schedule with Locust used as a library.

Importing this module imports Locust, which monkey-patches the process with gevent: only the process
that generates load imports it (never the simulator or the embedded proxy, which are child processes).

Open model without coordinated omission: each contender has a lane holding the identical schedule.
A pool of Locust users serves each lane; a free user takes the next request in order, sleeps until its
intended time and sends it. When every user is busy the request waits for one; its intended time is kept,
so the lag shows up in ``t_dispatch - t_intended`` and in user latency. Nothing is dropped.

Closed model: each user loops (request, think time) until the run's duration; the prompt order is the
same seeded sequence for every contender.

Sessions (a prompt with ``turns``): a scheduled request (open model) or a loop round (closed model) is a
whole session, played by one user: turn 1 at the intended time, each later turn ``think_time`` after the
answer to the one before, each carrying the conversation so far (:func:`harness.config.session_turn`;
the contender's own answers or the recorded ones, ``load.history``). Every turn is a logical request of
its own (``<contender>-<seq>-tNN``; records carry ``session_id`` and ``turn``). A turn that fails with
``history: own`` ends the session: its remaining turns are recorded as ``not_sent`` at once; with
``history: recorded`` the session goes on. When the load ends, the turns of an open-model session not
sent yet are recorded as ``not_sent``; the closed model stops a session at the end of its duration.

However the load ends (drained, deadline, stop, abort), :meth:`LoadExecutor.end` makes every scheduled
request a record: it throws ``RunEnded`` into every busy user, so an attempt in flight records the timings
it reached as ``run_ended`` (and a retry waiting for its backoff is ``not_sent``), then records each request
still waiting for its time or for a free user, and each one never taken, as ``not_sent``. Open model:
records per contender = the schedule, always. Closed model: every request started ends as a record.

Records are the single source of truth: users do not fire Locust's per-request event (its rounded
statistics are never used, and feeding them cost about 10 % of the load process's CPU per request in
``python -m harness.bench.load``).
"""

from __future__ import annotations

import gc
import itertools
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# httpcore probes for trio when it is imported, and trio reads select.epoll at import, which gevent's
# patched select lacks: in the load process httpcore must see trio as absent (it uses neither).
sys.modules.setdefault("trio", None)  # type: ignore[arg-type]

# isort: off
import gevent  # noqa: E402
import gevent.event  # noqa: E402
from locust import User, task  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.exception import StopUser  # noqa: E402
# isort: on

from harness.client import Router, RunEnded  # noqa: E402
from harness.config import HISTORY_ANSWER_CHARS, LoadProfile, PromptItem, session_turn  # noqa: E402
from harness.load._execution import ExecutionEnd  # noqa: E402
from harness.load._schedule import ScheduledRequest, prompt_order  # noqa: E402
from harness.record import RequestRecord  # noqa: E402

__all__ = ["Lane", "LoadExecutor"]


_WHY: dict[str, str] = {
    "completed": "the run ended",
    "stopped": "the run was stopped",
    "deadline": "the run's deadline (planned end + grace) passed",
    "aborted": "the run was aborted",
    "workers_lost": "every worker was lost",
}
"""How the load ended (``ExecutionEnd``), in the words records use."""


@dataclass
class _Session:
    """An open-model session being played: what a sudden end records as not sent."""

    seq: int
    prompt_index: int
    user: int
    t_intended: float  # of the last turn sent (the first turn's intended time before that)
    next_turn: int = 1  # the first turn not sent yet


@dataclass
class Lane:
    """One contender's share of the work: its schedule, its router and live counters."""

    contender: str
    router: Router
    schedule: Sequence[ScheduledRequest]
    prompts: Sequence[PromptItem]
    offset: float = 0.0  # sequential mode: this lane's schedule starts later
    next_index: int = 0
    held: int = 0  # taken from the schedule by a user: waiting for its intended time or in flight
    in_flight: int = 0
    done: int = 0
    failed: int = 0
    fallbacks: int = 0
    stopped_reason: str | None = None
    feeding: bool = False  # load.search: more requests may be appended to ``schedule`` (a list) later
    closed_order: list[int] = field(default_factory=list)
    waiting: dict[int, tuple[ScheduledRequest, int]] = field(default_factory=dict)
    """Taken by a user and not dispatched yet (seq → item, user): what a sudden end records as not sent."""
    sessions: dict[int, _Session] = field(default_factory=dict)
    """Open-model sessions being played (seq → session): their turns not sent yet are recorded at the end."""

    @property
    def primary(self) -> str:
        return self.router.chain[0]

    def take(self, user: int) -> ScheduledRequest | None:
        if self.stopped_reason is not None or self.next_index >= len(self.schedule):
            return None
        item = self.schedule[self.next_index]
        self.next_index += 1
        self.held += 1
        self.waiting[item.seq] = (item, user)
        return item

    @property
    def drained(self) -> bool:
        exhausted = self.next_index >= len(self.schedule) and not self.feeding
        return (self.stopped_reason is not None or exhausted) and self.held == 0


def _quiet_gc() -> None:
    """Everything alive now (modules, users, the schedule) lives for the whole run: move it out of the
    collector's sight and collect young objects less often, so a full collection never stalls every
    greenlet in the middle of a stream (it showed in the TTFT tail)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 1_000)


class _BakeoffUser(User):
    """A Locust user bound to one lane. Plain ``User``: the HTTP work is done by the harness's client."""

    abstract = False
    wait_time = staticmethod(lambda: 0.0)
    executor: LoadExecutor  # set on the subclass made per run

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.lane, self.user_no = self.executor.assign()

    @task
    def work(self) -> None:
        ex = self.executor
        me = gevent.getcurrent()
        ex.users.add(me)
        try:
            ex.go.wait()
            if ex.load.model == "open":
                self._open_loop(ex)
            else:
                self._closed_loop(ex)
        except RunEnded:
            pass  # the load is over: the attempt recorded itself; the executor records what was held
        finally:
            ex.users.discard(me)
        raise StopUser

    def _open_loop(self, ex: LoadExecutor) -> None:
        lane = self.lane
        while not ex.stopping:
            item = lane.take(self.user_no)
            if item is None:
                if lane.feeding and lane.stopped_reason is None:
                    ex.more.wait()  # load.search: the next step's requests, or the end of the search
                    continue
                return
            try:
                t_intended = item.t_intended + lane.offset
                wait = t_intended - ex.clock()
                if wait > 0:
                    gevent.sleep(wait)
                if ex.stopping:
                    return  # still in lane.waiting: the executor records it as not sent
                lane.waiting.pop(item.seq, None)
                ex.send(lane, item.seq, item.prompt_index, t_intended, self.user_no)
            finally:
                lane.held -= 1

    def _closed_loop(self, ex: LoadExecutor) -> None:
        lane = self.lane
        end = lane.offset + ex.load.duration
        start = lane.offset + self.user_no / ex.load.spawn_rate  # users join at spawn_rate per contender
        if ex.clock() < start:
            gevent.sleep(start - ex.clock())
        while not ex.stopping and lane.stopped_reason is None and ex.clock() < end:
            seq = lane.next_index
            if ex.load.max_requests is not None and seq >= ex.load.max_requests:
                return
            lane.next_index += 1
            if seq >= len(lane.closed_order):
                lane.closed_order = prompt_order(len(lane.prompts), 2 * seq + 64, ex.seed)
            ex.send(lane, seq, lane.closed_order[seq], ex.clock(), self.user_no)
            if ex.load.think_time > 0:
                gevent.sleep(ex.load.think_time)


def _stamped(
    emit: Callable[[RequestRecord], None], session_id: str, turn: int
) -> Callable[[RequestRecord], None]:
    """``emit`` for the records of one session turn: each carries the session's id and the turn."""

    def out(rec: RequestRecord) -> None:
        rec.session_id, rec.turn = session_id, turn
        emit(rec)

    return out


class LoadExecutor:
    """Run lanes with a Locust local runner until they drain, the time is up, or ``stop()`` is called."""

    def __init__(
        self,
        lanes: list[Lane],
        load: LoadProfile,
        *,
        run_id: str,
        seed: int,
        clock: Callable[[], float],
        emit: Callable[[RequestRecord], None],
        worker: str = "local",
    ) -> None:
        self.lanes = lanes
        self.load = load
        self.run_id = run_id
        self.seed = seed
        self.clock = clock
        self.emit = emit
        self.worker = worker
        self.stopping = False
        self.stop_asked = False  # stop() was called (a signal), as opposed to the load's own end
        self.ended = False
        self.users: set[gevent.Greenlet] = set()  # user greenlets inside work(): what end() cuts
        self.unwound_late = 0  # user greenlets end() could not unwind (their requests have no record)
        self._assign = itertools.cycle([(lane, n) for n in range(load.users) for lane in lanes])
        self._lock = threading.Lock()
        self.env: Environment | None = None
        self.go = gevent.event.Event()  # users start work only once every user is spawned
        self.more = gevent.event.Event()  # set (and replaced) when requests are fed to a lane: fed()

    def fed(self) -> None:
        """Wake the users waiting for more requests (load.search fed a step, ended, or the run stops)."""
        woken, self.more = self.more, gevent.event.Event()
        woken.set()

    def assign(self) -> tuple[Lane, int]:
        with self._lock:
            return next(self._assign)

    def send(self, lane: Lane, seq: int, prompt_index: int, t_intended: float, user_no: int) -> None:
        """Send scheduled request ``seq``: one logical request, or every turn of a session."""
        prompt = lane.prompts[prompt_index]
        if prompt.turns:
            self._play_session(lane, seq, prompt_index, prompt, t_intended, user_no)
            return
        self._route(lane, f"{lane.contender}-{seq:06d}", prompt, seq, t_intended, user_no, self.emit)

    def _play_session(
        self, lane: Lane, seq: int, prompt_index: int, session: PromptItem, t_intended: float, user_no: int
    ) -> None:
        turns = len(session.turns or ())
        own = self.load.history == "own"
        open_model = self.load.model == "open"
        state = _Session(seq, prompt_index, user_no, t_intended)
        if open_model:
            lane.sessions[seq] = state
        answers: list[str | None] = []
        due = t_intended
        for k in range(1, turns + 1):
            got: list[str] = []
            state.next_turn, state.t_intended = k + 1, due
            final = self._route(
                lane,
                f"{lane.contender}-{seq:06d}-t{k:02d}",
                session_turn(session, k, answers if own else [None] * (k - 1)),
                seq,
                due,
                user_no,
                _stamped(self.emit, session.id, k),
                on_answer=got.append if own else None,
            )
            if self.stopping:
                return  # the load is ending: end() records the turns not sent (open model)
            if final.outcome != "ok" and own:
                why = (
                    f"turn {k} of the session failed ({final.error_class}): with history: own the next "
                    "turns have no answer to carry"
                )
                self._unsent_turns(lane, seq, session, k + 1, due, user_no, why)
                break
            answers.append(got[-1][:HISTORY_ANSWER_CHARS] if got else None)
            if k == turns:
                break
            due = self.clock() + self.load.think_time
            if self.load.think_time > 0:
                gevent.sleep(max(0.0, due - self.clock()))
            if self.stopping or lane.stopped_reason is not None:
                return  # open model: end() records the turns not sent
            if not open_model and self.clock() >= lane.offset + self.load.duration:
                break  # closed model: the session stops with the run's duration
        lane.sessions.pop(seq, None)

    def _unsent_turns(
        self,
        lane: Lane,
        seq: int,
        session: PromptItem,
        first: int,
        t_intended: float,
        user_no: int,
        why: str,
    ) -> None:
        """Record turns ``first``.. of a session as ``not_sent``."""
        for k in range(first, len(session.turns or ()) + 1):
            rec = lane.router.not_sent(
                f"{lane.contender}-{seq:06d}-t{k:02d}",
                session_turn(session, k, [None] * (k - 1)),
                t_intended=t_intended,
                seq=seq,
                user=user_no,
                worker=self.worker,
                why=why,
            )
            rec.session_id, rec.turn = session.id, k
            self.emit(rec)

    def _route(
        self,
        lane: Lane,
        request_id: str,
        prompt: PromptItem,
        seq: int,
        t_intended: float,
        user_no: int,
        emit: Callable[[RequestRecord], None],
        on_answer: Callable[[str], None] | None = None,
    ) -> RequestRecord:
        lane.in_flight += 1
        try:
            final = lane.router.route(
                request_id,
                prompt,
                t_intended=t_intended,
                seq=seq,
                user=user_no,
                worker=self.worker,
                emit=emit,
                on_answer=on_answer,
            )
        finally:
            lane.in_flight -= 1
        lane.done += 1
        if final.outcome != "ok":
            lane.failed += 1
        if final.endpoint != lane.primary:
            lane.fallbacks += 1
        ceiling = self.load.max_error_rate
        if ceiling is not None and lane.done >= 20 and lane.failed / lane.done > ceiling:
            lane.stopped_reason = f"error rate {lane.failed / lane.done:.0%} above the ceiling {ceiling:.0%}"
        return final

    @property
    def in_flight(self) -> int:
        return sum(lane.in_flight for lane in self.lanes)

    def finished(self) -> bool:
        """Every lane has nothing left to send and nothing in flight (closed model: its time is up)."""
        if self.load.model == "open":
            return all(lane.drained for lane in self.lanes)
        now = self.clock()
        return all(
            (lane.stopped_reason is not None or now >= lane.offset + self.load.duration)
            and lane.in_flight == 0
            for lane in self.lanes
        )

    def stop(self) -> None:
        """Stop scheduling new requests; in-flight ones go on until they finish or :meth:`end`."""
        self.stopping = True
        self.stop_asked = True
        self.fed()

    def end(self, reason: str, *, patience_s: float = 5.0) -> None:
        """End the load now, leaving a record for every scheduled request (idempotent).

        Throws ``RunEnded`` into every busy user until all have unwound (at most ``patience_s``): an
        attempt in flight records itself as ``run_ended`` with the timings it reached, a retry waiting for
        its backoff as ``not_sent``. Then every request a user held before dispatching it, and every one
        never taken (open model), is recorded as ``not_sent``. ``reason`` is how the load ended
        (``ExecutionEnd``)."""
        if self.ended:
            return
        self.ended = True
        self.stopping = True
        why = _WHY.get(reason, reason)
        if reason == "deadline" and self.stop_asked:
            why = "the run was stopped and its grace passed"
        cut = RunEnded(why)
        until = time.monotonic() + patience_s
        while self.users and time.monotonic() < until:
            busy = list(self.users)
            for g in busy:
                g.kill(cut, block=False)
            gevent.joinall(busy, timeout=0.2)
        self.unwound_late = len(self.users)
        for lane in self.lanes:
            held = sorted(lane.waiting.values(), key=lambda iu: iu[0].seq)
            lane.waiting.clear()
            rest = lane.schedule[lane.next_index :] if self.load.model == "open" else ()
            if self.load.model == "open":
                lane.next_index = len(lane.schedule)
            lane_why = f"contender stopped early: {lane.stopped_reason}" if lane.stopped_reason else why
            playing = sorted(lane.sessions.values(), key=lambda st: st.seq)
            lane.sessions.clear()
            for st in playing:  # open-model sessions cut short: their turns not sent yet
                session = lane.prompts[st.prompt_index]
                self._unsent_turns(lane, st.seq, session, st.next_turn, st.t_intended, st.user, lane_why)
            for item, user in itertools.chain(held, ((r, -1) for r in rest)):
                prompt = lane.prompts[item.prompt_index]
                t_intended = item.t_intended + lane.offset
                if prompt.turns:
                    self._unsent_turns(lane, item.seq, prompt, 1, t_intended, user, lane_why)
                    continue
                self.emit(
                    lane.router.not_sent(
                        f"{lane.contender}-{item.seq:06d}",
                        prompt,
                        t_intended=t_intended,
                        seq=item.seq,
                        user=user,
                        worker=self.worker,
                        why=lane_why,
                    )
                )

    def run(
        self,
        *,
        deadline: Callable[[], float],
        aborted: Callable[[], bool] = lambda: False,
        on_tick: Callable[[], None] | None = None,
        on_ready: Callable[[], None] | None = None,
        tick_s: float = 0.25,
    ) -> ExecutionEnd:
        """Run until every lane drains, ``deadline()`` (run clock) passes or ``aborted()``.

        ``on_ready`` is called once every user is spawned, just before they start work (the run clock
        starts there, so spawning never shows up as schedule lag).
        Returns why it ended: completed, stopped, deadline or aborted."""
        user_cls = type("BakeoffUser", (_BakeoffUser,), {"executor": self})
        self.env = Environment(user_classes=[user_cls], catch_exceptions=True)
        runner = self.env.create_local_runner()
        total_users = self.load.users * len(self.lanes)
        runner.start(total_users, spawn_rate=100, wait=False)  # Locust warns above 100/s
        reason: ExecutionEnd = "aborted"  # unless the loop below says otherwise
        try:
            for _ in range(400):
                if self._spawned(runner, total_users):
                    break
                gevent.sleep(0.025)
            _quiet_gc()  # before the clock starts: with a large plan a full collection takes seconds
            if on_ready is not None:
                on_ready()
            self.go.set()
            reason = "completed"
            while True:
                gevent.sleep(tick_s)
                if on_tick is not None:
                    on_tick()
                if aborted():
                    reason = "aborted"
                    break
                if self.finished() and self._spawned(runner, total_users):
                    break
                if self.stopping and self.in_flight == 0:
                    reason = "stopped"
                    break
                if self.clock() >= deadline():
                    reason = "deadline"
                    break
        finally:
            try:
                self.end(reason)
            finally:
                runner.quit()
                self.env = None
        return reason

    @staticmethod
    def _spawned(runner: Any, total: int) -> bool:
        return runner.spawning_greenlet is None or runner.spawning_greenlet.dead
