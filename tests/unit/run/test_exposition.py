"""The metrics registry and its Prometheus text, without sockets: escaping, cumulative buckets, bounds.
Expected texts are written by hand from the exposition format's rules
(https://prometheus.io/docs/instrumenting/exposition_formats/)."""

from __future__ import annotations

import pytest
from factories import make_fault_event, make_record

from harness.run._exposition import MAX_LABEL_CHARS, MAX_SERIES, Registry, bounded_label_value, format_value
from harness.run._live_metrics import RunMetrics


def test_label_values_escape_backslash_quote_and_line_feed() -> None:
    assert bounded_label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert bounded_label_value("plain-name_1") == "plain-name_1"
    # cut before escaping: a long vendor string stays bounded
    assert bounded_label_value("x" * 500) == "x" * MAX_LABEL_CHARS


def test_values_are_written_as_the_format_spells_them() -> None:
    assert [format_value(v) for v in (3.0, 0.25, float("inf"), float("-inf"), float("nan"))] == [
        "3",
        "0.25",
        "+Inf",
        "-Inf",
        "NaN",
    ]


def test_counter_text() -> None:
    reg = Registry()
    c = reg.counter("x_total", 'Attempts "seen"\nper path \\', ("path",))
    c.inc('a"b')
    c.inc('a"b')
    c.inc("c\\d", amount=0.5)
    assert reg.render() == (
        '# HELP x_total Attempts "seen"\\nper path \\\\\n'
        "# TYPE x_total counter\n"
        'x_total{path="a\\"b"} 2\n'
        'x_total{path="c\\\\d"} 0.5\n'
    )
    with pytest.raises(ValueError):
        c.inc("a", amount=-1)
    with pytest.raises(ValueError):
        reg.counter("y", "a counter's name ends in _total")


def test_histogram_buckets_are_cumulative_and_le_is_inclusive() -> None:
    reg = Registry()
    h = reg.histogram("t_seconds", "h", (0.1, 1.0), ("c",))
    for v in (0.05, 0.1, 0.5, 1.0, 7.0):
        h.observe("A", value=v)
    # 0.05 and 0.1 are <= 0.1; 0.5 and 1.0 add to <= 1; 7 only in +Inf. Sum 8.65.
    assert reg.render().splitlines()[2:] == [
        't_seconds_bucket{c="A",le="0.1"} 2',
        't_seconds_bucket{c="A",le="1"} 4',
        't_seconds_bucket{c="A",le="+Inf"} 5',
        't_seconds_sum{c="A"} 8.65',
        't_seconds_count{c="A"} 5',
    ]


def test_series_per_metric_are_bounded() -> None:
    reg = Registry()
    c = reg.counter("n_total", "n", ("k",))
    for i in range(MAX_SERIES + 10):
        c.inc(str(i))
    assert len(reg.render().splitlines()) == 2 + MAX_SERIES
    assert c.dropped_series == 10
    c.inc("0")  # a kept series still counts
    assert c.value("0") == 2


def test_gauge_read_at_render_time() -> None:
    reg = Registry()
    state = {"A": 3}
    reg.gauge("g", "g", ("c",), read=lambda: {(k,): float(v) for k, v in state.items()})
    assert reg.render().splitlines()[-1] == 'g{c="A"} 3'
    state["A"] = 0
    assert reg.render().splitlines()[-1] == 'g{c="A"} 0'


def _samples(text: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_run_metrics_from_records_and_fault_events() -> None:
    m = RunMetrics("demo", ["A", "B"], run_id="r1")
    # q1: first attempt on a1 fails (503) after 0.3 s of lag; the fallback to a2 answers, TTFT 0.4 s
    m.add(make_record(t_intended=1.0, t_dispatch=1.3, t_end=1.5, outcome="error", status=503,
                      error_class="server_error", is_final_attempt=False))  # fmt: skip
    m.add(make_record(attempt=2, endpoint="a2", t_intended=1.0, t_dispatch=1.6, t_first_token=2.0, t_end=3.5))
    # q2 of B: never sent before the run ended: counted, not timed
    m.add(
        make_record(contender="B", request_id="q2", outcome="error", error_class="run_ended", t_intended=9.0)
    )
    m.faults_planned([("f1-outage", "a1")])
    planned = _samples(m.render())
    m.fault(make_fault_event(fault_id="f1-outage", target="a1", action="apply"))
    applied = _samples(m.render())
    m.fault(make_fault_event(fault_id="f1-outage", target="a1", action="remove"))
    s = _samples(m.render())
    assert planned['bakeoff_fault_active{fault="f1-outage",target="a1"}'] == 0
    assert applied['bakeoff_fault_active{fault="f1-outage",target="a1"}'] == 1
    assert s['bakeoff_fault_active{fault="f1-outage",target="a1"}'] == 0
    assert s['bakeoff_run_info{run_id="r1",scenario="demo"}'] == 1
    assert (
        s['bakeoff_requests_total{contender="A",endpoint="a1",outcome="error",error_class="server_error"}']
        == 1
    )
    assert s['bakeoff_requests_total{contender="A",endpoint="a2",outcome="ok",error_class="none"}'] == 1
    assert (
        s['bakeoff_requests_total{contender="B",endpoint="a1",outcome="error",error_class="run_ended"}'] == 1
    )
    assert s['bakeoff_logical_requests_total{contender="A",outcome="ok"}'] == 1
    assert s['bakeoff_logical_requests_total{contender="B",outcome="error"}'] == 1
    # TTFT 2.0 - 1.6 = 0.4: in le=0.5, not le=0.3
    assert s['bakeoff_ttft_seconds_bucket{contender="A",le="0.3"}'] == 0
    assert s['bakeoff_ttft_seconds_bucket{contender="A",le="0.5"}'] == 1
    assert s['bakeoff_ttft_seconds_count{contender="A"}'] == 1
    # user latency: 3.5 - 1.0 = 2.5 s (in le=3, not le=2); lag of the first attempt 0.3 s (le=0.5, not 0.25)
    assert s['bakeoff_user_latency_seconds_bucket{contender="A",le="2"}'] == 0
    assert s['bakeoff_user_latency_seconds_bucket{contender="A",le="3"}'] == 1
    assert s['bakeoff_user_latency_seconds_sum{contender="A"}'] == pytest.approx(2.5)
    assert s['bakeoff_schedule_lag_seconds_bucket{contender="A",le="0.25"}'] == 0
    assert s['bakeoff_schedule_lag_seconds_bucket{contender="A",le="0.5"}'] == 1
    assert s['bakeoff_schedule_lag_seconds_count{contender="A"}'] == 1
    assert 'bakeoff_user_latency_seconds_count{contender="B"}' not in s
    assert s['bakeoff_in_flight{contender="A"}'] == 0
    m.in_flight = {"A": 4, "B": 1}.__getitem__
    assert _samples(m.render())['bakeoff_in_flight{contender="A"}'] == 4
