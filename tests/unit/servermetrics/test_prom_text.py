"""The Prometheus text format: the renderer's output line by line (written by hand from the format's
rules), and the bounded parser on vLLM-, SGLang- and TGI-shaped answers and on hostile input."""

from __future__ import annotations

import math

from harness.servermetrics import Family, Histogram, parse_text, render_text, series_of


def test_render_gauge_counter_and_histogram_exactly() -> None:
    h = Histogram([0.1, 1.0])
    for v in (0.05, 0.1, 0.5, 3.0):  # 0.1 falls in le=0.1 (upper bounds are inclusive)
        h.observe(v)
    text = render_text(
        [
            Family("vllm:num_requests_waiting", "gauge", "Waiting.", [({"model_name": "m"}, 3.0)]),
            Family("vllm:prompt_tokens_total", "counter", "Prompt.", [({"model_name": 'a"b\\c'}, 12.0)]),
            Family("vllm:time_to_first_token_seconds", "histogram", "TTFT.", [({"model_name": "m"}, h)]),
        ]
    )
    assert text.splitlines() == [
        "# HELP vllm:num_requests_waiting Waiting.",
        "# TYPE vllm:num_requests_waiting gauge",
        'vllm:num_requests_waiting{model_name="m"} 3.0',
        "# HELP vllm:prompt_tokens_total Prompt.",
        "# TYPE vllm:prompt_tokens_total counter",
        'vllm:prompt_tokens_total{model_name="a\\"b\\\\c"} 12.0',
        "# HELP vllm:time_to_first_token_seconds TTFT.",
        "# TYPE vllm:time_to_first_token_seconds histogram",
        'vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="m"} 2.0',
        'vllm:time_to_first_token_seconds_bucket{le="1.0",model_name="m"} 3.0',
        'vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="m"} 4.0',
        'vllm:time_to_first_token_seconds_sum{model_name="m"} 3.65',
        'vllm:time_to_first_token_seconds_count{model_name="m"} 4.0',
    ]
    assert text.endswith("\n")


def test_render_then_parse_round_trips_labels_and_values() -> None:
    h = Histogram([1.0])
    h.observe(2.0)
    text = render_text(
        [
            Family("g", "gauge", "x", [({"a": "line\nbreak", "b": 'q"uote'}, 0.25)]),
            Family("h", "histogram", "y", [({}, h)]),
        ]
    )
    p = parse_text(text)
    assert p.skipped == 0
    assert [(s.name, s.labels, s.value) for s in p.samples] == [
        ("g", (("a", "line\nbreak"), ("b", 'q"uote')), 0.25),
        ("h_bucket", (("le", "1.0"),), 0.0),
        ("h_bucket", (("le", "+Inf"),), 1.0),
        ("h_sum", (), 2.0),
        ("h_count", (), 1.0),
    ]
    assert p.types == {"g": "gauge", "h": "histogram"}


VLLM = """\
# HELP vllm:num_requests_running Number of requests currently running on GPU.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="meta-llama/Llama-3.1-8B-Instruct"} 7.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="meta-llama/Llama-3.1-8B-Instruct"} 2.0
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.4375
vllm:prompt_tokens_total{model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.5e+04
"""

SGLANG = """\
# HELP sglang:num_running_reqs The number of running requests.
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="qwen",tp_rank="0"} 5.0
sglang:num_queue_reqs{model_name="qwen",tp_rank="0"} 11.0
sglang:token_usage{model_name="qwen",tp_rank="0"} 0.28
sglang:generation_tokens_total{model_name="qwen"} 7.557572e+06
"""

TGI = """\
# TYPE tgi_queue_size gauge
tgi_queue_size 4
# TYPE tgi_batch_current_size gauge
tgi_batch_current_size 16
tgi_request_generated_tokens_sum 1234
tgi_request_generated_tokens_count 20
"""


def _series(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for s in parse_text(text).samples:
        hit = series_of(s.name)
        if hit is not None:
            out[hit[0]] = s.value * hit[1]
    return out


def test_vllm_sglang_and_tgi_names_map_to_the_same_series() -> None:
    assert _series(VLLM) == {"running": 7.0, "waiting": 2.0, "kv_cache": 0.4375, "prompt_tokens": 15000.0}
    assert _series(SGLANG) == {
        "running": 5.0,
        "waiting": 11.0,
        "kv_cache": 0.28,
        "generation_tokens": 7557572.0,
    }
    assert _series(TGI) == {"waiting": 4.0, "running": 16.0, "generation_tokens": 1234.0}
    assert series_of("DCGM_FI_DEV_GPU_UTIL") == ("gpu_util", 0.01)  # percent, scaled to a fraction
    assert series_of("tgi_request_generated_tokens_count") is None


def test_timestamps_exemplars_and_special_values() -> None:
    p = parse_text(
        "a 1 1700000000000\n"  # a timestamp after the value is ignored
        'b_bucket{le="+Inf"} 3 # {trace_id="x"} 1.0\n'  # an OpenMetrics exemplar
        "c NaN\nd +Inf\ne -Inf\n# EOF\n"
    )
    vals = {s.name: s.value for s in p.samples}
    assert vals["a"] == 1.0 and vals["b_bucket"] == 3.0
    assert math.isnan(vals["c"]) and vals["d"] == math.inf and vals["e"] == -math.inf


def test_malformed_lines_are_skipped_never_raised() -> None:
    text = 'ok 1\n{no_name} 2\nx{a="unterminated} 3\ny{a=1} 4\nz\nw abc\n9bad 1\ngood{a="b"} 5\n'
    p = parse_text(text)
    assert [(s.name, s.value) for s in p.samples] == [("ok", 1.0), ("good", 5.0)]
    assert p.skipped == 6


def test_bounds_on_samples_labels_and_lengths() -> None:
    many = "".join(f'm{{i="{i}"}} {i}\n' for i in range(50))
    p = parse_text(many, max_samples=10)
    assert len(p.samples) == 10 and p.truncated
    labels = ",".join(f'l{i}="v"' for i in range(40))
    p = parse_text(
        f"m{{{labels}}} 1\n" + "n" * 5000 + '{a="' + "v" * 5000 + '"} 2\n', max_labels=16, max_chars=100
    )
    assert len(p.samples[0].labels) == 16
    assert len(p.samples[1].name) == 100 and len(p.samples[1].labels[0][1]) == 100
