"""OpenTelemetry traces of a run (``bakeoff run --otlp-endpoint URL``): one span per logical request,
a child span per attempt, sent over OTLP/HTTP (protobuf, ``POST .../v1/traces``).

Two halves. :class:`TraceBuilder` turns records and fault events into spans without I/O (trace and span
ids are derived from the run id and request id, so an attempt's span names its parent before the parent
ends, and nothing has to be held back). :class:`OtlpExporter` queues spans (bounded: beyond
``MAX_QUEUED`` they are dropped and counted), sends them in batches from a background task of the run's
runtime, and never blocks the load: an export that fails is a warning line, never a failed run.

The message classes come from ``opentelemetry-proto`` (the ``bakeoff[otel]`` extra); without it
:func:`otlp_available` says so and ``bakeoff run`` refuses the option in one line.

Times: records carry run-clock seconds; a span's Unix time is the run's wall-clock start (taken when the
first record arrives: wall time now − run clock now) plus the run-clock time.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from harness import __version__
from harness.record import FaultEvent, RequestRecord

if TYPE_CHECKING:
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

__all__ = [
    "EXTRA_MISSING",
    "MAX_BATCH",
    "MAX_QUEUED",
    "OtlpExporter",
    "TraceBuilder",
    "otlp_available",
    "traces_url",
]

EXTRA_MISSING = (
    "--otlp-endpoint needs the OpenTelemetry extra: pip install 'bakeoff[otel]' (opentelemetry-proto)"
)
MAX_QUEUED = 20_000
MAX_BATCH = 512
_FLUSH_EVERY_S = 1.0
_EXPORT_TIMEOUT_S = 5.0
_MAX_ATTR_CHARS = 256


def otlp_available() -> bool:
    try:
        import opentelemetry.proto.collector.trace.v1.trace_service_pb2  # noqa: F401
    except ImportError:
        return False
    return True


def traces_url(endpoint: str) -> str:
    """Where spans are POSTed: ``endpoint`` as given when it names a path, else ``<endpoint>/v1/traces``
    (as OTEL_EXPORTER_OTLP_ENDPOINT is read). ``ValueError`` for anything but an http(s) URL."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"--otlp-endpoint {endpoint!r}: an http:// or https:// URL, e.g. http://127.0.0.1:4318"
        )
    if parts.path in ("", "/"):
        return endpoint.rstrip("/") + "/v1/traces"
    return endpoint


def _id(nbytes: int, *parts: str) -> bytes:
    raw = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()[:nbytes]
    return raw if any(raw) else b"\x01" * nbytes  # all-zero ids are invalid in OTLP


