from __future__ import annotations

import json

import pandas as pd
import pytest

from harness.analysis import analyse, synthetic_run
from harness.report._charts import build_figures
from harness.report._render import _fmt, _safe_json


def test_figures_are_aggregated_not_one_point_per_request() -> None:
    df, ev, m = synthetic_run(20_000, rate=100.0, seed=2)
    figs = build_figures(analyse(df, ev, m))
    assert {
        "fig-timeline-0",
        "fig-timeline-1",
        "fig-cdf-user_ttft",
        "fig-errors",
        "fig-fallback",
        "fig-cost",
    } <= set(figs)
    for fid, fig in figs.items():
        for trace in fig["data"]:
            assert len(trace.get("x", [])) <= 310, fid
    assert len(json.dumps(figs)) < 400_000


def test_timeline_shades_faults_per_contender() -> None:
    df, ev, m = synthetic_run(400, seed=2)
    figs = build_figures(analyse(df, ev, m))
    alpha = figs["fig-timeline-0"]["layout"]
    colours = [s["fillcolor"] for s in alpha["shapes"]]
    assert "rgba(214,39,40,0.13)" in colours  # its own outage
    assert "rgba(128,128,128,0.10)" in colours  # beta's 429 storm, shown for comparison
    labels = [a["text"] for a in alpha["annotations"]]
    assert labels == ["f1-outage", "f2-429 (elsewhere)"]


