"""The text format against an outside reference: prometheus_client, the library vLLM and SGLang expose
their metrics with. What it writes, our parser reads; what our renderer writes, its parser reads back
with the same names, labels and values."""

from __future__ import annotations

import math

import pytest

from harness.servermetrics import Family, Histogram, parse_text, render_text

prom = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402


def test_our_parser_reads_what_prometheus_client_writes() -> None:
    reg = prom.CollectorRegistry()
    g = prom.Gauge("vllm:num_requests_waiting", "Waiting.", ["model_name"], registry=reg)
    c = prom.Counter("vllm:prompt_tokens", "Prompt tokens.", ["model_name"], registry=reg)
    h = prom.Histogram(
        "vllm:time_to_first_token_seconds", "TTFT.", ["model_name"], buckets=(0.1, 1.0), registry=reg
    )
    g.labels(model_name='we"ird\\name').set(7)
    c.labels(model_name="m").inc(1234)
    for v in (0.05, 0.5, 3.0):
        h.labels(model_name="m").observe(v)
    text = prom.generate_latest(reg).decode()
    p = parse_text(text)
    assert p.skipped == 0
    got = {(s.name, frozenset(s.labels)): s.value for s in p.samples}
    m = ("model_name", "m")
    assert got[("vllm:num_requests_waiting", frozenset({("model_name", 'we"ird\\name')}))] == 7.0
    assert got[("vllm:prompt_tokens_total", frozenset({m}))] == 1234.0  # the _total the library adds
    assert got[("vllm:time_to_first_token_seconds_bucket", frozenset({m, ("le", "0.1")}))] == 1.0
    assert got[("vllm:time_to_first_token_seconds_bucket", frozenset({m, ("le", "+Inf")}))] == 3.0
    assert math.isclose(got[("vllm:time_to_first_token_seconds_sum", frozenset({m}))], 3.55)
    assert p.types["vllm:num_requests_waiting"] == "gauge"


def test_prometheus_client_reads_what_our_renderer_writes() -> None:
    h = Histogram([0.1, 1.0])
    for v in (0.05, 0.5, 3.0):
        h.observe(v)
    text = render_text(
        [
            Family("vllm:num_requests_running", "gauge", "Running.", [({"model_name": 'a"b\\c\nd'}, 2.0)]),
            Family("vllm:generation_tokens_total", "counter", "Generated.", [({"model_name": "m"}, 99.0)]),
            Family("vllm:e2e_request_latency_seconds", "histogram", "E2E.", [({"model_name": "m"}, h)]),
        ]
    )
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    assert fams["vllm:num_requests_running"].type == "gauge"
    [running] = fams["vllm:num_requests_running"].samples
    assert running.labels == {"model_name": 'a"b\\c\nd'} and running.value == 2.0
    assert fams["vllm:generation_tokens"].type == "counter"  # the parser strips _total from a counter's name
    assert fams["vllm:generation_tokens"].samples[0].value == 99.0
    hist = {(s.name, s.labels.get("le")): s.value for s in fams["vllm:e2e_request_latency_seconds"].samples}
    assert hist == {
        ("vllm:e2e_request_latency_seconds_bucket", "0.1"): 1.0,
        ("vllm:e2e_request_latency_seconds_bucket", "1.0"): 2.0,
        ("vllm:e2e_request_latency_seconds_bucket", "+Inf"): 3.0,
        ("vllm:e2e_request_latency_seconds_sum", None): 3.55,
        ("vllm:e2e_request_latency_seconds_count", None): 3.0,
    }
