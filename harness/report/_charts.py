"""Plotly figures as plain dicts (data + layout), aggregated so the page stays small for any run size.

Timelines are bucketed (at most ~300 buckets), CDFs are 200 quantile points: never one point per request.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import Analysis
from harness.analysis._rows import column_at
from harness.record import ErrorClass
from harness.report._rows import contender_rows

__all__ = ["build_figures"]

# Okabe & Ito's colour-blind-safe palette (blue, orange, bluish green, reddish purple, vermillion, sky blue,
# yellow, black): every hue stays distinct under the common colour-vision deficiencies.
_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000")
# One colour per error class, from the same palette; classes that share a hue are told apart by hatching.
_ERR_STYLE: dict[ErrorClass, tuple[str, str]] = {
    "http_429": ("#E69F00", ""),
    "overloaded": ("#D55E00", ""),
    "http_5xx": ("#CC79A7", ""),
    "http_4xx": ("#F0E442", ""),
    "connect_refused": ("#000000", ""),
    "connect_timeout": ("#56B4E9", ""),
    "read_timeout": ("#0072B2", ""),
    "conn_reset": ("#009E73", ""),
    "conn_closed_early": ("#009E73", "/"),
    "stream_truncated": ("#CC79A7", "/"),
    "stream_error_event": ("#D55E00", "/"),
    "malformed_response": ("#E69F00", "/"),
    "deadline_exceeded": ("#999999", ""),
    "client_error": ("#0072B2", "x"),
    "response_too_large": ("#56B4E9", "/"),
    "unrequested_encoding": ("#F0E442", "/"),
    "run_ended": ("#999999", "/"),
    "not_sent": ("#999999", "x"),
}
_FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif", "size": 12}
_CDF_P = np.concatenate([np.linspace(0.0, 0.99, 199), [0.995, 0.999, 1.0]])


def _t(text: Any) -> str:
    """Text for plotly, which reads a few HTML-like tags in labels: entities keep it literal."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _layout(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "font": _FONT,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 45},
        "height": 340,
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "hovermode": "closest",
        "legend": {"orientation": "h", "y": -0.2},
    }
    base.update(kw)
    return base


def _clean(values: Any) -> list[float | None]:
    return [None if not math.isfinite(float(v)) else round(float(v), 6) for v in values]


def _axis(title: str, **kw: Any) -> dict[str, Any]:
    return {"title": {"text": title}, "gridcolor": "#eee", "zeroline": False, **kw}


def _targeted(a: Analysis, c: str) -> set[str]:
    fi = a.fault_impact
    if fi.empty:
        return set()
    sel = (fi["contender"] == c).to_numpy() & fi["affected"].to_numpy(dtype=bool)
    return set(map(str, fi.loc[sel, "fault_id"]))


def _fault_shapes(a: Analysis, c: str) -> list[dict[str, Any]]:
    """Red bands for faults that hit this contender's endpoints, grey for the others; orange recovery."""
    mine = _targeted(a, c)
    shapes: list[dict[str, Any]] = []
    for w in a.faults:
        if not w.applied:
            continue
        fill = "rgba(214,39,40,0.13)" if w.fault_id in mine else "rgba(128,128,128,0.10)"
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": w.start,
                "x1": w.end,
                "y0": 0,
                "y1": 1,
                "fillcolor": fill,
                "line": {"width": 0},
                "layer": "below",
            }
        )
        if w.recovery_end > w.end and w.fault_id in mine:
            shapes.append(
                {
                    "type": "rect",
                    "xref": "x",
                    "yref": "paper",
                    "x0": w.end,
                    "x1": w.recovery_end,
                    "y0": 0,
                    "y1": 1,
                    "fillcolor": "rgba(255,127,14,0.08)",
                    "line": {"width": 0},
                    "layer": "below",
                }
            )
    return shapes


def _fault_labels(a: Analysis, c: str) -> list[dict[str, Any]]:
    mine = _targeted(a, c)
    return [
        {
            "x": (w.start + w.end) / 2,
            "y": 1.0,
            "xref": "x",
            "yref": "paper",
            "yanchor": "bottom",
            "text": _t(w.fault_id if w.fault_id in mine else f"{w.fault_id} (elsewhere)"),
            "showarrow": False,
            "font": {"size": 10, "color": "#a00" if w.fault_id in mine else "#777"},
        }
        for w in a.faults
        if w.applied
    ]