def test_embedded_json_cannot_close_its_script_element() -> None:
    text = _safe_json({"name": "</script><script>alert(1)</script>", "amp": "a&b"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text)["name"] == "</script><script>alert(1)</script>"


def test_number_formats() -> None:
    assert _fmt(0.1234, "sec") == "123 ms" and _fmt(2.5, "sec") == "2.50 s"
    assert _fmt(0.05, "pct") == "5.0 %" and _fmt(float("nan"), "pct") == "—" and _fmt(None) == "—"
    assert _fmt(9.05e-05, "usd") == "$0.0000905" and _fmt(1817.16, "usd") == "$1,817.16"
    assert _fmt(1234567, "int") == "1,234,567"


def test_colours_are_distinct_colour_blind_safe_and_cost_is_in_dollars() -> None:
    """Issue 16 (11): two near-identical greys in the errors chart; a cost axis reading '600µ'."""
    from harness._vocab import ERROR_CLASSES
    from harness.report._charts import _COLORS, _ERR_STYLE

    okabe_ito = {"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000"}
    assert set(_COLORS) == okabe_ito
    assert set(_ERR_STYLE) == set(ERROR_CLASSES)
    styles = list(_ERR_STYLE.values())
    assert len(set(styles)) == len(styles)  # no two classes drawn alike
    assert {c for c, _ in styles} <= okabe_ito | {"#999999"}
    df, ev, m = synthetic_run(400, seed=2)
    figs = build_figures(analyse(df, ev, m))
    bars = [
        (t["marker"]["color"], t["marker"].get("pattern", {}).get("shape", ""))
        for t in figs["fig-errors"]["data"]
    ]
    assert len(set(bars)) == len(bars)
    y = figs["fig-cost"]["layout"]["yaxis"]
    assert y["tickprefix"] == "$" and "s" not in y["tickformat"]  # no SI prefixes (µ, m) on dollars
    assert all(f["layout"]["title"]["xanchor"] == "left" for f in figs.values())  # clear of the toolbar


def test_the_inlined_plotly_js_is_the_one_plotly_py_checks_against() -> None:
    """The figures are validated by plotly.py's schema and drawn by the vendored basic bundle: same major
    version of plotly.js, or a property valid for one could be ignored by the other."""
    from plotly.offline import get_plotlyjs_version

    from harness.report._render import plotly_version

    assert plotly_version().lstrip("v").split(".")[0] == get_plotlyjs_version().split(".")[0]


def test_a_figure_plotly_does_not_know_fails_loudly() -> None:
    import pytest

    from harness.report._charts import _checked

    good = {"data": [{"type": "bar", "x": [1], "y": [2]}], "layout": {"title": {"text": "t"}}}
    assert _checked("fig-ok", good) is good
    with pytest.raises(ValueError, match=r"chart fig-bad .*colour"):
        _checked("fig-bad", {"data": [{"type": "bar", "x": [1], "y": [2], "marker": {"colour": "red"}}]})


def test_a_stepped_load_draws_the_knee_and_the_slo_lines() -> None:
    from harness.report._context import build_context

    df, ev, m = synthetic_run(400, seed=2)
    m = m.with_manifest(
        load={"duration": 40.0, "stages": [{"duration": 20, "rate": 5}, {"duration": 20, "rate": 10}]}
    )
    a = analyse(df, ev, m)
    figs = build_figures(a)
    assert {"fig-capacity-load-0", "fig-capacity-latency-0", "fig-capacity-load-1"} <= set(figs)
    for i, c in enumerate(a.contenders):
        knee = a.capacity[c]
        load = figs[f"fig-capacity-load-{i}"]
        assert [t["name"] for t in load["data"]][-2:] == ["throughput", "goodput"]
        assert load["data"][2]["x"] == [5.0, 10.0]  # one point per step, by offered rate
        if knee["sustainable_rps"] is not None:  # the knee's dashed line sits at the sustainable rate
            lines = [s for s in load["layout"]["shapes"] if s["type"] == "line"]
            assert lines[0]["x0"] == knee["sustainable_rps"]
        slo_lines = [s for s in figs[f"fig-capacity-latency-{i}"]["layout"]["shapes"] if s.get("yref") == "y"]
        assert [s["y0"] for s in slo_lines] == [a.slo[k] for k in ("e2e", "ttft") if a.slo.get(k)]
        # their labels sit on the lines: a log axis places annotations in log10 units (1 s → 0)
        labels = [n for n in figs[f"fig-capacity-latency-{i}"]["layout"]["annotations"] if n["yref"] == "y"]
        assert [10 ** n["y"] for n in labels] == pytest.approx([s["y0"] for s in slo_lines])
    ctx = build_context(a, figs, scores_declared=False)
    assert ctx["capacity_verdict"] and "req/s" in ctx["capacity_verdict"]
    plain_run = analyse(*synthetic_run(200, seed=2))
    assert not any(k.startswith("fig-capacity") for k in build_figures(plain_run))


def test_summary_json_has_capacity_for_a_stepped_load_only() -> None:
    from harness.report._exports import summary

    df, ev, m = synthetic_run(400, seed=2)
    stepped = m.with_manifest(
        load={"duration": 40.0, "stages": [{"duration": 20, "rate": 5}, {"duration": 20, "rate": 10}]}
    )
    out = summary(analyse(df, ev, stepped))
    assert set(out["capacity"]) == {"alpha", "beta"}
    for knee in out["capacity"].values():
        assert {"sustainable_rps", "uncertainty_rps", "limit", "steps"} <= set(knee)
        assert [s["offered_rps"] for s in knee["steps"]] == [5.0, 10.0]
    json.dumps(out, allow_nan=False)  # NaN percentiles of empty steps become null
    assert "req/s" in out["capacity_verdict"]
    plain_load = summary(analyse(df, ev, m))
    assert "capacity" not in plain_load and "capacity_verdict" not in plain_load


def _server_rows() -> pd.DataFrame:
    rows = []
    for t in range(0, 40, 2):  # alpha-ep: queue during its outage (16-20 s); one failed scrape at 30 s
        if t == 30:
            rows.append([30.0, "alpha-ep", None, None, None, None, "timeout"])
            continue
        rows.append(
            [float(t), "alpha-ep", "vllm:num_requests_running", '{model_name="m"}', 4.0, "running", None]
        )
        rows.append(
            [
                float(t),
                "alpha-ep",
                "vllm:num_requests_waiting",
                '{model_name="m"}',
                5.0 if 16 <= t <= 20 else 0.0,
                "waiting",
                None,
            ]
        )
        rows.append(
            [float(t), "alpha-ep", "vllm:gpu_cache_usage_perc", '{model_name="m"}', 0.5, "kv_cache", None]
        )
    return pd.DataFrame(rows, columns=["t", "endpoint", "metric", "labels", "value", "series", "error"])


def test_server_metrics_chart_with_fault_bands_and_gaps() -> None:
    df, ev, m = synthetic_run(400, seed=2)
    a = analyse(df, ev, m, server_metrics=_server_rows())
    figs = build_figures(a)
    assert "fig-server-1" not in figs  # beta's endpoint was not scraped
    fig = figs["fig-server-0"]
    names = [tr["name"] for tr in fig["data"]]
    assert names == ["running requests", "waiting requests", "KV-cache use"]  # no GPU series: not drawn
    waiting = fig["data"][1]
    assert waiting["x"][8:11] == [16.0, 18.0, 20.0] and waiting["y"][8:11] == [5.0, 5.0, 5.0]
    assert waiting["x"][15] == 30.0 and waiting["y"][15] is None  # the failed scrape breaks the line
    assert fig["data"][2]["yaxis"] == "y2"
    # the same bands as the contender's timeline: its own outage red, beta's 429 storm grey
    assert fig["layout"]["shapes"] == figs["fig-timeline-0"]["layout"]["shapes"]
    assert a.server_summary["alpha"]["peak_waiting"] == 5.0
