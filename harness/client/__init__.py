"""The vendor client path: one timed attempt over httpx, routing through proxies, retries, cost, checks.

Sync ``httpx.Client`` only, no asyncio and no threads of its own, so it runs the same in plain threads
and in a gevent-patched Locust process. Public API::

    client = make_http_client(max_connections=1000, verify=True)
    target = Target(endpoint=ep, base_url="https://api.openai.com/v1", connect_to=("127.0.0.1", 21001),
                    api_key=key, price=ep.price)
    rec = run_attempt(client, target, prompt, clock=clock, run_id=..., request_id=..., attempt=1,
                      contender="alpha", t_intended=0.0)
    router = Router(contender, {"a": target, ...}, client, clock=clock, run_id=..., faults=HttpFaultLayer(42))
    final = router.route(request_id, prompt, t_intended=t, seq=n, emit=sink)
    price_attempt(price, input_tokens=..., cached_input_tokens=..., cache_write_tokens=..., output_tokens=...,
                  reasoning_tokens=..., dialect="openai-chat")
    evaluate_check(check, text)

Records: ``input_tokens`` counts *all* prompt tokens (cache reads and writes included) for every
dialect, so contenders compare; ``price_attempt`` takes the vendor's own convention (see its docstring).
Error classes follow DESIGN.md: a connection closed before the response head is ``conn_closed_early``;
a 2xx stream that ends (cleanly or not) without its terminal event is ``stream_truncated``; ECONNRESET
anywhere is ``conn_reset``; a failed TLS handshake or DNS lookup is ``connect_refused`` (detail says
which); every timeout after connect is ``read_timeout`` (detail: ttft, idle gap, total or deadline); an
answer past one of the endpoint's ``limits`` is ``response_too_large``, a 2xx body in an encoding bakeoff
did not ask for ``unrequested_encoding``; ``RunEnded`` thrown into an attempt (the load is over) makes it
``run_ended``, and a waiting retry ``not_sent``.
One table decides: ``ERROR_RULES`` (``classify_error(exc, phase)``, ``error_class_of(exc)``), fed by the
transports' own tables in ``harness.client._errormap``.
``chunk_times`` holds one time per network read that carried at least one non-empty delta, and
``chunk_deltas`` how many deltas each of those reads carried (more than one: deltas merged in one read).
A proxied connection that closes before any response byte while the vendor behind the proxy refuses
connections is ``connect_refused``, as when nothing listens at all (``upstream_refuses``).
"""

from __future__ import annotations

from harness.client._attempt import EXCERPT_CHARS, TEXT_KEEP_CHARS, RunEnded, run_attempt
from harness.client._checks import evaluate_check
from harness.client._cost import price_attempt, uncached_input_tokens
from harness.client._errormap import (
    ERROR_RULES,
    TIMEOUT_CLASSES,
    ResponseTooLarge,
    classify_error,
    error_class_of,
)
from harness.client._faults import HTTP_FAULT_KINDS, HttpFaultLayer, Injection
from harness.client._router import Router
from harness.client._transport import (
    Target,
    make_http_client,
    read_deadline,
    route_request,
    upstream_address,
    upstream_refuses,
)

__all__ = [
    "ERROR_RULES",
    "EXCERPT_CHARS",
    "HTTP_FAULT_KINDS",
    "TEXT_KEEP_CHARS",
    "TIMEOUT_CLASSES",
    "HttpFaultLayer",
    "Injection",
    "ResponseTooLarge",
    "Router",
    "RunEnded",
    "Target",
    "classify_error",
    "error_class_of",
    "evaluate_check",
    "make_http_client",
    "price_attempt",
    "read_deadline",
    "route_request",
    "run_attempt",
    "uncached_input_tokens",
    "upstream_address",
    "upstream_refuses",
]
