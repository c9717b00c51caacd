"""Router: retries, Retry-After backoff, fallbacks, cooldowns and the deadline, with exact attempt records."""

from __future__ import annotations

import json
import threading
import time

from client_loopback import PROMPT, Conn, clock, make_endpoint, make_target, openai_stream

from harness.client import Router
from harness.config import Contender
from harness.record import RequestRecord


def ok_handler(c: Conn) -> None:
    while c.read_request():
        c.start_chunked()
        for ch in openai_stream(["Hello"]):
            c.chunk(ch)
        c.end_chunked()


def status_handler(status: int, headers: dict[str, str] | None = None, *, then_ok_after: int | None = None):
    count = {"n": 0}

    def h(c: Conn) -> None:
        while c.read_request():
            count["n"] += 1
            if then_ok_after is not None and count["n"] > then_ok_after:
                c.start_chunked()
                for ch in openai_stream(["Hello"]):
                    c.chunk(ch)
                c.end_chunked()
            else:
                c.respond(
                    status,
                    json.dumps({"error": {"message": f"status {status}", "type": "x"}}).encode(),
                    headers,
                )

    h.count = count  # type: ignore[attr-defined]
    return h


class Env:
    def __init__(self, serve, client, handlers: dict[str, object], **contender: object) -> None:
        self.servers = {n: serve(h) for n, h in handlers.items()}
        names = list(handlers)
        self.targets = {n: make_target(s.url, make_endpoint(name=n)) for n, s in self.servers.items()}
        spec = {"name": "c", "primary": names[0], "fallbacks": names[1:], "backoff_base": 0.05, **contender}
        self.sleeps: list[float] = []
        self.records: list[RequestRecord] = []
        self._lock = threading.Lock()

        def sleep(s: float) -> None:
            self.sleeps.append(round(s, 6))
            time.sleep(s)

        self.router = Router(
            Contender.model_validate(spec), self.targets, client, clock=clock, run_id="r", sleep=sleep
        )

    def emit(self, rec: RequestRecord) -> None:
        with self._lock:
            self.records.append(rec)

    def route(self, seq: int = 1, t_intended: float | None = None) -> RequestRecord:
        return self.router.route(
            f"c-{seq:06d}",
            PROMPT,
            t_intended=clock() if t_intended is None else t_intended,
            seq=seq,
            emit=self.emit,
        )


def summary(records: list[RequestRecord]) -> list[tuple]:
    return [(r.attempt, r.endpoint, r.error_class, r.is_final_attempt, r.fallback_from) for r in records]


def test_retry_after_429_then_success(serve, client) -> None:
    env = Env(
        serve, client, {"a": status_handler(429, {"retry-after-ms": "120"}, then_ok_after=1)}, retries=2
    )
    final = env.route()
    assert summary(env.records) == [(1, "a", "http_429", False, None), (2, "a", None, True, None)]
    assert env.sleeps == [0.12]
    assert final is env.records[-1] and final.outcome == "ok"
    assert env.records[1].t_dispatch - env.records[0].t_end >= 0.12


def test_retries_exhausted_then_fallback(serve, client) -> None:
    env = Env(serve, client, {"a": status_handler(500), "b": ok_handler}, retries=1)
    final = env.route()
    assert summary(env.records) == [
        (1, "a", "http_5xx", False, None),
        (2, "a", "http_5xx", False, None),
        (3, "b", None, True, "a"),
    ]
    assert env.sleeps == [0.05] and final.endpoint == "b" and final.outcome == "ok"
    assert {r.request_id for r in env.records} == {"c-000001"}


def test_backoff_doubles_up_to_the_cap(serve, client) -> None:
    env = Env(serve, client, {"a": status_handler(503)}, retries=3, backoff_cap=0.12)
    final = env.route()
    assert env.sleeps == [0.05, 0.1, 0.12]
    assert [r.error_class for r in env.records] == ["overloaded"] * 4 and final.is_final_attempt


def test_retry_after_is_capped(serve, client) -> None:
    env = Env(serve, client, {"a": status_handler(429, {"retry-after": "30"})}, retries=1, backoff_cap=0.1)
    env.route()
    assert env.sleeps == [0.1]


def test_4xx_is_not_retried_but_falls_back(serve, client) -> None:
    env = Env(serve, client, {"a": status_handler(401), "b": ok_handler}, retries=3)
    env.route()
    assert summary(env.records) == [(1, "a", "http_4xx", False, None), (2, "b", None, True, "a")]
    assert env.sleeps == []


def test_fallback_on_limits_which_classes_fall_back(serve, client) -> None:
    env = Env(serve, client, {"a": status_handler(500), "b": ok_handler}, fallback_on=["http_429"])
    final = env.route()
    assert summary(env.records) == [(1, "a", "http_5xx", True, None)] and final.outcome == "error"