def _timeline(a: Analysis, c: str) -> dict[str, Any]:
    lg = a.logical
    mine = contender_rows(lg)[c]
    w = a.window
    width = max(1.0, math.ceil(w.length / 300.0)) if w.length > 0 else 1.0
    t = column_at(lg, "t_intended", mine, float)
    b = np.floor((t - w.start) / width).astype(int)
    nb = max(math.ceil(w.length / width), 1)
    b = np.clip(b, 0, nb - 1)
    ok = column_at(lg, "ok", mine, bool)
    x = w.start + (np.arange(nb) + 0.5) * width
    rps = np.bincount(b, minlength=nb) / width
    errs = np.bincount(b, weights=(~ok).astype(float), minlength=nb) / width
    goodps = np.bincount(b, weights=column_at(lg, "good", mine, float), minlength=nb) / width
    p95 = np.full(nb, np.nan)
    uttft = column_at(lg, "user_ttft", mine, float)
    sel = ok & np.isfinite(uttft)
    if sel.any():
        s = pd.Series(uttft[sel]).groupby(b[sel]).quantile(0.95)
        p95[s.index.to_numpy()] = s.to_numpy()
    xs = _clean(x)
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": "requests/s",
            "x": xs,
            "y": _clean(rps),
            "yaxis": "y3",
            "line": {"color": "#0072B2", "width": 1.5},
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": "good/s",
            "x": xs,
            "y": _clean(goodps),
            "yaxis": "y3",
            "line": {"color": "#009E73", "width": 1, "dash": "dot"},
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": "p95 user TTFT (s)",
            "x": xs,
            "y": _clean(p95),
            "yaxis": "y2",
            "line": {"color": "#CC79A7", "width": 1.5},
            "connectgaps": False,
        },
        {
            "type": "bar",
            "name": "errors/s",
            "x": xs,
            "y": _clean(errs),
            "yaxis": "y",
            "marker": {"color": "#D55E00"},
            "width": width,
        },
    ]
    layout = _layout(
        title=_title(f"{_t(c)}: timeline (buckets of {width:g} s by intended start)"),
        height=420,
        shapes=_fault_shapes(a, c),
        annotations=_fault_labels(a, c),
        showlegend=True,
        xaxis=_axis("run time (s)", range=[w.start, w.end], anchor="y"),
        yaxis=_axis("errors/s", domain=[0.0, 0.26], rangemode="tozero"),
        yaxis2=_axis("p95 TTFT (s)", domain=[0.34, 0.62], rangemode="tozero"),
        yaxis3=_axis("req/s", domain=[0.70, 1.0], rangemode="tozero"),
        bargap=0,
    )
    return {"data": data, "layout": layout}


_SERVER_SERIES = (
    # (series, label, axis, colour, dash)
    ("running", "running requests", "y", "#0072B2", "solid"),
    ("waiting", "waiting requests", "y", "#D55E00", "solid"),
    ("kv_cache", "KV-cache use", "y2", "#009E73", "dot"),
    ("gpu_util", "GPU utilisation", "y2", "#CC79A7", "dash"),
)


