"""The behaviour model of one simulated endpoint: limits, errors, queueing, timing, stream failures.

Order per request: auth → body → answer plan (preceded by thinking when the request asks for reasoning
or the model always reasons) → context window (400) → RPM/TPM buckets (429) → background errors →
capacity gate (queue, or refuse with ``overload_status``) → headers → TTFT (plus the thinking time when
the dialect hides the thinking) → chunks (the thinking's first when it is shown) → terminal event.
Every answer, errors included, is the dialect's own (an unexpected exception in a handler answers the
dialect's 500 envelope with the request id, and is logged).
Streams are driven by one ``loop.call_at`` callback per chunk (no task wake-up per chunk), and every
chunk is written to the socket as it is produced.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import random
import time
from typing import TYPE_CHECKING

from harness.sim._answer import make_plan, prompt_tokens, reasoning_tokens, with_reasoning
from harness.sim._cache import NO_CACHE, PrefixCache
from harness.sim._groundtruth import GroundTruthRecord, GroundTruthWriter
from harness.sim._limits import CapacityGate, TokenBucket, WindowCounter
from harness.sim._metrics import EndpointMetrics
from harness.sim.handlers import Ctx, SimHTTPError, dialect_for

if TYPE_CHECKING:
    from harness._http import Request, Response
    from harness.behaviour import SimEndpoint
    from harness.sim._answer import Plan
    from harness.sim.handlers import StreamEncoder

__all__ = ["NOMINAL_RPM", "NOMINAL_TPM", "EndpointRuntime"]

_log = logging.getLogger("harness.sim")

NOMINAL_RPM = 100_000
"""Requests per minute advertised (and counted down, never enforced) when no ``rpm_limit`` is set."""
NOMINAL_TPM = 100_000_000
"""Tokens per minute advertised (and counted down, never enforced) when no ``tpm_limit`` is set."""
_ID_HEADER_NAMES = frozenset(
    {"x-request-id", "request-id", "apim-request-id", "x-litellm-call-id", "llm_provider-x-request-id"}
)
_RETRY_HEADER_NAMES = frozenset(
    {"retry-after", "retry-after-ms", "llm_provider-retry-after", "llm_provider-retry-after-ms"}
)

_ERROR_KIND = {
    400: ("bad_request", "The request was invalid."),
    408: ("timeout", "Request timed out."),
    409: ("conflict", "Conflict."),
    429: ("rate_requests", "Rate limit reached. Please try again later."),
    500: ("server", "The server had an error while processing your request. Sorry about that!"),
    502: ("bad_gateway", "Bad gateway."),
    503: ("unavailable", "The server is overloaded or not ready yet."),
    504: ("gateway_timeout", "Gateway timeout."),
    529: ("overloaded", "Overloaded"),
}


class _Lead:
    """How much earlier than due to ask the event loop for a wake-up.

    The loop wakes up late by a fairly constant amount (``epoll`` rounds its timeout up to whole
    milliseconds, plus the work of the iteration), which would make every gap ~0.5 ms too long and
    the decode rate a few percent too slow. An integral controller over the observed lateness of
    every tick removes that bias; it is clamped to 0..2 ms so one hiccup cannot push it far.
    """

    s = 0.0


class _Emitter:
    """Writes one stream's pieces on a timer chain; resolves ``done`` with the outcome."""

    __slots__ = (
        "done",
        "enc",
        "fail_at",
        "fail_kind",
        "gap_s",
        "handle",
        "i",
        "jitter",
        "loop",
        "n",
        "plan",
        "r_gap_s",
        "r_n",
        "rec_times",
        "resp",
        "rng",
        "stall_s",
        "t_first",
        "target",
    )

    def __init__(
        self,
        resp: Response,
        enc: StreamEncoder,
        plan: Plan,
        *,
        n: int,
        r_n: int,
        r_gap_s: float,
        gap_s: float,
        jitter: float,
        rng: random.Random,
        fail_at: int,
        fail_kind: str,
        stall_s: float,
        rec_times: list[float] | None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.resp = resp
        self.enc = enc
        self.plan = plan
        self.n = n  # pieces to write: r_n thinking pieces (at r_gap_s), then the answer's (at gap_s)
        self.r_n = r_n
        self.r_gap_s = r_gap_s
        self.i = 0
        self.gap_s = gap_s
        self.jitter = jitter
        self.rng = rng
        self.fail_at = fail_at
        self.fail_kind = fail_kind
        self.stall_s = stall_s
        self.rec_times = rec_times
        self.handle: asyncio.TimerHandle | None = None
        self.target = 0.0
        self.t_first = 0.0
        self.done: asyncio.Future[str] = self.loop.create_future()

    def start_at(self, when: float) -> None:
        self.target = when
        self.handle = self.loop.call_at(when - _Lead.s, self.tick)

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None

    def _end(self, outcome: str) -> None:
        if not self.done.done():
            self.done.set_result(outcome)

    def tick(self) -> None:
        self.handle = None
        now = self.loop.time()
        _Lead.s = min(0.002, max(0.0, _Lead.s + 0.01 * (now - self.target)))
        resp = self.resp
        if resp.closed:
            self._end("client_gone")
            return
        i = self.i
        if i == self.fail_at:
            if self.fail_kind == "error":
                resp.finish(self.enc.error())
                self._end("error_event")
            else:
                resp.abort(reset=self.fail_kind == "rst")
                self._end("reset" if self.fail_kind == "rst" else "closed")
            return
        data = self.enc.piece(i)
        self.i = i + 1
        if i == 0:
            self.t_first = time.monotonic()
        # the time recorded is taken just before the bytes go to the kernel: a client on this
        # machine can never see a chunk before its recorded write time
        if self.i == self.n and self.fail_at > self.n:
            last = data + self.enc.tail(self.n, self.plan.finish == "length")
            if self.rec_times is not None:
                self.rec_times.append(time.monotonic())
            resp.finish(last)
            self._end("ok")
            return
        if self.rec_times is not None:
            self.rec_times.append(time.monotonic())
        resp.write(data)
        gap = self.r_gap_s if self.i < self.r_n else self.gap_s
        if self.jitter:
            gap *= max(0.0, 1.0 + self.jitter * self.rng.gauss(0.0, 1.0))
        if i == 0:
            gap += self.stall_s
        # the next gap starts from this write, so one late wake-up shows as one long gap, not two
        self.target = now + gap
        self.handle = self.loop.call_at(self.target - _Lead.s, self.tick)


class EndpointRuntime:
    """State of one endpoint in one process. ``share`` > 1 when several processes serve it together:
    capacity, queue and rate limits are divided among them."""

    def __init__(
        self,
        ep: SimEndpoint,
        seed: int,
        gt: GroundTruthWriter | None = None,
        *,
        share: int = 1,
        worker: int = 0,
    ) -> None:
        self.ep = ep
        self.b = b = ep.behaviour
        self.seed = seed
        self.dialect = dialect_for(ep.dialect, ep.persona)
        key = (seed, ep.name) if worker == 0 else (seed, ep.name, worker)
        h = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
        self.rng = random.Random(int.from_bytes(h, "big"))
        self.gate = CapacityGate(max(1, b.capacity // share), b.queue_limit // share)
        now = time.monotonic()
        self.rpm = TokenBucket(b.rpm_limit / share, b.rate_limit_window_s, now) if b.rpm_limit else None
        self.tpm = TokenBucket(b.tpm_limit / share, b.rate_limit_window_s, now) if b.tpm_limit else None
        # What the rate-limit headers report: the enforced buckets, or nominal limits that are only
        # counted per window (so the headers look like a real API's); nothing when the headers are off.
        self.nominal_rpm: WindowCounter | None = None
        self.nominal_tpm: WindowCounter | None = None
        if b.send_ratelimit_headers and self.rpm is None:
            self.nominal_rpm = WindowCounter(NOMINAL_RPM, b.rate_limit_window_s, now)
        if b.send_ratelimit_headers and self.tpm is None:
            self.nominal_tpm = WindowCounter(NOMINAL_TPM, b.rate_limit_window_s, now)
        self.rl_rpm = self.rpm or self.nominal_rpm
        self.rl_tpm = self.tpm or self.nominal_tpm
        self.send_rl = b.send_ratelimit_headers
        self.send_id = b.send_request_id
        self.gt = gt
        cum = 0.0
        self.error_table: list[tuple[float, int]] = []
        for status, p in sorted(b.error_rates.items()):
            if p > 0:
                cum += p
                self.error_table.append((cum, status))
        self.requests = 0
        self.chunks = 0
        self.metrics = EndpointMetrics(ep.model, self.gate)
        self.cache = (
            PrefixCache(
                self.dialect.cache_mode,
                min_tokens=b.cache_min_tokens,
                max_entries=b.cache_entries,
                ttl_override_s=b.cache_ttl_s,
            )
            if b.prompt_cache
            else None
        )

    # ------------------------------------------------------------------------------------------
    def id_headers(self, rid: str) -> list[tuple[str, str]]:
        """The dialect's request-id header, unless ``send_request_id`` is off."""
        return self.dialect.id_headers(rid) if self.send_id else []

    def _rl_headers(self, now: float, wall: float) -> list[tuple[str, str]]:
        if not self.send_rl:
            return []
        return self.dialect.ratelimit_headers(self.rl_rpm, self.rl_tpm, now, wall)

    def _send_error(
        self, resp: Response, exc: SimHTTPError, rid: str, extra: list[tuple[str, str]] | None = None
    ) -> None:
        """``extra`` may hold retry-after(-ms) for ``exc.retry_after_s``; a dialect that carries the delay
        in its body (Gemini's RetryInfo) sends no such header."""
        headers, body = self.dialect.error(exc, rid)
        headers.extend(self.dialect.error_id_headers(exc, rid) if self.send_id else [])
        if extra:
            if self.dialect.retry_in_body:
                extra = [h for h in extra if h[0] not in _RETRY_HEADER_NAMES]
            headers.extend(extra)
        if not resp.started:
            resp.send(exc.status, headers, body)

    async def handle(self, req: Request, resp: Response, op: str, arg: str) -> None:
        self.requests += 1
        rid = f"req_{self.rng.getrandbits(128):032x}"
        rec: GroundTruthRecord | None = None
        if self.gt is not None:
            rc = req.headers.get("x-stainless-retry-count")
            rec = GroundTruthRecord(
                endpoint=self.ep.name,
                request_id=rid,
                dialect=self.ep.dialect,
                t_received=req.t_received,
                wall_received=time.time() - (time.monotonic() - req.t_received),
                retry_count=int(rc) if rc and rc.isdigit() else None,
            )
        try:
            await self._handle(req, resp, op, arg, rid, rec)
        except SimHTTPError as exc:
            # every answer past the key check carries the rate-limit headers, refusals too
            rl = self._rl_headers(time.monotonic(), time.time()) if exc.status != 401 else None
            self._send_error(resp, exc, rid, rl)
        except Exception:
            # a bug in the simulator must still look like the vendor: its 500 envelope, its request id
            _log.exception(
                "simulated endpoint %s: unexpected error on %s %s", self.ep.name, req.method, req.path
            )
            if resp.started:
                resp.abort()
            else:
                self._send_error(resp, SimHTTPError(500, "server", _ERROR_KIND[500][1]), rid)
        finally:
            if rec is not None and self.gt is not None:
                rec.t_end = time.monotonic()
                rec.status = resp.status
                if rec.status != 200 and rec.outcome == "ok":
                    rec.outcome = "http_error"
                if rec.chunk_times:
                    rec.t_first_token = rec.chunk_times[0]
                    rec.t_last = rec.chunk_times[-1]
                self.gt.write(rec)

    async def _handle(
        self, req: Request, resp: Response, op: str, arg: str, rid: str, rec: GroundTruthRecord | None
    ) -> None:
        d = self.dialect
        b = self.b
        d.check_auth(self.ep, req)
        if op == "models":
            resp.send(200, [("content-type", "application/json"), *self.id_headers(rid)], d.models(self.ep))
            return
        try:
            body = json.loads(req.body) if req.body else None
        except ValueError:
            raise SimHTTPError(
                400, "bad_request", "We could not parse the JSON body of your request."
            ) from None
        parsed = d.parse(self.ep, req, body, arg)
        if op == "count":
            n = prompt_tokens(parsed.prompt)
            headers = [("content-type", "application/json"), *self.id_headers(rid)]
            headers += self._rl_headers(time.monotonic(), time.time())
            resp.send(200, headers, b'{"input_tokens":%d}' % n)
            return
        plan = make_plan(
            parsed.prompt,
            seed=self.seed,
            tokens_per_chunk=b.tokens_per_chunk,
            output_tokens_default=b.output_tokens_default,
            output_tokens_jitter_frac=b.output_tokens_jitter_frac,
        )
        n_reason = reasoning_tokens(parsed.prompt, typical=b.reasoning_tokens, always=b.always_reason)
        if n_reason:
            plan = with_reasoning(
                plan, parsed.prompt, n_reason, seed=self.seed, tokens_per_chunk=b.tokens_per_chunk
            )
        generated = plan.completion_tokens + plan.reasoning_tokens  # billed output, thinking included
        if rec is not None:
            rec.stream = parsed.stream
            rec.prompt_tokens = plan.prompt_tokens
        # --- context window ------------------------------------------------------------------
        window = b.max_context_tokens
        if window is not None and plan.prompt_tokens + (parsed.prompt.max_tokens or 0) > window:
            raise d.context_error(plan.prompt_tokens, parsed.prompt.max_tokens, window)
        now = time.monotonic()
        wall = time.time()
        # --- rate limits ---------------------------------------------------------------------
        if self.rpm is not None or self.tpm is not None:
            cost = plan.prompt_tokens + generated
            wait_r = self.rpm.wait_s(1, now) if self.rpm is not None else 0.0
            wait_t = self.tpm.wait_s(cost, now) if self.tpm is not None else 0.0
            if wait_r > 0 or wait_t > 0:
                wait = max(wait_r, wait_t)
                kind = "rate_requests" if wait_r >= wait_t else "rate_tokens"
                what = "requests" if kind == "rate_requests" else "tokens"
                limit = self.rpm if kind == "rate_requests" else self.tpm
                assert limit is not None
                msg = (
                    f"Rate limit reached for {self.ep.model} on {what} per min (RPM/TPM): "
                    f"Limit {int(limit.limit_per_min)}. Please try again in {math.ceil(wait * 1000)}ms."
                )
                extra = [*self._rl_headers(now, wall), *d.retry_headers(wait)]
                self._send_error(resp, SimHTTPError(429, kind, msg, retry_after_s=wait), rid, extra)
                return
            if self.rpm is not None:
                self.rpm.take(1, now)
            if self.tpm is not None:
                self.tpm.take(cost, now)
        if self.nominal_rpm is not None:
            self.nominal_rpm.take(1, now)
        if self.nominal_tpm is not None:
            self.nominal_tpm.take(plan.prompt_tokens + generated, now)
        rl_headers = self._rl_headers(now, wall)
        # --- per-request draws, all from one request RNG (deterministic in arrival order) ---------
        rng = random.Random(self.rng.getrandbits(64))
        u_err = rng.random()
        for cum, status in self.error_table:
            if u_err < cum:
                kind, msg = _ERROR_KIND[status]
                extra = list(rl_headers)
                retry_s = None
                if status in (429, 503, 529) and b.error_retry_after_ms is not None:
                    retry_s = b.error_retry_after_ms / 1000
                    extra += d.retry_headers(retry_s)
                exc = SimHTTPError(status, kind, msg, retry_after_s=retry_s)
                self._send_error(resp, exc, rid, extra)
                return
        ttft_s = max(0.0, rng.gauss(b.ttft_ms, b.ttft_jitter_ms)) / 1000.0
        # prefill (ttft_s += prefill_ms_per_1k_tokens x prompt tokens) is added at admission, after the
        # prompt cache is read: cached tokens prefill faster
        # thinking: streamed as the dialect does (or as reasoning_text says), else a silent wait before
        # the first token
        show = bool(plan.reasoning_tokens) and parsed.prompt.reasoning_include
        show = show and (b.reasoning_text == "streamed" or (b.reasoning_text == "auto" and d.shows_reasoning))
        r_n = len(plan.reasoning_pieces) if show else 0
        r_gap_s = b.tokens_per_chunk / (b.reasoning_tokens_per_s or b.tokens_per_s)
        think_s = len(plan.reasoning_pieces) * r_gap_s
        u_fail = rng.random()
        fail_kind = ""
        n = r_n + len(plan.pieces)
        fail_at = n + 1
        if u_fail < b.midstream_error_rate:
            fail_kind = "error"
        elif u_fail < b.midstream_error_rate + b.midstream_close_rate:
            fail_kind = b.midstream_close_mode
        if fail_kind:
            fail_at = 1 + int(rng.random() * n)
        stall_s = b.stall_ms / 1000.0 if rng.random() < b.stall_rate else 0.0
        msg_id = d.new_id(rng.getrandbits(128))
        # --- capacity ------------------------------------------------------------------------
        if not await self.gate.acquire():
            status = b.overload_status
            kind = "overloaded" if status == 529 else "unavailable"
            message = (
                "Overloaded"
                if status == 529
                else "The engine is currently overloaded, please try again later"
            )
            self._send_error(resp, SimHTTPError(status, kind, message), rid, rl_headers)
            return
        met = self.metrics
        met.prompt_tokens += plan.prompt_tokens
        try:
            t_adm = time.monotonic()
            if rec is not None:
                rec.t_admitted = t_adm
            # the cache is read at admission; cached tokens prefill at a fraction of the cost
            cached = NO_CACHE
            if self.cache is not None:
                cached = self.cache.use(parsed.prompt, t_adm)
                met.prefix_cache_queries += plan.prompt_tokens
                met.prefix_cache_hits += cached.read
            prefill_tokens = plan.prompt_tokens - cached.read + b.cached_prefill_frac * cached.read
            ttft_s += b.prefill_ms_per_1k_tokens * prefill_tokens / 1e6
            ctx = Ctx(
                rid, msg_id, int(wall), self.ep.model, parsed.include_usage, cached, show_reasoning=show
            )
            extra = d.extra_headers(ctx)
            if not self.send_id:
                extra = [h for h in extra if h[0] not in _ID_HEADER_NAMES]
            headers = [*self.id_headers(rid), *extra, *rl_headers]
            gap_s = b.tokens_per_chunk / b.tokens_per_s
            if not parsed.stream:
                total = ttft_s + stall_s + think_s
                for _ in range(len(plan.pieces) - 1):
                    total += gap_s * max(0.0, 1.0 + b.token_jitter_frac * rng.gauss(0.0, 1.0))
                await asyncio.sleep(total)
                if fail_kind == "error":
                    self._send_error(resp, SimHTTPError(500, "server", _ERROR_KIND[500][1]), rid, rl_headers)
                    return
                if fail_kind:
                    resp.abort(reset=fail_kind == "rst")
                    if rec is not None:
                        rec.outcome = "reset" if fail_kind == "rst" else "closed"
                    return
                headers.append(("content-type", "application/json"))
                headers.append(("openai-processing-ms", str(int((time.monotonic() - t_adm) * 1000))))
                out = d.body(plan, ctx)
                if rec is not None:
                    rec.t_headers = time.monotonic()
                    rec.chunk_times.append(rec.t_headers)
                    rec.output_tokens = generated
                resp.send(200, headers, out)
                self.chunks += 1
                t_done = time.monotonic()
                met.ttft.observe(t_done - req.t_received)
                met.e2e.observe(t_done - req.t_received)
                met.generation_tokens += generated
                met.finished[plan.finish] = met.finished.get(plan.finish, 0) + 1
                return
            headers += [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache")]
            enc = d.encoder(plan, ctx)
            head = enc.head()
            if rec is not None:
                rec.t_headers = time.monotonic()
            resp.start(200, headers)
            resp.write(head)
            em = _Emitter(
                resp,
                enc,
                plan,
                n=n,
                r_n=r_n,
                r_gap_s=r_gap_s,
                gap_s=gap_s,
                jitter=b.token_jitter_frac,
                rng=rng,
                fail_at=fail_at,
                fail_kind=fail_kind,
                stall_s=stall_s,
                rec_times=rec.chunk_times if rec is not None else None,
            )
            em.start_at(asyncio.get_running_loop().time() + ttft_s + (0.0 if show else think_s))
            try:
                outcome = await em.done
            except asyncio.CancelledError:
                if rec is not None:
                    rec.outcome = "client_gone"
                raise
            finally:
                em.cancel()
                self.chunks += em.i
                if em.t_first:
                    met.ttft.observe(em.t_first - req.t_received)
                met.generation_tokens += min(generated, min(em.i, n) * b.tokens_per_chunk)
            if outcome == "ok":
                met.e2e.observe(time.monotonic() - req.t_received)
                met.finished[plan.finish] = met.finished.get(plan.finish, 0) + 1
            if rec is not None:
                rec.outcome = outcome
                done = min(em.i, n)
                rec.output_tokens = (
                    generated if outcome == "ok" else min(generated, done * b.tokens_per_chunk)
                )
        finally:
            self.gate.release()
