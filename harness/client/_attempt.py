"""One attempt = one HTTP request, timed on the run clock, classified, priced, checked. Never raises."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from harness._text import MIN_SECRET_CHARS, REDACTED, redact
from harness.client._checks import evaluate_check
from harness.client._cost import price_attempt
from harness.client._errormap import Phase, classify_error
from harness.client._faults import HttpFaultLayer, Injection
from harness.client._transport import (
    BUDGET,
    ReadBudget,
    Target,
    route_request,
    upstream_address,
    upstream_refuses,
)
from harness.config import Endpoint, PromptItem
from harness.dialects import (
    Delta,
    Done,
    Event,
    Finish,
    Malformed,
    Meta,
    StreamError,
    Usage,
    WireDialect,
    get_dialect,
)
from harness.dialects._common import short
from harness.record import ErrorClass, RequestRecord
from harness.tokens import count_tokens

__all__ = ["ERROR_BODY_MAX", "EXCERPT_CHARS", "TEXT_KEEP_CHARS", "RunEnded", "new_record", "run_attempt"]

EXCERPT_CHARS = 300
ERROR_BODY_MAX = 64 * 1024
TEXT_KEEP_CHARS = 1 << 20
"""Answer text kept per attempt (for the check, the excerpt and the token estimate): far beyond any real
answer (about 250,000 tokens). Past it the text is counted, not kept, and the token estimate is
extrapolated, so a flood of text never costs a tokenizer pass of tens of MB (seconds of CPU in a load
process that every other contender shares)."""
_DRAIN_S = 1.0  # after the terminal event, how long the rest of the body may take (keeps the connection)
_PROXY_CLOSED: frozenset[ErrorClass] = frozenset({"conn_closed_early", "conn_reset"})
_REFUSAL_CHECK_S = 1.0  # longest direct dial of the vendor after a proxy closed before answering
_DRAIN_BYTES = 64 * 1024  # ...and how much of it: more, and the connection is closed instead
_IDENTITY = ("", "identity")


class RunEnded(BaseException):
    """Thrown into a running attempt (or its router's backoff) when the load ends: the deadline (planned
    end + grace) passed or a stop cut it. The attempt records what it reached as ``run_ended``; a retry
    that was waiting is recorded as ``not_sent``. A ``BaseException`` so no ``except Exception`` on the
    way (ours or a library's) swallows it. ``reason`` says how the run ended."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Stop(Exception):
    """Internal: the attempt ended early (injected cut, malformed chunk, stall past the idle limit)."""

    def __init__(self, error_class: ErrorClass, detail: str) -> None:
        super().__init__(detail)
        self.error_class = error_class
        self.detail = detail


# Record fields whose text comes from the vendor (headers, body, answer): a vendor or gateway that
# echoes the API key back must not get it stored, whichever field it lands in.
_VENDOR_TEXT_FIELDS = (
    "error_detail",
    "finish_reason",
    "model_served",
    "output_excerpt",
    "vendor_request_id",
    "gateway_api_base",
    "gateway_provider",
)


def _redact(text: str, secret: str | None) -> str:
    """``text`` without ``secret`` (as is, URL-encoded or JSON-escaped), including a cut-off prefix of it.

    Text that was shortened upstream (ends with "…") may end in the first characters of the key, which
    a whole-key match misses; that prefix goes too.
    """
    if not secret or len(secret) < MIN_SECRET_CHARS:
        return text
    text = redact(text, [secret])
    if text.endswith("…"):
        head = text[:-1]
        for n in range(len(secret) - 1, MIN_SECRET_CHARS - 1, -1):
            if head.endswith(secret[:n]):
                return head[:-n] + REDACTED + "…"
    return text


def _redact_bytes(body: bytes, secret: str | None) -> bytes:
    """``body`` with the secret redacted before anything parses (and shortens) it; bytes kept exactly."""
    if not secret or len(secret) < MIN_SECRET_CHARS:
        return body
    text = body.decode("utf-8", "surrogateescape")
    clean = redact(text, [secret])
    return body if clean == text else clean.encode("utf-8", "surrogateescape")


_BOUNDED_FIELDS = frozenset(
    {"finish_reason", "model_served", "vendor_request_id", "gateway_api_base", "gateway_provider"}
)
"""Vendor text fields with no bound of their own (the detail and the excerpt have theirs)."""


def _redact_record(rec: RequestRecord, secret: str | None, field_chars: int) -> None:
    """Redact every vendor text field, then (never before: a key cut in half would survive) bound the
    ones with no bound of their own to ``field_chars``."""
    for name in _VENDOR_TEXT_FIELDS:
        value = getattr(rec, name)
        if isinstance(value, str):
            value = _redact(value, secret)
            if name in _BOUNDED_FIELDS and len(value) > field_chars:
                value = value[: field_chars - 1] + "…"
            setattr(rec, name, value)


def _prompt_tokens_estimate(prompt: PromptItem) -> int:
    """o200k count of the prompt's text and tool calls plus OpenAI's chat framing (3 per message + 3)."""
    n = count_tokens(prompt.system) + 3 if prompt.system else 0
    for m in prompt.messages:
        n += count_tokens(m.content) + 3
        for call in m.tool_calls or ():  # a second leg also sends the calls it answers
            n += count_tokens(call.name + json.dumps(call.arguments)) + 3
    return n + 3


class _Attempt:
    """State of one attempt while it runs (one instance per call; not shared)."""

    def __init__(
        self,
        client: httpx.Client,
        target: Target,
        prompt: PromptItem,
        rec: RequestRecord,
        clock: Callable[[], float],
        faults: HttpFaultLayer | None,
        deadline_at: float | None,
    ) -> None:
        self.client = client
        self.target = target
        self.ep = target.endpoint
        self.prompt = prompt
        self.rec = rec
        self.clock = clock
        self.faults = faults
        self.deadline_at = deadline_at
        self.dialect: WireDialect = get_dialect(self.ep.dialect)
        self.limits = self.ep.limits
        self.output: list[str] = []
        self.other: list[str] = []  # reasoning and tool text (token estimate, answer when no output)
        self.reasoning_chars = 0  # of the reasoning text in ``other`` (its token estimate)
        self.reasoning_kept: list[str] = []
        self.answer = ""  # the visible answer text (kept up to TEXT_KEEP_CHARS), once finished
        self.text_chars = 0  # every delta's text, kept or not
        self.kept_chars = 0  # what output + other hold (at most TEXT_KEEP_CHARS)
        self.usage = Usage()
        self.usage_seen = False
        self.deltas = 0
        self.read_deltas = 0  # deltas of the read being applied (chunk_deltas)
        self.done = False
        self.response_id: str | None = None
        self.injection: Injection | None = None
        self.stalled = False
        self.held_until = 0.0  # run clock: an injected stall holds back whatever arrives before its end
        self.budget = ReadBudget(0.0, "", head_bytes=self.limits.head_bytes, headers=self.limits.headers)
        self.mono_offset = 0.0
        self.hard_end = 0.0
        self.hard_reason = ""
        self.idle_s = self.ep.timeouts.idle
        self.idle_reason = f"idle gap between chunks over {self.idle_s:g} s"

    # --- helpers ------------------------------------------------------------------
    def _mono(self, t_run: float) -> float:
        return t_run + self.mono_offset

    def _arrival(self) -> float:
        """Run-clock time the bytes just read arrived: the kernel's stamp when the transport has one.

        A busy load generator reads a chunk some time after it arrived; the kernel's receive stamp does
        not move with that delay. Falls back to ``clock()`` (the read) when there is no usable stamp. An
        injected stall (HTTP fault layer) acts as a middlebox holding the stream: nothing arrives before
        it ends.
        """
        now = self.clock()
        rx = self.budget.rx
        if rx:
            t = rx - self.mono_offset
            if self.rec.t_dispatch <= t <= now:
                return t if t >= self.held_until else self.held_until
        return now

    def _set_budget(self, until_run: float, reason: str) -> None:
        if until_run >= self.hard_end:
            until_run = self.hard_end
            reason = self.hard_reason
        self.budget.deadline = self._mono(until_run)
        self.budget.reason = reason

    def _fail(self, error_class: ErrorClass, detail: str) -> None:
        rec = self.rec
        rec.outcome = "error"
        rec.error_class = error_class
        rec.error_detail = short(_redact(detail, self.target.api_key))

    # --- main -------------------------------------------------------------------------
    def run(self) -> None:
        rec, ep, clock = self.rec, self.ep, self.clock
        now = clock()
        if self.deadline_at is not None and now >= self.deadline_at:
            rec.t_dispatch = rec.t_end = now
            self._fail("deadline_exceeded", "logical request deadline passed before dispatch")
            return
        if self.faults is not None:
            size = self.prompt.max_tokens + sum(len(m.content) for m in self.prompt.messages) // 4
            self.injection = self.faults.decide(
                ep.name, seq=rec.seq, attempt=rec.attempt, now=now, tokens=size, contender=rec.contender
            )
            if self.injection is not None:
                rec.fault_injected = self.injection.fault_id
        req = self.dialect.build_request(
            ep, self.prompt, base_url=self.target.base_url, api_key=self.target.api_key, stream=ep.stream
        )
        inj = self.injection
        if inj is not None and inj.kind in ("http_status", "rate_limit"):
            rec.t_dispatch = clock()
            headers, body = self.dialect.error_response(
                inj.status, message=inj.message, retry_after_s=inj.retry_after_s
            )
            rec.t_headers = clock()
            rec.status = inj.status
            self._error_status(inj.status, headers, body)
            rec.t_end = clock()
            return
        url, extra_headers, extensions = route_request(req.url, self.target.connect_to)
        to = ep.timeouts
        rec.t_dispatch = t0 = clock()
        self.mono_offset = time.monotonic() - t0
        self.hard_end, self.hard_reason = t0 + to.total, f"total time limit {to.total:g} s"
        if self.deadline_at is not None and self.deadline_at < self.hard_end:
            self.hard_end, self.hard_reason = self.deadline_at, "logical request deadline"
        self._set_budget(t0 + to.ttft, f"no first token within {to.ttft:g} s")
        remaining = max(0.001, self.hard_end - t0)
        timeout = httpx.Timeout(
            connect=min(to.connect, remaining), read=None, write=remaining, pool=remaining
        )
        token = BUDGET.set(self.budget)
        phase: Phase = "connect"
        try:
            with self.client.stream(
                req.method,
                url,
                headers={**req.headers, **extra_headers},
                content=req.body,
                timeout=timeout,
                extensions=extensions,
            ) as resp:
                rec.t_headers = self._arrival()
                rec.status = resp.status_code
                phase = "body"
                h = self.dialect.read_headers(resp.headers)
                rec.vendor_request_id = h.vendor_request_id
                rec.retry_after_s = h.retry_after_s
                rec.retry_after_source = h.retry_after_source
                rec.ratelimit_remaining_requests = h.ratelimit_remaining_requests
                rec.ratelimit_remaining_tokens = h.ratelimit_remaining_tokens
                rec.gateway_fallbacks = h.gateway_fallbacks
                rec.gateway_retries = h.gateway_retries
                rec.gateway_api_base = h.gateway_api_base
                # bakeoff asks for identity and never decodes: a gzip bomb stays 1 MB of bytes
                encoding = resp.headers.get("content-encoding", "").strip().lower()
                if not 200 <= resp.status_code < 300:
                    err_body = bytearray()
                    for data in resp.iter_raw():
                        err_body += data
                        if len(err_body) >= ERROR_BODY_MAX:
                            break
                    body = bytes(err_body[:ERROR_BODY_MAX]) if encoding in _IDENTITY else b""
                    self._error_status(resp.status_code, resp.headers, body)
                    if encoding not in _IDENTITY:
                        rec.error_detail = short(
                            f"{rec.error_detail} (error body sent with Content-Encoding: {encoding}, "
                            "not decoded)"
                        )
                    rec.t_end = clock()
                    return
                if encoding not in _IDENTITY:
                    raise _Stop(
                        "unrequested_encoding",
                        f"2xx body sent with Content-Encoding: {encoding} although bakeoff asked for "
                        "identity; not decoded",
                    )
                ctype = resp.headers.get("content-type", "")
                if ep.stream and "json" not in ctype:
                    phase = "stream"
                    self._read_stream(resp)
                else:
                    body = self._read_body(resp)
                    now = self._arrival()
                    self._on_events(self.dialect.parse_response(body), now)
                    if not self.done and rec.error_class is None:
                        self._fail("malformed_response", "response body ended without a complete answer")
                    rec.t_end = now
        except _Stop as stop:
            self._fail(stop.error_class, stop.detail)
            rec.t_end = clock()
        except RunEnded as cut:  # the load ended with this attempt in flight: keep what it reached
            rec.t_end = clock()
            self._fail("run_ended", f"in flight when the run ended ({cut.reason})")
        except httpx.HTTPError as exc:
            rec.t_end = clock()
            self._fail(
                *classify_error(exc, phase, connect_s=self.ep.timeouts.connect, reason=self.budget.reason)
            )
            if phase == "connect" and rec.error_class in _PROXY_CLOSED and self.target.connect_to is not None:
                self._refused_behind_proxy()
        finally:
            BUDGET.reset(token)
        self._finish()

    def _refused_behind_proxy(self) -> None:
        """A proxy closed the connection before any answer: was it because the vendor refused it?

        Toxiproxy accepts first and dials the vendor afterwards, closing the client when that fails; so a
        vendor with nothing listening (or killed mid-run) would look like ``conn_closed_early`` or
        ``conn_reset``, while an injected outage gives ``connect_refused``. One direct dial of the vendor
        (never sent a byte) makes both the same class. ``t_end`` stays when the failure was seen.
        """
        timeout = min(self.ep.timeouts.connect, _REFUSAL_CHECK_S)
        if upstream_refuses(self.target.base_url, timeout):
            host, port = upstream_address(self.target.base_url)
            self._fail(
                "connect_refused",
                f"the vendor at {host}:{port} refused the connection behind the proxy (checked directly "
                f"after the proxy closed it: {self.rec.error_class}, {self.rec.error_detail})",
            )

    @staticmethod
    def _chunks(resp: httpx.Response) -> Iterator[bytes]:
        stream = resp.stream  # the transport's stream itself: iter_raw adds a generator and a list per read
        return iter(stream) if isinstance(stream, httpx.SyncByteStream) else resp.iter_raw()

    def _read_body(self, resp: httpx.Response) -> bytes:
        """A whole (non-streamed) body, as sent (never decoded), at most ``limits.body_bytes``."""
        limit = self.limits.body_bytes
        body = bytearray()
        for data in self._chunks(resp):
            if len(body) + len(data) > limit:  # checked first: the bound is what it holds at most
                raise _Stop("response_too_large", f"response body over {limit} bytes (limits.body_bytes)")
            body += data
        return bytes(body)

    def _read_stream(self, resp: httpx.Response) -> None:
        rec, clock = self.rec, self.clock
        parser = self.dialect.stream_parser(self.limits.event_bytes)
        inj = self.injection
        if inj is not None and inj.after_chunks == 0:  # acts before the first chunk
            self._inject_mid_stream(inj, clock())
        chunks = self._chunks(resp)
        seen = False  # any event at all: a 200 body that never was an event stream is malformed
        head = b""
        arrival = self._arrival
        size_left = int(self.limits.body_bytes)
        events_left = self.limits.chunks
        for data in chunks:
            now = arrival()
            size_left -= len(data)
            if size_left < 0:
                raise _Stop(
                    "response_too_large", f"stream over {self.limits.body_bytes} bytes (limits.body_bytes)"
                )
            events = parser.feed(data)
            events_left -= len(events)
            if events_left < 0:
                raise _Stop("response_too_large", f"stream over {self.limits.chunks} events (limits.chunks)")
            if not seen:
                seen = bool(events)
                head = head or data[:80]
            if self._on_events(events, now):
                rec.t_end = now
                if rec.error_class != "response_too_large":
                    self._drain(chunks)
                return
        now = clock()
        events = parser.close()
        seen = seen or bool(events)
        if self._on_events(events, now):
            rec.t_end = now
            return
        rec.t_end = now
        if not seen and head:
            self._fail("malformed_response", f"2xx body is not an event stream: {head!r}")
        else:
            self._fail("stream_truncated", "stream ended without its terminal event")

    def _drain(self, chunks: Iterator[bytes]) -> None:
        """Read what follows the terminal event so the connection can be reused; never fails the attempt
        (the attempt is over: a stop landing here ends the drain, not the answer). More than
        ``_DRAIN_BYTES`` or ``_DRAIN_S``: the connection is closed instead."""
        self.budget.deadline = time.monotonic() + _DRAIN_S
        self.budget.reason = "drain"
        left = _DRAIN_BYTES
        try:
            for data in chunks:
                left -= len(data)
                if left < 0:
                    return
        except (httpx.HTTPError, RunEnded):
            pass

    def _on_events(self, events: list[Event], now: float) -> bool:
        """Apply events that arrived at ``now``; True when the attempt is over (terminal event or error)."""
        rec = self.rec
        self.read_deltas = 0
        inj = self.injection
        for ev in events:
            if isinstance(ev, Delta):
                if not ev.text:
                    continue
                if rec.t_first_token is None:
                    rec.t_first_token = now
                if ev.kind != "reasoning" and rec.t_first_output is None:
                    rec.t_first_output = now
                n = len(ev.text)
                self.text_chars += n
                if self.kept_chars + n <= TEXT_KEEP_CHARS:
                    self.kept_chars += n
                    (self.output if ev.kind == "output" else self.other).append(ev.text)
                    if ev.kind == "reasoning":
                        self.reasoning_kept.append(ev.text)
                if ev.kind == "reasoning":
                    self.reasoning_chars += n
                self.read_deltas += 1
                self.deltas += 1
                if inj is not None and self.deltas >= inj.after_chunks and inj.kind != "http_status":
                    self._inject_mid_stream(inj, now)
            elif isinstance(ev, Usage):
                self.usage = self.usage.merged(ev)
                self.usage_seen = True
            elif isinstance(ev, Finish):
                rec.finish_reason = ev.reason
            elif isinstance(ev, Meta):
                if ev.model:
                    rec.model_served = ev.model
                if ev.provider and rec.gateway_provider is None:
                    rec.gateway_provider = ev.provider
                self.response_id = self.response_id or ev.response_id
            elif isinstance(ev, Done):
                self.done = True
            elif isinstance(ev, StreamError):
                self._fail(ev.error_class, ev.detail)
            elif isinstance(ev, Malformed):
                self._fail("malformed_response", ev.detail)
        if self.read_deltas:
            self._chunk(now)
            if not self.done:
                self._set_budget(now + self.idle_s, self.idle_reason)
        return self.done or rec.error_class is not None

    def _chunk(self, now: float) -> None:
        """The read that arrived at ``now`` carried ``read_deltas`` deltas: one chunk of the record."""
        rec = self.rec
        rec.t_last_token = now
        rec.chunk_times.append(now)
        rec.chunk_deltas.append(self.read_deltas)
        self.read_deltas = 0

    def _inject_mid_stream(self, inj: Injection, now: float) -> None:
        """Act on the stream once ``inj.after_chunks`` chunks have arrived (0: before the first one)."""
        started = self.deltas > 0
        if inj.kind == "stream_cut":
            if started:
                self._chunk(now)
            raise _Stop(
                "stream_truncated",
                f"stream ended without its terminal event (injected cut after {inj.after_chunks}, "
                f"{inj.fault_id})",
            )
        if inj.kind == "malformed_chunk":
            if started:
                self._chunk(now)
            for ev in self.dialect.stream_parser().feed(self.dialect.malformed_chunk()):
                if isinstance(ev, Malformed):
                    raise _Stop("malformed_response", f"{ev.detail} (injected, {inj.fault_id})")
            raise _Stop("malformed_response", f"injected malformed chunk ({inj.fault_id})")
        if inj.kind == "stall" and not self.stalled:
            self.stalled = True
            idle = self.ep.timeouts.idle
            limit = min(now + idle, self.hard_end) if started else self.budget.deadline - self.mono_offset
            if now + inj.stall_for >= limit:
                time.sleep(max(0.0, limit - self.clock()))
                if started:
                    self._chunk(now)
                    reason = (
                        f"idle gap between chunks over {idle:g} s"
                        if limit < self.hard_end
                        else self.hard_reason
                    )
                else:
                    reason = self.budget.reason
                raise _Stop("read_timeout", f"{reason} (injected stall, {inj.fault_id})")
            time.sleep(inj.stall_for)
            self.held_until = self.clock()  # bytes that came in meanwhile reach the caller only now

    def _error_status(self, status: int, headers: Any, body: bytes) -> None:
        info = self.dialect.classify(status, headers, _redact_bytes(body, self.target.api_key))
        if info.retry_after_s is not None:
            self.rec.retry_after_s = info.retry_after_s
            self.rec.retry_after_source = info.retry_after_source
        self._fail(info.error_class, info.detail)

    def _reasoning_estimate(self) -> int:
        """Tokens of the reasoning text received (extrapolated when a flood was not all kept)."""
        kept = "".join(self.reasoning_kept)
        tokens = count_tokens(kept)
        if len(kept) < self.reasoning_chars:
            tokens = round(tokens * self.reasoning_chars / max(1, len(kept)))
        return tokens

    def _finish(self) -> None:
        """Usage (reported or estimated), max_tokens flag, cost, check and excerpt."""
        rec, u = self.rec, self.usage
        self.answer = "".join(self.output)
        answer = self.answer or "".join(self.other)
        generated = "".join(self.output) + "".join(self.other)
        if self.response_id and rec.vendor_request_id is None:
            rec.vendor_request_id = self.response_id
        if generated:
            tokens = count_tokens(generated)
            if self.text_chars > self.kept_chars:  # a flood: extrapolate from the text kept
                tokens = round(tokens * self.text_chars / max(1, self.kept_chars))
            rec.estimated_output_tokens = tokens
        reached = rec.status is not None and 200 <= rec.status < 300  # the vendor accepted: it bills
        if self.usage_seen and (u.input_tokens is not None or u.output_tokens is not None):
            rec.usage_source = "reported"
            rec.input_tokens = u.input_tokens
            rec.output_tokens = u.output_tokens
            rec.cached_input_tokens = u.cached_input_tokens
            rec.cache_write_tokens = u.cache_write_tokens
            rec.cache_write_1h_tokens = u.cache_write_1h_tokens
            rec.reasoning_tokens = u.reasoning_tokens
            if rec.output_tokens is None:
                rec.output_tokens = rec.estimated_output_tokens or 0
            if rec.reasoning_tokens is None and self.reasoning_chars:
                # Anthropic counts thinking only inside output_tokens: count the thinking text received
                rec.reasoning_tokens = min(self._reasoning_estimate(), rec.output_tokens)
        elif reached:
            rec.usage_source = "estimated"
            rec.input_tokens = _prompt_tokens_estimate(self.prompt)
            rec.output_tokens = rec.estimated_output_tokens or 0
        if rec.output_tokens is not None:
            slack = (
                0 if rec.usage_source == "reported" else max(2, rec.max_tokens // 20 if rec.max_tokens else 2)
            )
            rec.max_tokens_exceeded = (
                rec.max_tokens is not None and rec.output_tokens > rec.max_tokens + slack
            )
        if reached:
            native_input = rec.input_tokens
            if self.ep.dialect == "anthropic-messages" and native_input is not None:
                native_input = max(
                    0, native_input - (rec.cached_input_tokens or 0) - (rec.cache_write_tokens or 0)
                )
            rec.cost_usd = round(
                price_attempt(
                    self.target.price,
                    input_tokens=native_input,
                    cached_input_tokens=rec.cached_input_tokens,
                    cache_write_tokens=rec.cache_write_tokens,
                    cache_write_1h_tokens=rec.cache_write_1h_tokens,
                    output_tokens=rec.output_tokens,
                    reasoning_tokens=rec.reasoning_tokens,
                    dialect=self.ep.dialect,
                ),
                9,
            )
        if rec.error_class is None:
            rec.outcome = "ok"
            if self.prompt.check is not None:
                rec.check_passed = evaluate_check(self.prompt.check, answer)
        if answer:
            rec.output_excerpt = _redact(answer, self.target.api_key)[:EXCERPT_CHARS]


def new_record(
    ep: Endpoint,
    prompt: PromptItem,
    *,
    run_id: str,
    request_id: str,
    attempt: int,
    contender: str,
    t_intended: float,
    seq: int,
    user: int,
    worker: str,
    fallback_from: str | None = None,
) -> RequestRecord:
    """The record of one attempt of ``prompt`` at ``ep``, with its identity filled in and nothing measured."""
    return RequestRecord(
        run_id=run_id,
        request_id=request_id,
        attempt=attempt,
        contender=contender,
        endpoint=ep.name,
        dialect=ep.dialect,
        model_requested=ep.model,
        prompt_id=prompt.id,
        prompt_class=prompt.prompt_class,
        worker=worker,
        user=user,
        seq=seq,
        t_intended=t_intended,
        max_tokens=prompt.max_tokens,
        fallback_from=fallback_from,
    )


def run_attempt(
    client: httpx.Client,
    target: Target,
    prompt: PromptItem,
    *,
    clock: Callable[[], float],
    run_id: str,
    request_id: str,
    attempt: int,
    contender: str,
    t_intended: float,
    seq: int = 0,
    user: int = 0,
    worker: str = "local",
    fallback_from: str | None = None,
    faults: HttpFaultLayer | None = None,
    deadline_at: float | None = None,
    on_answer: Callable[[str], None] | None = None,
) -> RequestRecord:
    """Send ``prompt`` to ``target`` once and return its record (every time field on ``clock``).

    Never raises for vendor or network failures: they become ``error_class`` values (DESIGN.md). A
    harness bug becomes ``client_error`` with the exception type in ``error_detail``. Every text field
    the record takes from the vendor (error detail, answer excerpt, served model, request id, finish
    reason) has ``target.api_key`` redacted, so a vendor echoing the key cannot get it stored.
    Streams when the endpoint does; timeouts connect / ttft / idle / total are enforced separately,
    and ``deadline_at`` (run clock) caps the whole attempt. No retries happen inside. Whatever the
    vendor sends, the attempt stays within the endpoint's ``limits`` (``response_too_large`` past one;
    a 2xx body in an encoding bakeoff did not ask for is ``unrequested_encoding``, never decoded) and
    within ``timeouts.total``, which no trickle of bytes extends. A :class:`RunEnded` thrown into it
    (the load is over) makes it ``run_ended`` with the timings it reached. ``on_answer`` receives the
    visible answer text of an attempt that succeeded (key redacted; a session's next turns carry it).

        client = make_http_client()
        rec = run_attempt(client, target, prompt, clock=clock, run_id="r1", request_id="alpha-000001",
                          attempt=1, contender="alpha", t_intended=12.5, seq=1)
    """
    rec = new_record(
        target.endpoint,
        prompt,
        run_id=run_id,
        request_id=request_id,
        attempt=attempt,
        contender=contender,
        t_intended=t_intended,
        seq=seq,
        user=user,
        worker=worker,
        fallback_from=fallback_from,
    )
    attempt_: _Attempt | None = None
    try:
        attempt_ = _Attempt(client, target, prompt, rec, clock, faults, deadline_at)
        attempt_.run()
    except RunEnded as cut:  # landed outside the request itself (an injected stall before dispatch)
        rec.outcome = "error"
        rec.error_class = "run_ended"
        rec.error_detail = short(f"in flight when the run ended ({cut.reason})")
        rec.t_dispatch = rec.t_dispatch or clock()
        rec.t_end = clock()
    except Exception as exc:  # a harness bug: recorded, never raised into the load generator
        rec.outcome = "error"
        rec.error_class = "client_error"
        rec.error_detail = short(_redact(f"{type(exc).__name__}: {exc}", target.api_key))
        if rec.t_end == 0.0:
            rec.t_end = clock()
    _redact_record(rec, target.api_key, target.endpoint.limits.field_chars)
    if on_answer is not None and attempt_ is not None and rec.outcome == "ok":
        on_answer(_redact(attempt_.answer, target.api_key))
    return rec