def _server(a: Analysis, c: str, endpoint: str) -> dict[str, Any] | None:
    """The vendor's own metrics for ``c``'s primary endpoint on the run clock, fault windows shaded;
    None when it has none of the key series. A failed scrape is a gap in every line."""
    s = a.server.loc[a.server["contender"] == c]
    if s.empty:
        return None
    w = a.window
    s = s.loc[(s["t"] >= w.start) & (s["t"] <= w.end)]
    wide = s.pivot_table(index="t", columns="series", values="value", aggfunc="first").sort_index()
    gaps = a.server_gaps.get(c, [])
    if gaps:  # a failed scrape: a row of NaN at its time, so every line breaks there
        wide = pd.concat([wide, pd.DataFrame(index=pd.Index(gaps, name="t"))]).sort_index()
    step = max(1, math.ceil(len(wide) / 600))  # at most ~600 points per line
    wide = wide.iloc[::step]
    xs = _clean(wide.index.to_numpy(dtype=float))
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": label,
            "x": xs,
            "y": _clean(wide[name].to_numpy(dtype=float)),
            "yaxis": axis,
            "line": {"color": color, "width": 1.5, "dash": dash, "shape": "hv"},
            "connectgaps": False,
        }
        for name, label, axis, color, dash in _SERVER_SERIES
        if name in wide.columns
    ]
    if not data:
        return None
    layout = _layout(
        title=_title(f"{_t(c)}: server metrics of {_t(endpoint)} (scraped)"),
        shapes=_fault_shapes(a, c),
        annotations=_fault_labels(a, c),
        showlegend=True,
        xaxis=_axis("run time (s)", range=[w.start, w.end]),
        yaxis=_axis("requests", rangemode="tozero"),
        yaxis2=_axis(
            "KV cache, GPU", overlaying="y", side="right", range=[0, 1.05], showgrid=False, tickformat=".0%"
        ),
        margin={"l": 60, "r": 70, "t": 40, "b": 45},
    )
    return {"data": data, "layout": layout}


_CDF_METRICS = (
    ("user_ttft", "user TTFT (s)"),
    ("user_latency", "user latency (s)"),
    ("tpot", "TPOT (s/token)"),
    ("schedule_lag", "schedule lag (s)"),
)


def quantiles_of_sorted(s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``np.quantile(s, q)`` (its default, linear method) for a sorted, non-empty 1-D float array, bit for
    bit: numpy's own index, weight and interpolation arithmetic, read straight from the sorted values
    instead of partitioning a copy around every index again. Sorting once is several times faster than
    numpy's partition around the ~400 indices 200 quantiles need."""
    n = s.shape[0]
    virtual = (n - 1) * q
    prev = np.floor(virtual)
    nxt = prev + 1
    above = virtual >= n - 1  # numpy takes the last value (index -1) there, and the first below 0
    prev[above] = -1
    nxt[above] = -1
    below = virtual < 0
    prev[below] = 0
    nxt[below] = 0
    prev_i = prev.astype(np.intp)
    next_i = nxt.astype(np.intp)
    gamma = np.asanyarray(virtual - prev_i, dtype=virtual.dtype)
    a, b = s[prev_i], s[next_i]
    diff_b_a = b - a
    out = np.add(a, diff_b_a * gamma)
    np.subtract(b, diff_b_a * (1 - gamma), out=out, where=gamma >= 0.5, casting="unsafe", dtype=out.dtype)
    return np.asarray(out)


def _cdf(a: Analysis, metric: str, title: str) -> dict[str, Any] | None:
    data: list[dict[str, Any]] = []
    lg = a.logical
    rows = contender_rows(lg)
    for i, c in enumerate(a.contenders):
        mine = rows.get(c)
        if mine is None:
            continue
        vals = column_at(lg, metric, mine, float)
        keep = np.isfinite(vals)
        if metric != "schedule_lag":
            keep &= column_at(lg, "ok", mine, bool)
        vals = vals[keep]
        if not vals.size:
            continue
        vals.sort()
        q = quantiles_of_sorted(vals, _CDF_P)
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": _t(c),
                "x": _clean(q),
                "y": _clean(_CDF_P),
                "line": {"color": _COLORS[i % len(_COLORS)], "width": 2, "shape": "hv"},
            }
        )
    if not data:
        return None
    return {
        "data": data,
        "layout": _layout(
            title=_title(f"CDF of {title}"),
            xaxis=_axis(title, type="linear" if metric == "schedule_lag" else "log"),
            yaxis=_axis("fraction ≤ x", range=[0, 1.01]),
        ),
    }


def _turns(a: Analysis) -> dict[str, Any] | None:
    """TTFT p50 (solid) and p95 (dotted) by turn index of multi-turn sessions, one colour per contender."""
    data: list[dict[str, Any]] = []
    for i, c in enumerate(a.contenders):
        rows = a.turns.loc[a.turns["contender"] == c]
        if rows.empty:
            continue
        x = [int(k) for k in rows["turn"]]
        for col, dash, label in (("ttft_p50", "solid", "p50"), ("ttft_p95", "dot", "p95")):
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": _t(f"{c} {label}"),
                    "x": x,
                    "y": _clean(rows[col].to_numpy(dtype=float)),
                    "line": {"color": _COLORS[i % len(_COLORS)], "width": 2, "dash": dash},
                }
            )
    if not data:
        return None
    return {
        "data": data,
        "layout": _layout(
            title=_title("TTFT by turn of the session"),
            xaxis=_axis("turn", dtick=1),
            yaxis=_axis("TTFT (s)", rangemode="tozero"),
        ),
    }


