"""Text from outside the harness (answers, error details, request ids, model names) reaches the page
inert: every control, escape and bidi character shown as a visible escape, HTML escaped by the template."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from harness.analysis import write_synthetic_run
from harness.record import RECORDS_FILE
from harness.report import load_run, render_html
from harness.report._context import _excerpt, shown

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\u202eevil\x9b31m\r"
_RAW = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _page_without_plotly(html: str) -> str:
    """The page minus the inlined plotly.js bundle (third-party code, not text from a run)."""
    start = html.index("<script>/**\n* plotly.js")
    end = html.index("</script>", start)
    return html[:start] + html[end:]


def test_excerpt_makes_escapes_visible_and_keeps_newlines() -> None:
    out = _excerpt("line one\nline two " + HOSTILE)
    assert out is not None
    assert "\n" in out and not _RAW.search(out)
    assert "\\x1b]0;pwned\\x07" in out and "\\u202e" in out and "\\x9b" in out and "\\r" in out


def test_shown_escapes_keys_and_values_the_same_way() -> None:
    ctx = shown({"contenders": ["a\x1bb"], "run": {"a\x1bb": {"model": "m\u202e"}}, "n": 3, "x": None})
    (name,) = ctx["contenders"]
    assert ctx["run"][name] == {"model": "m\\u202e"}
    assert ctx["n"] == 3 and ctx["x"] is None


def test_page_shows_hostile_vendor_text_only_as_visible_escapes(tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path / "run", n_requests=80, payload="answer " + HOSTILE)
    records = pd.read_json(run_dir / RECORDS_FILE, lines=True)
    failed = records.index[records["outcome"] == "error"]
    records.loc[failed, "error_detail"] = "detail " + HOSTILE
    records.loc[failed, "vendor_request_id"] = "req " + HOSTILE
    records.to_json(run_dir / RECORDS_FILE, orient="records", lines=True)
    manifest_path = run_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for ep in manifest.get("endpoints", []):
        ep["model"] = "model " + HOSTILE
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")

    page = _page_without_plotly(render_html(load_run(run_dir)))
    assert not _RAW.search(page), _RAW.findall(page)
    for prefix in ("answer ", "detail ", "req ", "model "):
        assert prefix + "\\x1b]0;pwned\\x07\\x1b[2J\\u202eevil\\x9b31m" in page, prefix


def test_worst_requests_show_statuses_as_integers_and_none_without_an_answer(tmp_path: Path) -> None:
    """The per-request table holds HTTP statuses as floats (NaN: no answer); the page's table of worst
    requests shows 429, never 429.0, and nothing for a request that got no answer."""
    from harness.report._charts import build_figures
    from harness.report._context import build_context

    run_dir = write_synthetic_run(tmp_path / "run", n_requests=80)
    records = pd.read_json(run_dir / RECORDS_FILE, lines=True)
    failed = records.index[records["outcome"] == "error"]
    assert len(failed) >= 2
    records.loc[failed[0], ["status", "error_class"]] = [None, "connect_error"]
    records.to_json(run_dir / RECORDS_FILE, orient="records", lines=True)
    a = load_run(run_dir)
    assert a.logical["status"].dtype == float  # one number per request, not a Python object
    ctx = build_context(a, build_figures(a), scores_declared=False)
    rows = [r for w in ctx["worst"].values() for r in w["slowest"] + w["failed"]]
    statuses = [r["status"] for r in rows]
    assert None in statuses and 200 in statuses
    assert all(s is None or type(s) is int for s in statuses), statuses