class TraceBuilder:
    """Spans from records and fault events. ``epoch`` is the Unix time of run-clock 0."""

    def __init__(self, run_id: str, epoch: float = 0.0) -> None:
        from opentelemetry.proto.trace.v1 import trace_pb2

        self._pb = trace_pb2
        self.run_id = run_id
        self.epoch = epoch
        self._windows: list[tuple[str, float, float | None]] = []  # fault id, applied at, removed at

    def trace_id(self, request_id: str) -> bytes:
        return _id(16, self.run_id, request_id)

    def request_span_id(self, request_id: str) -> bytes:
        return _id(8, self.run_id, request_id, "request")

    def attempt_span_id(self, request_id: str, attempt: int) -> bytes:
        return _id(8, self.run_id, request_id, "attempt", str(attempt))

    def fault(self, ev: FaultEvent) -> None:
        """A fault window opens (applied) or closes (removed)."""
        if ev.action == "apply" and ev.outcome == "ok":
            self._windows.append((ev.fault_id, ev.t_applied, None))
        elif ev.action == "remove":
            self._windows = [
                (f, start, ev.t_applied if f == ev.fault_id and end is None else end)
                for f, start, end in self._windows
            ]

    def active_faults(self, start: float, end: float) -> list[str]:
        """Fault ids applied at some moment of [start, end]."""
        return sorted({f for f, a, r in self._windows if a <= end and (r is None or r >= start)})

    def _ns(self, t: float) -> int:
        return round((self.epoch + t) * 1e9)

    def spans(self, rec: RequestRecord) -> list[Span]:
        """The attempt's span, and the logical request's span when this attempt is its last."""
        pb = self._pb
        faults = self.active_faults(rec.t_dispatch, rec.t_end)
        attempt = pb.Span(
            trace_id=self.trace_id(rec.request_id),
            span_id=self.attempt_span_id(rec.request_id, rec.attempt),
            parent_span_id=self.request_span_id(rec.request_id),
            name=f"attempt {rec.attempt} {rec.endpoint}"[:_MAX_ATTR_CHARS],
            kind=pb.Span.SpanKind.SPAN_KIND_CLIENT,
            start_time_unix_nano=self._ns(rec.t_dispatch),
            end_time_unix_nano=self._ns(max(rec.t_end, rec.t_dispatch)),
        )
        _attrs(
            attempt,
            {
                "bakeoff.contender": rec.contender,
                "bakeoff.endpoint": rec.endpoint,
                "bakeoff.request_id": rec.request_id,
                "bakeoff.attempt": rec.attempt,
                "bakeoff.outcome": rec.outcome,
                "bakeoff.error_class": rec.error_class,
                "http.response.status_code": rec.status,
                "bakeoff.ttft_s": None if rec.t_first_token is None else rec.t_first_token - rec.t_dispatch,
                "gen_ai.request.model": rec.model_requested,
                "gen_ai.response.model": rec.model_served,
                "gen_ai.usage.input_tokens": rec.input_tokens,
                "gen_ai.usage.output_tokens": rec.output_tokens,
                "bakeoff.cost_usd": rec.cost_usd,
                "bakeoff.fault_injected": rec.fault_injected,
                "bakeoff.faults_active": faults,
                "bakeoff.vendor_request_id": rec.vendor_request_id,
            },
        )
        _status(attempt, pb, rec)
        out = [attempt]
        if rec.is_final_attempt:
            request = pb.Span(
                trace_id=self.trace_id(rec.request_id),
                span_id=self.request_span_id(rec.request_id),
                name=f"request {rec.contender}"[:_MAX_ATTR_CHARS],
                kind=pb.Span.SpanKind.SPAN_KIND_INTERNAL,
                start_time_unix_nano=self._ns(rec.t_intended),
                end_time_unix_nano=self._ns(max(rec.t_end, rec.t_intended)),
            )
            _attrs(
                request,
                {
                    "bakeoff.contender": rec.contender,
                    "bakeoff.request_id": rec.request_id,
                    "bakeoff.prompt_id": rec.prompt_id,
                    "bakeoff.attempts": rec.attempt,
                    "bakeoff.outcome": rec.outcome,
                    "bakeoff.error_class": rec.error_class,
                    "bakeoff.endpoint": rec.endpoint,  # the endpoint that ended it
                    "bakeoff.user_latency_s": rec.t_end - rec.t_intended,
                    "bakeoff.faults_active": self.active_faults(rec.t_intended, rec.t_end),
                },
            )
            _status(request, pb, rec)
            out.append(request)
        return out

    def request(self, spans: Sequence[Span], *, scenario: str) -> Any:
        """The ExportTraceServiceRequest carrying ``spans``: one resource (service bakeoff, this run)."""
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
        from opentelemetry.proto.common.v1 import common_pb2
        from opentelemetry.proto.resource.v1 import resource_pb2

        resource = resource_pb2.Resource()
        for key, value in (
            ("service.name", "bakeoff"),
            ("bakeoff.run_id", self.run_id),
            ("bakeoff.scenario", scenario),
        ):
            resource.attributes.append(
                common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))
            )
        scope = common_pb2.InstrumentationScope(name="bakeoff", version=__version__)
        return trace_service_pb2.ExportTraceServiceRequest(
            resource_spans=[
                self._pb.ResourceSpans(
                    resource=resource, scope_spans=[self._pb.ScopeSpans(scope=scope, spans=list(spans))]
                )
            ]
        )


def _attrs(span: Span, values: dict[str, Any]) -> None:
    from opentelemetry.proto.common.v1 import common_pb2

    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            any_value = common_pb2.AnyValue(bool_value=value)
        elif isinstance(value, int):
            any_value = common_pb2.AnyValue(int_value=value)
        elif isinstance(value, float):
            any_value = common_pb2.AnyValue(double_value=value)
        elif isinstance(value, list):
            any_value = common_pb2.AnyValue(
                array_value=common_pb2.ArrayValue(
                    values=[common_pb2.AnyValue(string_value=str(v)[:_MAX_ATTR_CHARS]) for v in value[:64]]
                )
            )
        else:
            any_value = common_pb2.AnyValue(string_value=str(value)[:_MAX_ATTR_CHARS])
        span.attributes.append(common_pb2.KeyValue(key=key, value=any_value))