def _err_marker(cls: str) -> dict[str, Any]:
    color, hatch = _ERR_STYLE.get(cls, ("#999999", "."))  # type: ignore[call-overload]
    marker: dict[str, Any] = {"color": color, "line": {"color": "white", "width": 0.5}}
    if hatch:
        marker["pattern"] = {"shape": hatch, "fillmode": "overlay", "fgcolor": "white", "solidity": 0.35}
    return marker


def _title(text: str) -> dict[str, Any]:
    """A chart title on the left: the chart's toolbar (shown on hover) sits on the right."""
    return {"text": text, "font": {"size": 13}, "x": 0.0, "xref": "paper", "xanchor": "left"}


def _errors(a: Analysis) -> dict[str, Any] | None:
    e = a.errors
    if e.empty:
        return None
    phases = a.phase_groups or list(a.phases)
    cats = [(c, p) for c in a.contenders for p in phases]
    labels = [_t(f"{c} · {p}") for c, p in cats]
    data = []
    for cls in sorted(e["error_class"].astype(str).unique()):
        sub = e.loc[e["error_class"].astype(str) == cls]
        m = {(r["contender"], r["phase"]): int(r["attempts"]) for r in sub.to_dict("records")}
        data.append(
            {
                "type": "bar",
                "name": _t(cls),
                "x": labels,
                "y": [m.get(k, 0) for k in cats],
                "marker": _err_marker(cls),
            }
        )
    return {
        "data": data,
        "layout": _layout(
            title=_title("Failed attempts by error class and phase"),
            barmode="stack",
            height=400,
            legend={"orientation": "v", "x": 1.02, "y": 1.0},
            xaxis=_axis("", tickangle=-30, automargin=True),
            yaxis=_axis("failed attempts"),
        ),
    }


def _fallback(a: Analysis) -> dict[str, Any] | None:
    r = a.requests
    if r.empty:
        return None
    ph = r.loc[r["scope"] == "phase"]
    phases = a.phase_groups or list(a.phases)
    data = []
    for i, c in enumerate(a.contenders):
        sub = ph.loc[ph["contender"] == c].set_index("group")
        data.append(
            {
                "type": "bar",
                "name": _t(f"{c} fallback rate"),
                "x": [_t(p) for p in phases],
                "y": _clean([sub["fallback_rate"].get(p, np.nan) for p in phases]),
                "marker": {"color": _COLORS[i % len(_COLORS)]},
            }
        )
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": _t(f"{c} error rate"),
                "x": [_t(p) for p in phases],
                "y": _clean([sub["error_rate"].get(p, np.nan) for p in phases]),
                "marker": {"color": _COLORS[i % len(_COLORS)], "symbol": "x", "size": 11},
            }
        )
    return {
        "data": data,
        "layout": _layout(
            title=_title("Fallback rate (bars) and error rate (×) by phase"),
            barmode="group",
            yaxis=_axis("share of requests", tickformat=".0%", rangemode="tozero"),
            xaxis=_axis("phase", automargin=True),
        ),
    }


def _cost_latency(a: Analysis) -> dict[str, Any] | None:
    rows = a.run_rows()
    data = []
    for i, c in enumerate(a.contenders):
        r = rows.get(c)
        if not r:
            continue
        x, y = r.get("user_latency_p95", math.nan), r.get("cost_per_good_request", math.nan)
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        data.append(
            {
                "type": "scatter",
                "mode": "markers+text",
                "name": _t(c),
                "x": [round(x, 6)],
                "y": [y],
                "text": [_t(c)],
                "textposition": "top center",
                "hovertemplate": "%{text}<br>p95 user latency %{x:.3f} s<br>$%{y:.6f} per good request"
                "<extra></extra>",
                "marker": {"size": 16, "color": _COLORS[i % len(_COLORS)]},
            }
        )
    if not data:
        return None
    return {
        "data": data,
        "layout": _layout(
            title=_title("Cost per good request vs p95 user latency (lower left is better)"),
            xaxis=_axis("p95 user latency (s)", rangemode="tozero"),
            yaxis=_axis(
                "per good request", rangemode="tozero", tickprefix="$", tickformat=",.2~r", automargin=True
            ),
            showlegend=False,
        ),
    }