def test_cooldown_skips_an_endpoint_then_lets_it_back(serve, client) -> None:
    a = status_handler(500)
    env = Env(serve, client, {"a": a, "b": ok_handler}, cooldown_after=2, cooldown=0.4)
    env.route(1)
    env.route(2)  # second consecutive failure of a: cooled down
    assert a.count["n"] == 2
    env.records.clear()
    env.route(3)
    assert summary(env.records) == [(1, "b", None, True, "a")]  # a skipped; b is a fallback from a
    assert a.count["n"] == 2 and "a" in env.router.cooling()
    time.sleep(0.45)
    env.records.clear()
    env.route(4)
    assert summary(env.records) == [(1, "a", "http_5xx", False, None), (2, "b", None, True, "a")]


def test_success_resets_the_failure_count(serve, client) -> None:
    a = status_handler(500, then_ok_after=1)
    env = Env(serve, client, {"a": a, "b": ok_handler}, cooldown_after=2)
    env.route(1)  # a fails once, b serves
    env.route(2)  # a succeeds: count reset
    assert env.router.cooling() == {}


def test_whole_chain_cooling_down_sends_nothing(serve, client) -> None:
    env = Env(
        serve, client, {"a": status_handler(500), "b": status_handler(503)}, cooldown_after=1, cooldown=5
    )
    first = env.route(1)
    assert summary(env.records) == [(1, "a", "http_5xx", False, None), (2, "b", "overloaded", True, "a")]
    assert first.endpoint == "b"
    env.records.clear()
    final = env.route(2)
    assert summary(env.records) == [(1, "a", "deadline_exceeded", True, None)]
    assert final.status is None and final.t_dispatch == final.t_end


def test_single_endpoint_chain_is_never_cooled(serve, client) -> None:
    a = status_handler(500)
    env = Env(serve, client, {"a": a}, cooldown_after=1)
    for i in range(3):
        env.route(i)
    assert a.count["n"] == 3 and env.router.cooling() == {}


def test_deadline_cuts_a_slow_attempt_and_stops(serve, client) -> None:
    def slow(c: Conn) -> None:
        c.read_request()
        c.hold()

    env = Env(serve, client, {"a": slow, "b": ok_handler}, deadline=0.3)
    t = clock()
    final = env.route(t_intended=t)
    assert summary(env.records) == [(1, "a", "read_timeout", True, None)]
    assert "deadline" in final.error_detail
    assert 0.28 <= final.t_end - t < 0.6


def test_deadline_prefers_fallback_over_a_long_wait(serve, client) -> None:
    env = Env(
        serve,
        client,
        {"a": status_handler(429, {"retry-after": "2"}), "b": ok_handler},
        retries=3,
        deadline=1.0,
    )
    env.route()
    assert summary(env.records) == [(1, "a", "http_429", False, None), (2, "b", None, True, "a")]
    assert env.sleeps == []


def test_stream_errors_fall_back_by_default(serve, client) -> None:
    def broken(c: Conn) -> None:
        while c.read_request():
            c.start_chunked()
            c.chunk(b'data: {"error": {"message": "boom"}}\n\n')
            c.end_chunked()

    env = Env(serve, client, {"a": broken, "b": ok_handler}, retries=2)
    env.route()
    assert summary(env.records) == [(1, "a", "stream_error_event", False, None), (2, "b", None, True, "a")]


def test_shared_router_under_threads(serve, client) -> None:
    env = Env(serve, client, {"a": status_handler(500), "b": ok_handler}, cooldown_after=3, cooldown=10)
    threads = [threading.Thread(target=env.route, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    by_req: dict[str, list[RequestRecord]] = {}
    for r in env.records:
        by_req.setdefault(r.request_id, []).append(r)
    assert len(by_req) == 24
    for recs in by_req.values():
        recs.sort(key=lambda r: r.attempt)
        assert [r.is_final_attempt for r in recs] == [False] * (len(recs) - 1) + [True]
        assert recs[-1].endpoint == "b" and recs[-1].outcome == "ok"
    assert "a" in env.router.cooling()
    env.records.clear()
    env.route(99)
    assert summary(env.records) == [(1, "b", None, True, "a")]


def test_auth_and_not_found_errors_cool_down_at_once(serve, client) -> None:
    a = status_handler(401)
    env = Env(serve, client, {"a": a, "b": ok_handler}, cooldown_after=5, cooldown=5)
    env.route(1)
    env.records.clear()
    env.route(2)
    assert summary(env.records) == [(1, "b", None, True, "a")] and a.count["n"] == 1


def test_other_4xx_never_cool_down(serve, client) -> None:
    a = status_handler(400)
    env = Env(serve, client, {"a": a, "b": ok_handler}, cooldown_after=1)
    for i in range(3):
        env.route(i)
    assert a.count["n"] == 3 and env.router.cooling() == {}
