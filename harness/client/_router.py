"""Per-contender routing: retries on the same endpoint, fallbacks along the chain, cooldowns, a deadline.

LiteLLM's router is the reference (peers.md): retry = same endpoint again after a backoff that honours
Retry-After up to a cap; fallback = next endpoint of the chain once retries are spent (or the error is
not retryable); cooldown = an endpoint that failed ``cooldown_after`` times in a row is skipped by every
logical request for ``cooldown`` seconds. As in LiteLLM, 4xx "your fault" errors do not count towards a
cooldown, except 401/403/404 (bad key, no access, unknown model) which cool the endpoint at once; a
chain of one endpoint is never cooled down (there is nothing to route to instead).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

import httpx

from harness._errors import ConfigError
from harness._vocab import RUN_CLASSES
from harness.client._attempt import RunEnded, new_record, run_attempt
from harness.client._faults import HttpFaultLayer
from harness.client._transport import Target
from harness.config import Contender, PromptItem
from harness.record import ErrorClass, RequestRecord

__all__ = ["Router"]

_NEVER: frozenset[ErrorClass] = frozenset({"client_error", "deadline_exceeded"})
_NO_COOLDOWN_CLASSES: frozenset[ErrorClass] = _NEVER.union(RUN_CLASSES, ("http_4xx",))
_NEVER_REROUTE: frozenset[ErrorClass] = _NEVER.union(RUN_CLASSES)
_COOL_AT_ONCE = frozenset({401, 403, 404})  # LiteLLM cools these down on the first failure


class Router:
    """Routes logical requests of one contender; safe to share between threads and greenlets.

        router = Router(contender, targets, client, clock=clock, run_id=run_id, faults=layer)
        final = router.route("alpha-000001", prompt, t_intended=3.2, seq=1, emit=records.append)
        final.endpoint   # the endpoint that finally served (or last failed) the request

    Every attempt's record is passed to ``emit`` as soon as the next step is decided, with
    ``is_final_attempt`` and ``fallback_from`` set; the final record is also returned. Backoff sleeps use
    ``sleep`` (``gevent.sleep`` under Locust). The deadline is ``t_intended + contender.deadline``.

    When the load ends, :class:`~harness.client.RunEnded` thrown into ``route`` ends the logical request
    with a final record: the attempt in flight becomes ``run_ended``; a retry or fallback waiting for its
    backoff becomes a ``not_sent`` attempt. Nothing is retried after the end. :meth:`not_sent` makes the
    record of a logical request the load never got to.
    """

    def __init__(
        self,
        contender: Contender,
        targets: Mapping[str, Target],
        client: httpx.Client,
        *,
        clock: Callable[[], float],
        run_id: str,
        faults: HttpFaultLayer | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.contender = contender
        self.chain: tuple[str, ...] = (contender.primary, *contender.fallbacks)
        missing = [n for n in self.chain if n not in targets]
        if missing:
            raise ConfigError([f"contender {contender.name}: no target for endpoint(s) {', '.join(missing)}"])
        self.targets = dict(targets)
        self.client = client
        self.clock = clock
        self.run_id = run_id
        self.faults = faults
        self.sleep = sleep
        self._lock = threading.Lock()
        self._failures: dict[str, int] = dict.fromkeys(self.chain, 0)
        self._cooled_until: dict[str, float] = {}

    # --- cooldown state ------------------------------------------------------------------
    def cooling(self, now: float | None = None) -> dict[str, float]:
        """Endpoints cooling down now, with the run time their cooldown ends."""
        t = self.clock() if now is None else now
        with self._lock:
            return {n: u for n, u in self._cooled_until.items() if u > t}

    def _available(self, name: str, now: float) -> bool:
        with self._lock:
            return self._cooled_until.get(name, -1.0) <= now

    def _note(self, name: str, rec: RequestRecord, now: float) -> None:
        c = self.contender
        with self._lock:
            if rec.outcome == "ok":
                self._failures[name] = 0
                return
            if len(self.chain) == 1:
                return
            if rec.status in _COOL_AT_ONCE and c.cooldown > 0:  # the key or the model is wrong: stop now
                self._cooled_until[name] = now + c.cooldown
                self._failures[name] = 0
                return
            if rec.error_class in _NO_COOLDOWN_CLASSES:
                return
            n = self._failures.get(name, 0) + 1
            if n >= c.cooldown_after and c.cooldown > 0:
                self._cooled_until[name] = now + c.cooldown
                n = 0
            self._failures[name] = n

    def _next_available(self, start: int, now: float) -> int | None:
        for j in range(start, len(self.chain)):
            if self._available(self.chain[j], now):
                return j
        return None

    # --- routing -----------------------------------------------------------------------------
    def route(
        self,
        request_id: str,
        prompt: PromptItem,
        *,
        t_intended: float,
        seq: int,
        user: int = 0,
        worker: str = "local",
        emit: Callable[[RequestRecord], None],
        on_answer: Callable[[str], None] | None = None,
    ) -> RequestRecord:
        """Send one logical request; ``on_answer`` receives the answer text of the attempt that
        succeeded (a session's history)."""
        c = self.contender
        deadline = t_intended + c.deadline
        now = self.clock()
        idx = self._next_available(0, now)
        if idx is None:
            return self._refused(
                request_id,
                prompt,
                t_intended=t_intended,
                seq=seq,
                user=user,
                worker=worker,
                emit=emit,
                now=now,
            )
        fallback_from = self.chain[0] if idx > 0 else None
        attempt = 0
        retries_done = 0
        while True:
            attempt += 1
            name = self.chain[idx]
            rec = run_attempt(
                self.client,
                self.targets[name],
                prompt,
                clock=self.clock,
                run_id=self.run_id,
                request_id=request_id,
                attempt=attempt,
                contender=c.name,
                t_intended=t_intended,
                seq=seq,
                user=user,
                worker=worker,
                fallback_from=fallback_from,
                faults=self.faults,
                deadline_at=deadline,
                on_answer=on_answer,
            )
            now = self.clock()
            self._note(name, rec, now)
            step: tuple[int, float] | None = None
            cls = rec.error_class
            if rec.outcome != "ok" and cls not in _NEVER_REROUTE and now < deadline:
                if cls in c.retry_on and retries_done < c.retries and self._available(name, now):
                    base = c.backoff_base * (2.0**retries_done)
                    delay = min(rec.retry_after_s if rec.retry_after_s is not None else base, c.backoff_cap)
                    if now + delay < deadline:
                        step = (idx, delay)
                if step is None and (c.fallback_on is None or cls in c.fallback_on):
                    j = self._next_available(idx + 1, now)
                    if j is not None:
                        step = (j, 0.0)
            rec.is_final_attempt = step is None
            emit(rec)
            if step is None:
                return rec
            j, delay = step
            if j == idx:
                retries_done += 1
            else:
                fallback_from, idx, retries_done = name, j, 0
            if delay > 0:
                try:
                    self.sleep(delay)
                except RunEnded as cut:  # the load ended during the backoff: the next attempt never goes
                    rec = new_record(
                        self.targets[self.chain[idx]].endpoint,
                        prompt,
                        run_id=self.run_id,
                        request_id=request_id,
                        attempt=attempt + 1,
                        contender=c.name,
                        t_intended=t_intended,
                        seq=seq,
                        user=user,
                        worker=worker,
                        fallback_from=fallback_from,
                    )
                    rec.t_dispatch = rec.t_end = self.clock()
                    rec.error_class = "not_sent"
                    rec.error_detail = f"retry never sent: the run ended during its backoff ({cut.reason})"
                    emit(rec)
                    return rec

    def not_sent(
        self,
        request_id: str,
        prompt: PromptItem,
        *,
        t_intended: float,
        seq: int,
        user: int,
        worker: str,
        why: str,
    ) -> RequestRecord:
        """The record of a logical request the load never dispatched (``not_sent``, final, on the primary
        endpoint): ``t_dispatch = t_end`` = now, the moment it was given up. Not emitted: the caller does."""
        rec = new_record(
            self.targets[self.chain[0]].endpoint,
            prompt,
            run_id=self.run_id,
            request_id=request_id,
            attempt=1,
            contender=self.contender.name,
            t_intended=t_intended,
            seq=seq,
            user=user,
            worker=worker,
        )
        rec.t_dispatch = rec.t_end = self.clock()
        rec.error_class = "not_sent"
        rec.error_detail = f"never sent: {why}"
        return rec

    def _refused(
        self,
        request_id: str,
        prompt: PromptItem,
        *,
        t_intended: float,
        seq: int,
        user: int,
        worker: str,
        emit: Callable[[RequestRecord], None],
        now: float,
    ) -> RequestRecord:
        """Every endpoint of the chain is cooling down: one record, never sent (``deadline_exceeded``)."""
        rec = new_record(
            self.targets[self.chain[0]].endpoint,
            prompt,
            run_id=self.run_id,
            request_id=request_id,
            attempt=1,
            contender=self.contender.name,
            t_intended=t_intended,
            seq=seq,
            user=user,
            worker=worker,
        )
        rec.t_dispatch = rec.t_end = now
        rec.error_class = "deadline_exceeded"
        rec.error_detail = "every endpoint of the chain is cooling down; nothing was sent"
        emit(rec)
        return rec