def _knee_marks(knee: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A band over the knee's uncertainty and a dashed line at the sustainable rate (shapes, annotations)."""
    r, u = knee.get("sustainable_rps"), knee.get("uncertainty_rps")
    if knee.get("limit") in (None, "harness") or not isinstance(r, int | float) or not math.isfinite(r):
        return [], []
    shapes: list[dict[str, Any]] = []
    if isinstance(u, int | float) and math.isfinite(u) and u > 0:
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": r - u,
                "x1": r + u,
                "y0": 0,
                "y1": 1,
                "fillcolor": "rgba(0,114,178,0.10)",
                "line": {"width": 0},
                "layer": "below",
            }
        )
    shapes.append(
        {
            "type": "line",
            "xref": "x",
            "yref": "paper",
            "x0": r,
            "x1": r,
            "y0": 0,
            "y1": 1,
            "line": {"color": "#0072B2", "width": 1.5, "dash": "dash"},
        }
    )
    label = f"at least {r:.2f} req/s" if knee.get("limit") == "not_reached" else f"knee {r:.2f} req/s"
    notes = [
        {
            "x": r,
            "y": 1.0,
            "xref": "x",
            "yref": "paper",
            "yanchor": "bottom",
            "text": _t(label),
            "showarrow": False,
            "font": {"size": 10, "color": "#0072B2"},
        }
    ]
    return shapes, notes


def _step_xy(steps: list[dict[str, Any]], x: str, y: str) -> tuple[list[float | None], list[float | None]]:
    rows = [s for s in steps if not s.get("ramp")]
    return _clean([s.get(x) if s.get(x) is not None else math.nan for s in rows]), _clean(
        [s.get(y) if s.get(y) is not None else math.nan for s in rows]
    )


def _capacity_figure(
    data: list[dict[str, Any]],
    title: str,
    shapes: list[dict[str, Any]],
    notes: list[dict[str, Any]],
    **axes: Any,
) -> dict[str, Any]:
    """A capacity chart: its traces, the knee's marks, the legend under the plot."""
    return {
        "data": data,
        "layout": _layout(
            title=_title(title),
            height=380,
            margin={"l": 60, "r": 20, "t": 40, "b": 60},
            legend={"orientation": "h", "y": -0.3},
            shapes=shapes,
            annotations=notes,
            **axes,
        ),
    }


def _capacity_load(a: Analysis, c: str, knee: dict[str, Any]) -> dict[str, Any]:
    """Throughput and goodput against offered load, the line a contender meeting every request sits on,
    the good-fraction SLO's line, and the knee."""
    steps = knee.get("steps") or []
    ox, thr = _step_xy(steps, "offered_rps", "throughput_rps")
    _, gp = _step_xy(steps, "offered_rps", "goodput_rps")
    passed = [s.get("passed") for s in steps if not s.get("ramp")]
    top = max([v for v in ox if v is not None] or [1.0])
    min_good = a.slo.get("min_good_fraction") or 0.0
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": "offered",
            "x": [0, top],
            "y": [0, top],
            "line": {"color": "#999999", "width": 1, "dash": "dot"},
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": _t(f"SLO: good ≥ {100 * min_good:g} % of offered"),
            "x": [0, top],
            "y": [0, top * min_good],
            "line": {"color": "#D55E00", "width": 1, "dash": "dash"},
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "throughput",
            "x": ox,
            "y": thr,
            "line": {"color": "#0072B2", "width": 2},
            "marker": {"size": 7},
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "goodput",
            "x": ox,
            "y": gp,
            "line": {"color": "#009E73", "width": 2},
            "marker": {
                "size": 9,
                "symbol": ["circle" if p else "x" for p in passed],
            },
            "hovertemplate": "offered %{x:.2f} req/s<br>goodput %{y:.2f} req/s<extra></extra>",
        },
    ]
    shapes, notes = _knee_marks(knee)
    return _capacity_figure(
        data,
        f"{_t(c)}: goodput vs offered load",
        shapes,
        notes,
        xaxis=_axis("offered load (req/s)", rangemode="tozero"),
        yaxis=_axis("completed (req/s)", rangemode="tozero"),
    )


