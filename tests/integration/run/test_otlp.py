"""``bakeoff run --otlp-endpoint``: spans sent over OTLP/HTTP to a receiver inside the test (a loopback
HTTP server decoding the protobuf with opentelemetry-proto's own classes), checked against the run's
records; the exporter's failure handling; the one-line refusals (bad URL, extra missing).

The receiver is a stand-in for an OpenTelemetry Collector: it decodes what a collector decodes, with the
reference message classes, but it is not a collector."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from clirun import bakeoff, bakeoff_run, cli_env
from factories import make_fault_event, make_record
from vendors import http_vendor

from harness.record import read_records

pytest.importorskip("opentelemetry.proto", reason="the otel extra is missing: pip install -e '.[test]'")

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from harness.run._otlp import EXTRA_MISSING, OtlpExporter, TraceBuilder, traces_url


def _attrs(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        which = kv.value.WhichOneof("value")
        if which == "array_value":
            out[kv.key] = [v.string_value for v in kv.value.array_value.values]
        else:
            out[kv.key] = getattr(kv.value, which)
    return out


class _Receiver:
    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []
        self.content_types: list[str] = []

    @property
    def spans(self) -> list[Span]:
        return [
            s for r in self.requests for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans
        ]


@contextlib.contextmanager
def _receiver() -> Iterator[tuple[_Receiver, str]]:
    got = _Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            msg = ExportTraceServiceRequest()
            msg.ParseFromString(body)
            got.requests.append(msg)
            got.paths.append(self.path)
            got.content_types.append(self.headers["Content-Type"])
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    with http_vendor(Handler) as port:
        yield got, f"http://127.0.0.1:{port}"


def test_builder_links_attempts_to_their_request_and_marks_the_faults_they_met() -> None:
    b = TraceBuilder("run-1", epoch=1_000.0)
    b.fault(make_fault_event(fault_id="f1", t_applied=2.0))
    b.fault(make_fault_event(fault_id="f2", t_applied=4.0))
    b.fault(make_fault_event(fault_id="f1", action="remove", t_applied=5.0))
    # attempt 1 from 1.0 to 2.5 meets f1 only; attempt 2 from 4.5 to 6.0 meets f1 (until 5) and f2
    first = b.spans(make_record(t_intended=0.5, t_dispatch=1.0, t_end=2.5, outcome="error", status=503,
                                error_class="server_error", is_final_attempt=False))  # fmt: skip
    last = b.spans(make_record(attempt=2, endpoint="a2", t_intended=0.5, t_dispatch=4.5, t_first_token=4.75,
                               t_end=6.0, input_tokens=12, output_tokens=30, cost_usd=0.25))  # fmt: skip
    assert len(first) == 1 and len(last) == 2
    a1, a2, req = first[0], last[0], last[1]
    assert a1.trace_id == a2.trace_id == req.trace_id and len(req.trace_id) == 16
    assert a1.parent_span_id == a2.parent_span_id == req.span_id and req.parent_span_id == b""
    assert len({a1.span_id, a2.span_id, req.span_id}) == 3
    assert (req.start_time_unix_nano, req.end_time_unix_nano) == (1_000_500_000_000, 1_006_000_000_000)
    assert a2.start_time_unix_nano == 1_004_500_000_000
    assert _attrs(a1)["bakeoff.faults_active"] == ["f1"]
    assert _attrs(a2)["bakeoff.faults_active"] == ["f1", "f2"]
    assert a1.status.code == Status.STATUS_CODE_ERROR and a1.status.message == "server_error"
    assert _attrs(a1)["http.response.status_code"] == 503
    at = _attrs(a2)
    assert at["bakeoff.ttft_s"] == pytest.approx(0.25)
    assert (at["gen_ai.usage.input_tokens"], at["gen_ai.usage.output_tokens"], at["bakeoff.cost_usd"]) == (
        12,
        30,
        0.25,
    )
    assert _attrs(req)["bakeoff.attempts"] == 2 and req.status.code == Status.STATUS_CODE_OK
    # another request of the run is another trace
    other = b.spans(make_record(request_id="q2"))
    assert other[0].trace_id != a1.trace_id


def test_traces_url() -> None:
    assert traces_url("http://127.0.0.1:4318") == "http://127.0.0.1:4318/v1/traces"
    assert traces_url("http://c:4318/") == "http://c:4318/v1/traces"
    assert traces_url("https://c/otlp/v1/traces") == "https://c/otlp/v1/traces"
    with pytest.raises(ValueError):
        traces_url("127.0.0.1:4318")


def test_a_failing_collector_is_one_warning_and_a_problem_not_an_exception() -> None:
    warnings: list[str] = []

    def refuse(url: str, body: bytes) -> int:
        raise ConnectionRefusedError("refused")

    exp = OtlpExporter(
        "http://127.0.0.1:9", scenario="s", warn=warnings.append, sleep=lambda s: None, post=refuse
    )
    exp.start("r")
    for i in range(3):
        exp.add(make_record(request_id=f"q{i}"))  # a final attempt: two spans each
    problems = exp.close()
    assert len(warnings) == 1 and "OTLP export to http://127.0.0.1:9/v1/traces failed" in warnings[0]
    assert problems == [
        "OTLP export: 6 of 6 spans not delivered to http://127.0.0.1:9/v1/traces "
        "(6 failed to send, 0 dropped from a full queue)"
    ]


def test_a_record_protobuf_cannot_carry_is_a_warning_not_an_exception() -> None:
    warnings: list[str] = []
    sent: list[bytes] = []

    def accept(url: str, body: bytes) -> int:
        sent.append(body)
        return 200

    exp = OtlpExporter("http://c:4318", scenario="s", warn=warnings.append, sleep=lambda s: None, post=accept)
    exp.start("r")
    exp.add(make_record(request_id="q1", output_tokens=2**70))  # beyond int64: protobuf refuses it
    exp.add(make_record(request_id="q2"))
    assert exp.close() == [
        "OTLP export: 2 of 4 spans not delivered to http://c:4318/v1/traces "
        "(2 failed to send, 0 dropped from a full queue)"
    ]
    assert len(warnings) == 1 and "could not become a span" in warnings[0]
    msg = ExportTraceServiceRequest()
    msg.ParseFromString(b"".join(sent))
    spans = [s for rs in msg.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert {_attrs(s)["bakeoff.request_id"] for s in spans} == {"q2"} and len(spans) == 2


# about 20 s: the short default scenario with its simulated stack
def test_a_run_exports_a_span_per_request_and_per_attempt(tmp_path: Path) -> None:
    with _receiver() as (got, url):
        run_dir = bakeoff_run("short/default", tmp_path, "--no-probes", "--no-report", "--otlp-endpoint", url)
    records = read_records(run_dir)
    spans = got.spans
    assert set(got.paths) == {"/v1/traces"} and set(got.content_types) == {"application/x-protobuf"}
    resource = {kv.key: kv.value.string_value for kv in got.requests[0].resource_spans[0].resource.attributes}
    assert resource["service.name"] == "bakeoff" and resource["bakeoff.run_id"] == run_dir.name
    requests = [s for s in spans if s.parent_span_id == b""]
    attempts = [s for s in spans if s.parent_span_id != b""]
    assert len(attempts) == len(records)
    assert len(requests) == int(records.is_final_attempt.sum()) == records.request_id.nunique()
    by_id = {(s.trace_id, s.span_id): s for s in requests}
    assert len(by_id) == len(requests)
    # every attempt's parent is the request span of its own trace, and that span is its logical request
    for s in attempts:
        parent = by_id[(s.trace_id, s.parent_span_id)]
        assert _attrs(parent)["bakeoff.request_id"] == _attrs(s)["bakeoff.request_id"]
    # attributes are the records'
    rows = {(r.request_id, int(r.attempt)): r for r in records.itertuples()}
    faults_seen = 0
    for s in attempts:
        at = _attrs(s)
        r = rows[(at["bakeoff.request_id"], at["bakeoff.attempt"])]
        assert (at["bakeoff.contender"], at["bakeoff.endpoint"], at["bakeoff.outcome"]) == (
            r.contender, r.endpoint, r.outcome,
        )  # fmt: skip
        assert at.get("bakeoff.error_class") == (r.error_class if isinstance(r.error_class, str) else None)
        if r.status == r.status and r.status is not None:  # not NaN
            assert at["http.response.status_code"] == int(r.status)
        if r.output_tokens == r.output_tokens and r.output_tokens is not None:
            assert at["gen_ai.usage.output_tokens"] == int(r.output_tokens)
        assert at["bakeoff.cost_usd"] == pytest.approx(r.cost_usd)
        assert (s.status.code == Status.STATUS_CODE_OK) == (r.outcome == "ok")
        faults_seen += "f1-outage" in at.get("bakeoff.faults_active", [])
        # a refused connection in this scenario only happens while the outage is applied
        if r.error_class == "connect_refused":
            assert "f1-outage" in at.get("bakeoff.faults_active", []), at
    assert faults_seen > 0


def test_the_option_is_refused_in_one_line_without_the_extra_or_with_a_bad_url(tmp_path: Path) -> None:
    proc = bakeoff("run", "short/soak", "--out", tmp_path, "--otlp-endpoint", "127.0.0.1:4318", timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("--otlp-endpoint '127.0.0.1:4318': an http://")
    # without opentelemetry-proto installed (hidden from the import system here)
    code = textwrap.dedent(f"""
        import sys
        class Hide:
            def find_spec(self, name, path=None, target=None):
                if name == "opentelemetry" or name.startswith("opentelemetry."):
                    raise ModuleNotFoundError(name)
                return None
        sys.meta_path.insert(0, Hide())
        from harness.cli import main
        sys.exit(main(["run", "short/soak", "--out", {str(tmp_path)!r}, "--otlp-endpoint", "http://127.0.0.1:4318"]))
    """)  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=cli_env(), check=False
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [EXTRA_MISSING]
    assert EXTRA_MISSING.startswith(
        "--otlp-endpoint needs the OpenTelemetry extra: pip install 'bakeoff[otel]'"
    )
    assert not any(tmp_path.iterdir())