def _status(span: Span, pb: Any, rec: RequestRecord) -> None:
    if rec.outcome == "ok":
        span.status.code = pb.Status.StatusCode.STATUS_CODE_OK
    else:
        span.status.code = pb.Status.StatusCode.STATUS_CODE_ERROR
        span.status.message = (rec.error_class or "error")[:_MAX_ATTR_CHARS]


class OtlpExporter:
    """Queues the spans of a run's records and sends them in batches from ``run()`` (a background task).

    ``add`` and ``fault`` never block and never raise on export trouble; ``close()`` sends what is left
    (within a few seconds) and returns the problems met, for the run's end.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        scenario: str,
        warn: Callable[[str], None],
        sleep: Callable[[float], None],
        post: Callable[[str, bytes], int] | None = None,
    ) -> None:
        self.url = traces_url(endpoint)
        self.scenario = scenario
        self.builder: TraceBuilder | None = None
        self.clock: Callable[[], float] | None = None
        self._warn = warn
        self._sleep = sleep
        self._post = post or _httpx_post
        self._queue: deque[Span] = deque()
        self._pending_faults: list[FaultEvent] = []
        self.sent = 0
        self.dropped = 0
        self.failed = 0
        self._warned = False
        self._closing = False
        self._running = False

    def start(self, run_id: str) -> None:
        self.builder = TraceBuilder(run_id)
        for ev in self._pending_faults:
            self.builder.fault(ev)
        self._pending_faults.clear()

    def add(self, rec: RequestRecord) -> None:
        if self.builder is None:
            return
        if not self.builder.epoch:
            self.builder.epoch = time.time() - (self.clock() if self.clock is not None else rec.t_end)
        try:
            spans = self.builder.spans(rec)
        except Exception as exc:  # a value protobuf refuses: that record's spans are lost, not the run
            self.failed += 1 + rec.is_final_attempt
            self._warn_once(f"a record could not become a span ({type(exc).__name__}: {exc})"[:300])
            return
        for span in spans:
            if len(self._queue) >= MAX_QUEUED:
                self.dropped += 1
            else:
                self._queue.append(span)

    def fault(self, ev: FaultEvent) -> None:
        if self.builder is None:
            self._pending_faults.append(ev)
        else:
            self.builder.fault(ev)

    def run(self) -> None:
        """Send a batch whenever there is one, at least every second, until ``close()``."""
        self._running = True
        try:
            while not self._closing:
                if len(self._queue) < MAX_BATCH:
                    self._sleep(_FLUSH_EVERY_S if not self._queue else 0.2)
                if not self._closing:
                    self._send_batch()
        finally:
            self._running = False

    def _send_batch(self) -> bool:
        if not self._queue or self.builder is None:
            return True
        batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
        body = self.builder.request(batch, scenario=self.scenario).SerializeToString()
        try:
            status = self._post(self.url, body)
            problem = None if 200 <= status < 300 else f"HTTP {status}"
        except Exception as exc:  # any transport trouble is a warning, never a failed run
            problem = f"{type(exc).__name__}: {exc}"[:200]
        if problem is None:
            self.sent += len(batch)
            return True
        self.failed += len(batch)
        self._warn_once(problem)
        return False

    def _warn_once(self, problem: str) -> None:
        if not self._warned:
            self._warned = True
            self._warn(
                f"warning: OTLP export to {self.url} failed ({problem}); spans are dropped, the run goes on"
            )

    def close(self, budget_s: float = 5.0) -> list[str]:
        """Send what is queued (for at most ``budget_s``), stop; the problems met, as one line or none."""
        self._closing = True
        deadline = time.monotonic() + budget_s
        while self._running and time.monotonic() < deadline:  # let a batch being sent finish
            self._sleep(0.05)
        while self._queue and time.monotonic() < deadline:
            if not self._send_batch():
                break
        self.failed += len(self._queue)
        self._queue.clear()
        lost = self.failed + self.dropped
        if not lost:
            return []
        return [
            f"OTLP export: {lost} of {lost + self.sent} spans not delivered to {self.url} "
            f"({self.failed} failed to send, {self.dropped} dropped from a full queue)"
        ]


def _httpx_post(url: str, body: bytes) -> int:
    import httpx

    resp = httpx.post(
        url,
        content=body,
        headers={"Content-Type": "application/x-protobuf"},
        timeout=_EXPORT_TIMEOUT_S,
    )
    return resp.status_code