def _capacity_latency(a: Analysis, c: str, knee: dict[str, Any]) -> dict[str, Any]:
    """p95 user latency and TTFT per step against the throughput achieved, with the SLO lines and the
    knee (below it, throughput is the offered rate)."""
    steps = knee.get("steps") or []
    data: list[dict[str, Any]] = []
    for key, label, color in (
        ("user_latency_p95", "p95 user latency", "#CC79A7"),
        ("user_ttft_p95", "p95 user TTFT", "#E69F00"),
    ):
        x, y = _step_xy(steps, "throughput_rps", key)
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": label,
                "x": x,
                "y": y,
                "line": {"color": color, "width": 2},
                "marker": {"size": 7},
            }
        )
    shapes, notes = _knee_marks(knee)
    for slo_key, label, color in (("e2e", "SLO e2e", "#CC79A7"), ("ttft", "SLO TTFT", "#E69F00")):
        v = a.slo.get(slo_key)
        if v:
            shapes.append(
                {
                    "type": "line",
                    "xref": "paper",
                    "yref": "y",
                    "x0": 0,
                    "x1": 1,
                    "y0": v,
                    "y1": v,
                    "line": {"color": color, "width": 1, "dash": "dot"},
                }
            )
            notes.append(
                {
                    "x": 0.0,
                    "y": math.log10(v),  # annotations on a log axis are placed in log10 units
                    "xref": "paper",
                    "yref": "y",
                    "xanchor": "left",
                    "yanchor": "bottom",
                    "text": _t(f"{label} {v:g} s"),
                    "showarrow": False,
                    "font": {"size": 10, "color": color},
                }
            )
    return _capacity_figure(
        data,
        f"{_t(c)}: latency vs throughput",
        shapes,
        notes,
        xaxis=_axis("throughput (req/s)", rangemode="tozero"),
        yaxis=_axis("seconds", type="log"),
    )


def build_figures(a: Analysis) -> dict[str, dict[str, Any]]:
    """Figure id → {data, layout}. Every id is a div in the template."""
    figs: dict[str, dict[str, Any]] = {}
    if a.logical.empty:
        return figs
    rows = contender_rows(a.logical)
    for i, c in enumerate(a.contenders):
        if c in rows:
            figs[f"fig-timeline-{i}"] = _timeline(a, c)
    for i, c in enumerate(a.contenders):
        ep = a.server_summary.get(c, {}).get("endpoint")
        fig = _server(a, c, str(ep)) if ep else None
        if fig:
            figs[f"fig-server-{i}"] = fig
    for i, c in enumerate(a.contenders):
        knee = a.capacity.get(c)
        if knee and knee.get("steps"):
            figs[f"fig-capacity-load-{i}"] = _capacity_load(a, c, knee)
            figs[f"fig-capacity-latency-{i}"] = _capacity_latency(a, c, knee)
    for metric, title in _CDF_METRICS:
        fig = _cdf(a, metric, title)
        if fig:
            figs[f"fig-cdf-{metric}"] = fig
    for key, fig_or_none in (
        ("fig-errors", _errors(a)),
        ("fig-fallback", _fallback(a)),
        ("fig-cost", _cost_latency(a)),
        ("fig-turns", _turns(a)),
    ):
        if fig_or_none:
            figs[key] = fig_or_none
    return {key: _checked(key, fig) for key, fig in figs.items()}


def _checked(key: str, fig: dict[str, Any]) -> dict[str, Any]:
    """``fig`` after plotly.py checked it against plotly's own schema: a misspelt or misplaced property
    fails here, naming it, instead of being silently ignored by plotly.js in the reader's browser."""
    import plotly.graph_objects as go

    try:
        go.Figure(fig)
    except ValueError as exc:
        raise ValueError(f"chart {key} is not a valid plotly figure: {exc}") from None
    return fig
