"""The HTML report: one self-contained file (plotly.js inlined once, figures as JSON, nothing fetched)."""

from __future__ import annotations

import functools
import json
import math
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from harness._memory import return_freed_memory
from harness.analysis import ANALYSIS_COLUMNS, Analysis, analyse, load_declared
from harness.record import Manifest, open_records, read_fault_events, read_run
from harness.report._charts import build_figures
from harness.report._context import build_context
from harness.report._exports import write_exports

__all__ = ["REPORT_FILE", "load_run", "render_html", "write_report"]

REPORT_FILE = "report.html"


def _fmt(value: Any, kind: str = "num") -> str:
    """Numbers for people: 'sec' → ms/s, 'pct' → %, 'usd' → $ with enough digits, 'int', 'score'."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "—" if value is None else str(value)
    if not math.isfinite(value):
        return "—"
    if kind == "int":
        return f"{round(value):,}"
    if kind == "pct":
        return f"{100 * value:.1f} %"
    if kind == "sec":
        return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:.2f} s"
    if kind == "usd":
        if value == 0:
            return "$0"
        if abs(value) >= 100:
            return f"${value:,.2f}"
        digits = max(2, 2 - math.floor(math.log10(abs(value))))  # three significant digits, never 1e-05
        return f"${value:.{digits}f}"
    if kind == "score":
        return f"{value:.1f}"
    return f"{value:,.2f}" if abs(value) < 1e6 else f"{value:,.0f}"


@functools.cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    return env


_RAW_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


PLOTLY_FILE = "plotly-basic.min.js"
"""plotly.js's *basic* partial bundle (scatter, bar, pie; every axis, shape and annotation the charts use),
vendored from the npm package ``plotly.js-basic-dist-min`` with its licence (``vendor/LICENSE-plotly.js``):
1.2 MB instead of the full bundle's 4.8 MB, and no network or npm at install or report time."""


@functools.cache
def _plotly_js() -> str:
    """plotly.js for inlining: it cannot close its <script>, and the few raw control characters in its
    string literals are written as ``\\xNN`` escapes (the same string to JavaScript), so the page holds no raw
    control characters at all."""
    text = (resources.files("harness.report") / "vendor" / PLOTLY_FILE).read_text(encoding="utf-8")
    text = text.replace("</script", "<\\/script")
    return _RAW_CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def plotly_version() -> str:
    """The vendored plotly.js version, from its header comment ('v4.1.1')."""
    m = re.search(r"plotly\.js \(basic - minified\) (v[0-9.]+)", _plotly_js()[:200])
    return m.group(1) if m else "basic"


def _safe_json(data: Any) -> str:
    """JSON that cannot close the <script> element it sits in."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(a: Analysis, *, scores_declared: bool = False, run_dir: Path | None = None) -> str:
    """The report page as a string. ``run_dir``: the folder as the user named it, for the footer's
    regenerate command (default: ``reports/<run-id>``, where ``bakeoff run`` writes it)."""
    figures = build_figures(a)
    ctx = build_context(a, figures, scores_declared=scores_declared)
    path = Path(run_dir) if run_dir is not None else Path("reports") / str(a.meta.get("run_id", "RUN_DIR"))
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            **ctx,
            scores_declared=scores_declared,
            figures_json=_safe_json(figures),
            plotly_js=_plotly_js(),
            plotly_version=plotly_version(),
            regenerate_path=_shell_word(str(path)),
            regenerate_relative=not path.is_absolute(),
        )
    )


def _shell_word(text: str) -> str:
    """A path as one shell word (quoted only when it needs to be)."""
    import shlex

    return shlex.quote(text)


def load_run(
    run_dir: Path, *, scores_file: Path | None = None, slo_overrides: dict[str, float] | None = None
) -> Analysis:
    """Read a run folder and analyse it (compacting its records first if the run did not get to it)."""
    run = read_run(run_dir)
    declared = load_declared(scores_file) if scores_file is not None else None
    return_freed_memory()  # the analysis frees large arrays all along: keep the resident size to what is live
    return analyse(
        # each column read from records.parquet when the analysis asks for it: no frame of every record
        open_records(run_dir, ANALYSIS_COLUMNS),
        read_fault_events(run_dir),
        run,
        declared=declared,
        slo_overrides=slo_overrides,
        probes=_read_probes(run_dir, run.manifest),
        server_metrics=_read_server_metrics(run_dir),
    )


def _read_server_metrics(run_dir: Path) -> pd.DataFrame | None:
    """The rows of server_metrics.parquet, or None when the run scraped none (or the file is unreadable)."""
    from harness.servermetrics import SERVER_METRICS_FILE

    path = run_dir / SERVER_METRICS_FILE
    if not path.is_file():
        return None
    try:
        return pd.read_parquet(path)
    except Exception:  # a damaged file costs the server-metrics section, never the report
        return None


def _read_probes(run_dir: Path, manifest: Manifest) -> dict[str, dict[str, Any]] | None:
    """Probe scores per contender from ``probes.jsonl`` (written by ``harness.probes``), judged on each
    contender's primary endpoint: the vendor under evaluation. None when the run did no probes."""
    from harness.probes import probe_scores, read_probes

    results = read_probes(run_dir)
    if not results:
        return None
    by_endpoint = probe_scores(results)
    out: dict[str, dict[str, Any]] = {}
    for c in manifest.contenders:
        scores = by_endpoint.get(c.primary, {})
        out[c.name] = {
            crit: {"score": score, "detail": f"{c.primary}: {reason}"}
            for crit, (_layer, score, reason) in scores.items()
        }
    return out


def write_report(run_dir: Path, *, scores_file: Path | None = None) -> Path:
    """Analyse ``run_dir`` and write ``report.html``, ``summary.json`` and the CSV tables into it.

    >>> write_report(Path("reports/2026-01-01T00-00-00-demo"))
    PosixPath('reports/2026-01-01T00-00-00-demo/report.html')
    """
    run_dir = Path(run_dir)
    a = load_run(run_dir, scores_file=scores_file)
    html = render_html(a, scores_declared=scores_file is not None, run_dir=run_dir)
    write_exports(a, run_dir)
    out = run_dir / REPORT_FILE
    tmp = run_dir / (REPORT_FILE + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, out)
    return out
