"""Verdicts from what came back (no I/O): exchanges and a TLS handshake in, ProbeResults out.

Vendor text (error bodies, answers) only reaches a result through :func:`harness._text.safe_text`:
redacted of the endpoint's key and terminal-safe.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from harness._http import is_loopback
from harness._text import safe_text
from harness._vocab import DialectName
from harness.dialects import Delta, Done, Event, Finish, Malformed, Meta, StreamError, Usage, get_dialect
from harness.probes._plan import ProbeOptions
from harness.probes._result import PROBES, ProbeResult
from harness.tokens import count_tokens

__all__ = ["Exchange", "TlsInfo", "error_body_ok", "evaluate", "has_ratelimit_headers"]

_OBSERVED_MAX = 200
_EXPIRY_WARN_DAYS = 14
_TERMINAL: dict[DialectName, str] = {
    "openai-chat": "data: [DONE]",
    "azure-openai": "data: [DONE]",
    "anthropic-messages": "message_stop",
    "gemini": "a final chunk with finishReason",
}
_RATELIMIT = re.compile(
    r"^(x-)?ratelimit-|^anthropic-ratelimit-|^x-ratelimit-|^ratelimit$|^ratelimit-policy$"
)
_ERROR_PROBES = ("bad_key", "malformed_json", "unknown_model", "invalid_params", "overlong_context")
_CLIENT_ERROR_PROBES = ("malformed_json", "unknown_model", "invalid_params", "overlong_context")


@dataclass(frozen=True, slots=True)
class Exchange:
    """What one probe request got back. ``error`` is set when no complete answer arrived (transport
    failure or the probe's time limit); ``chunks`` are the body as read (capped)."""

    name: str
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    chunks: tuple[bytes, ...] = ()
    latency_s: float | None = None
    error: str | None = None
    streamed: bool = False

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass(frozen=True, slots=True)
class TlsInfo:
    """A TLS handshake with the vendor host (SNI = vendor host): version, certificate expiry, error."""

    version: str | None = None
    cert_valid: bool = False
    not_after: str | None = None
    issuer: str | None = None
    error: str | None = None
    latency_s: float | None = None
    days_left: float | None = None


def error_body_ok(body: bytes) -> bool:
    """A parseable error body: a JSON object with an ``error`` (object or text) or a ``message``."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    if not isinstance(data, dict):
        return False
    err = data.get("error")
    if isinstance(err, dict):
        return bool(err.get("message") or err.get("type") or err.get("code"))
    if isinstance(err, str):
        return bool(err)
    return isinstance(data.get("message"), str) and bool(data["message"])


def _gemini_key_refusal(body: bytes) -> bool:
    """A Google RPC error saying the key is invalid (``ErrorInfo.reason`` API_KEY_INVALID): Gemini's
    answer to a wrong key is 400 INVALID_ARGUMENT, not 401/403."""
    try:
        err = json.loads(body).get("error")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return False
    details = err.get("details") if isinstance(err, dict) else None
    return isinstance(details, list) and any(
        isinstance(d, dict) and d.get("reason") == "API_KEY_INVALID" for d in details
    )


def has_ratelimit_headers(headers: Mapping[str, str]) -> list[str]:
    """Names of rate-limit headers present (OpenAI ``x-ratelimit-*``, Anthropic, IETF ``RateLimit``)."""
    return sorted(h for h in headers if _RATELIMIT.search(h.lower()))


class _Eval:
    def __init__(
        self,
        endpoint: str,
        dialect: DialectName,
        stream: bool,
        base_url: str,
        exchanges: Mapping[str, Exchange],
        tls: TlsInfo | None,
        options: ProbeOptions,
        secrets: Iterable[str | None],
        run_id: str,
        t_s: float,
    ) -> None:
        self.endpoint = endpoint
        self.dialect_name = dialect
        self.dialect = get_dialect(dialect)
        self._gemini = dialect == "gemini"
        self.stream = stream
        self.base_url = base_url
        self.ex = exchanges
        self.tls = tls
        self.o = options
        self.secrets = [s for s in secrets if s]
        self.run_id = run_id
        self.t_s = t_s
        self.out: list[ProbeResult] = []

    # --- helpers ---------------------------------------------------------------------------
    def safe(self, text: str, limit: int = _OBSERVED_MAX) -> str:
        return safe_text(text, self.secrets, limit=limit)

    def result(
        self,
        probe: str,
        passed: bool | None,
        observed: str,
        *,
        ex: Exchange | None = None,
        latency_s: float | None = None,
        detail: str = "",
    ) -> None:
        spec = PROBES[probe]
        lat = latency_s if latency_s is not None else (ex.latency_s if ex is not None else None)
        self.out.append(
            ProbeResult(
                endpoint=self.endpoint,
                probe=probe,
                passed=passed,
                expected=spec.expected,
                observed=self.safe(observed),
                status=ex.status if ex is not None else None,
                latency_s=round(lat, 6) if lat is not None else None,
                layer=spec.layer,
                detail=self.safe(detail, 400),
                run_id=self.run_id,
                dialect=self.dialect_name,
                t_s=self.t_s,
            )
        )

    def describe(self, ex: Exchange) -> str:
        """``HTTP 400 invalid_request_error: message, 12 ms`` or the transport failure."""
        if ex.status is None:
            return f"no answer: {ex.error or 'unknown'}"
        ms = f", {ex.latency_s * 1000:.0f} ms" if ex.latency_s is not None else ""
        if 200 <= ex.status < 300:
            return f"HTTP {ex.status}{ms}"
        return f"{self.dialect.classify(ex.status, ex.headers, ex.body).detail}{ms}"

    def answer_events(self, ex: Exchange) -> list[Event]:
        events: list[Event] = []
        try:
            if ex.streamed and "json" not in ex.content_type:
                parser = self.dialect.stream_parser()
                for chunk in ex.chunks:
                    events.extend(parser.feed(chunk))
                events.extend(parser.close())
                return events
            return self.dialect.parse_response(ex.body)
        except Exception as exc:  # a parser bug on hostile input must not hide the other verdicts
            return [*events, Malformed(f"answer could not be parsed ({type(exc).__name__})")]

    # --- probes ----------------------------------------------------------------------------
    def bad_key(self) -> None:
        ex = self.ex.get("bad_key")
        if ex is None:
            self.result("bad_key", None, "skipped")
            return
        what = self.describe(ex)
        if ex.status in (401, 403):
            self.result("bad_key", True, f"refused: {what}", ex=ex)
        elif self._gemini and ex.status == 400 and _gemini_key_refusal(ex.body):
            self.result("bad_key", True, f"refused as Gemini does (400 API_KEY_INVALID): {what}", ex=ex)
        elif ex.status is None:
            self.result("bad_key", False, what, ex=ex)
        elif 200 <= ex.status < 300:
            self.result("bad_key", False, f"ACCEPTED a wrong key: {what}", ex=ex)
        elif ex.status >= 500:
            self.result("bad_key", False, f"server error on a wrong key: {what}", ex=ex)
        else:
            self.result("bad_key", False, f"refused, but not with 401/403: {what}", ex=ex)

    def client_error(self, probe: str) -> None:
        ex = self.ex.get(probe)
        if ex is None:
            self.result(probe, None, "skipped")
            return
        what = self.describe(ex)
        if ex.status is None:
            self.result(probe, False, what, ex=ex)
            return
        if 200 <= ex.status < 300:
            served = ""
            if probe == "unknown_model":
                for ev in self.answer_events(ex):
                    if isinstance(ev, Meta) and ev.model:
                        served = f"; served model {ev.model!r}"
            if probe == "overlong_context":
                served = f"; a prompt of ~{self.o.overlong_tokens:,} tokens was answered"
            self.result(probe, False, f"ACCEPTED: {what}{served}", ex=ex)
            return
        problems = []
        if not 400 <= ex.status < 500 or ex.status == 429:
            problems.append(f"expected 4xx, got {ex.status}")
        if not error_body_ok(ex.body):
            problems.append("error body not parseable")
        if ex.latency_s is not None and ex.latency_s > self.o.prompt_error_s:
            problems.append(f"slow: over {self.o.prompt_error_s:g} s")
        if problems:
            self.result(probe, False, f"{'; '.join(problems)} ({what})", ex=ex)
        else:
            self.result(probe, True, what, ex=ex)

    def answer_probes(self) -> None:
        names = ("max_tokens", "stream_terminal", "usage_reported", "ratelimit_headers")
        ex = self.ex.get("answer")
        if ex is None:
            for n in names:
                self.result(n, None, "skipped")
            return
        if ex.status is None or not 200 <= ex.status < 300:
            what = f"no valid answer to measure: {self.describe(ex)}"
            for n in ("max_tokens", "stream_terminal", "usage_reported"):
                self.result(n, False, what, ex=ex)
        else:
            self._answer(ex)
        rl = has_ratelimit_headers(ex.headers)
        if ex.status is None:
            self.result("ratelimit_headers", False, self.describe(ex), ex=ex)
        elif rl:
            self.result("ratelimit_headers", True, ", ".join(rl), ex=ex)
        else:
            why = " (Gemini sends none; its 429s carry the retry delay in the body)" if self._gemini else ""
            self.result("ratelimit_headers", False, f"no rate-limit headers on the answer{why}", ex=ex)

    def _answer(self, ex: Exchange) -> None:
        events = self.answer_events(ex)
        usage = Usage()
        usage_seen = False
        text: list[str] = []
        finish = None
        done = False
        failure = None
        for ev in events:
            if isinstance(ev, Usage):
                usage = usage.merged(ev)
                usage_seen = True
            elif isinstance(ev, Delta):
                text.append(ev.text)
            elif isinstance(ev, Finish):
                finish = ev.reason
            elif isinstance(ev, Done):
                done = True
            elif isinstance(ev, StreamError | Malformed):
                failure = ev.detail
        # usage
        if usage_seen and (usage.output_tokens is not None or usage.input_tokens is not None):
            self.result(
                "usage_reported",
                True,
                f"input {usage.input_tokens}, output {usage.output_tokens} tokens",
                ex=ex,
            )
        else:
            self.result("usage_reported", False, "the answer carried no usage", ex=ex)
        # max_tokens
        limit = self.o.max_tokens
        if usage.output_tokens is not None:
            n, source, slack = usage.output_tokens, "reported", 0
        else:
            n, source, slack = count_tokens("".join(text)), "estimated", max(2, limit // 4)
        fin = f", finish {finish}" if finish else ""
        obs = f"{n} output tokens ({source}) for max_tokens {limit}{fin}"
        self.result("max_tokens", n <= limit + slack, obs if n <= limit + slack else f"over: {obs}", ex=ex)
        # stream terminal event
        terminal = _TERMINAL.get(self.dialect_name, "terminal event")
        if not self.stream:
            self.result("stream_terminal", None, "endpoint is not streamed", ex=ex)
        elif "json" in ex.content_type:
            self.result("stream_terminal", False, "asked for a stream, got a JSON body", ex=ex)
        elif failure is not None:
            self.result("stream_terminal", False, f"stream failed: {failure}", ex=ex)
        elif done:
            self.result("stream_terminal", True, f"ended with {terminal}", ex=ex)
        else:
            cut = f" ({ex.error})" if ex.error else ""
            self.result("stream_terminal", False, f"stream ended without {terminal}{cut}", ex=ex)

    def request_ids(self) -> None:
        answered = [ex for ex in self.ex.values() if ex.status is not None]
        if not answered:
            if self.ex:
                self.result("request_id", False, "no answers to read headers from")
            else:
                self.result("request_id", None, "skipped")
            return
        missing = [ex.name for ex in answered if not self.dialect.read_headers(ex.headers).vendor_request_id]
        if missing:
            why = "; Gemini sends none, its answers carry responseId in the body" if self._gemini else ""
            self.result(
                "request_id",
                False,
                f"no request id header on {len(missing)} of {len(answered)} answers ({', '.join(missing)})"
                + why,
            )
        else:
            self.result("request_id", True, f"request id header on all {len(answered)} answers")

    def error_aggregates(self) -> None:
        sent = [self.ex[n] for n in _ERROR_PROBES if n in self.ex]
        errors = [ex for ex in sent if ex.status is not None and ex.status >= 400]
        if not errors:
            self.result("error_bodies", None, "no error answers")
            self.result("error_latency", None, "no error answers")
            return
        bad = [ex.name for ex in errors if not error_body_ok(ex.body)]
        if bad:
            self.result(
                "error_bodies",
                False,
                f"{len(bad)} of {len(errors)} error bodies not parseable ({', '.join(bad)})",
            )
        else:
            self.result("error_bodies", True, f"all {len(errors)} error bodies parseable")
        lat = [ex.latency_s for ex in errors if ex.latency_s is not None]
        timeouts = [ex.name for ex in sent if ex.status is None]
        if not lat:
            self.result("error_latency", None, "no timed error answers")
            return
        worst = max(lat)
        obs = (
            f"median {statistics.median(lat) * 1000:.0f} ms, max {worst * 1000:.0f} ms over {len(lat)} errors"
        )
        if timeouts:
            obs += f"; no answer to {', '.join(timeouts)}"
        ok = worst <= self.o.prompt_error_s and not timeouts
        if not timeouts and not ok:  # slow, like the other probes say it: "slow: ..."
            obs = f"slow: {obs}, over {self.o.prompt_error_s:g} s"
        self.result("error_latency", ok, obs, latency_s=worst)

    def tls_probe(self) -> None:
        parts = urlsplit(self.base_url)
        host = parts.hostname or ""
        if parts.scheme != "https":
            if is_loopback(host):
                self.result("tls", None, "plain HTTP on loopback (simulated or local vendor)")
            else:
                self.result("tls", False, f"plain HTTP to {host}: the API key and prompts travel unencrypted")
            return
        t = self.tls
        if t is None:
            self.result("tls", None, "skipped")
            return
        if t.error is not None:
            version = f"{t.version}, " if t.version else ""
            self.result("tls", False, f"{version}{t.error}", latency_s=t.latency_s)
            return
        issuer = f"; issuer {t.issuer}" if t.issuer else ""
        obs = f"{t.version}, certificate valid until {t.not_after}{issuer}"
        ok = t.cert_valid and t.version in ("TLSv1.2", "TLSv1.3")
        soon = ""
        if t.days_left is not None and t.days_left < _EXPIRY_WARN_DAYS:
            soon = f"certificate expires in {t.days_left:.1f} days"
        self.result("tls", ok, obs if ok else f"weak or invalid: {obs}", latency_s=t.latency_s, detail=soon)


def evaluate(
    endpoint: str,
    *,
    dialect: DialectName,
    stream: bool,
    base_url: str,
    exchanges: Iterable[Exchange],
    tls: TlsInfo | None,
    options: ProbeOptions | None = None,
    secrets: Iterable[str | None] = (),
    run_id: str = "",
    t_s: float = 0.0,
) -> list[ProbeResult]:
    """Every probe's verdict for one endpoint, in ``PROBES`` order. Pure: same input, same output."""
    e = _Eval(
        endpoint,
        dialect,
        stream,
        base_url,
        {ex.name: ex for ex in exchanges},
        tls,
        options or ProbeOptions(),
        secrets,
        run_id,
        t_s,
    )
    e.bad_key()
    for probe in _CLIENT_ERROR_PROBES:
        e.client_error(probe)
    e.answer_probes()
    e.request_ids()
    e.error_aggregates()
    e.tls_probe()
    order = list(PROBES)
    return sorted(e.out, key=lambda r: order.index(r.probe))
