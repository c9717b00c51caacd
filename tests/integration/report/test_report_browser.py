"""The report opened in headless Chromium: no console errors, no network, every chart drawn, text escaped."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from report_cdp import CHROMIUM, Page, open_page
from report_truth import ROWS, expected_numbers, shown_seconds

from harness.analysis import write_synthetic_run
from harness.record import RECORDS_FILE
from harness.report import write_report

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} not installed (apt-get install chromium)"
    ),
]

PAYLOAD = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'

_DRAWN = """(() => {
  const plots = [...document.querySelectorAll('div.plot')];
  return plots.length > 0 && plots.every(d => d.classList.contains('js-plotly-plot')
      && d.querySelector('svg.main-svg') && d.querySelectorAll('g.trace').length > 0);
})()"""


def _problems(page: Page, url: str) -> dict[str, list[Any]]:
    ev = page.events
    return {
        "console": [
            e["params"]
            for e in ev
            if e["method"] == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "assert")
        ],
        "exceptions": [e["params"] for e in ev if e["method"] == "Runtime.exceptionThrown"],
        "log": [
            e["params"]["entry"]
            for e in ev
            if e["method"] == "Log.entryAdded" and e["params"]["entry"].get("level") == "error"
        ],
        "network": [
            e["params"]["request"]["url"]
            for e in ev
            if e["method"] == "Network.requestWillBeSent" and e["params"]["request"]["url"] != url
        ],
    }


def test_report_renders_offline_with_every_chart_and_escaped_text(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path / "run", n_requests=400, payload=PAYLOAD)
    report = write_report(run)
    url = report.resolve().as_uri()
    with open_page(url) as page:
        assert page.wait_for(_DRAWN, timeout=60)
        n_plots = page.evaluate("document.querySelectorAll('div.plot').length")
        assert n_plots >= 8  # 2 timelines, 4 CDFs, errors, fallback, cost
        # fault windows shaded (alpha: its outage + recovery in red/orange, beta's 429 storm in grey)
        assert page.wait_for("document.querySelectorAll('#fig-timeline-0 .shapelayer path').length >= 3")
        ranking = page.evaluate(
            "[...document.querySelectorAll('#ranking td strong')].map(e => e.textContent)"
        )
        assert set(ranking) >= {"alpha", "beta"}
        assert page.evaluate("document.querySelectorAll('#ranking .pass, #ranking .fail').length") == 2
        risks = page.evaluate("document.getElementById('risks').innerText")
        assert "alpha lost" in risks and "outage" in risks
        assert page.evaluate("typeof window.__pwned") == "undefined"
        cells = page.evaluate("[...document.querySelectorAll('td.txt')].map(e => e.textContent)")
        assert any("<script>window.__pwned = 1</script>" in c for c in cells)
        assert page.evaluate("document.querySelectorAll('td.txt script, td.txt img').length") == 0
        page.pump(0.5)
        pdf = page.call("Page.printToPDF", {"printBackground": False}, timeout=120)
        assert base64.b64decode(pdf["data"])[:4] == b"%PDF"
        problems = _problems(page, url)
    assert problems == {"console": [], "exceptions": [], "log": [], "network": []}


def test_empty_run_report_opens_cleanly(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path / "empty", n_requests=20)
    (run / RECORDS_FILE).write_text("", encoding="utf-8")
    url = write_report(run).resolve().as_uri()
    with open_page(url) as page:
        assert "No requests completed" in page.wait_for("document.getElementById('no-records').innerText")
        page.pump(0.5)
        problems = _problems(page, url)
    assert problems == {"console": [], "exceptions": [], "log": [], "network": []}


_RANKING_FITS = """(() => {
  const table = document.getElementById('ranking');
  const width = document.documentElement.clientWidth;
  const cells = [...table.querySelectorAll('th, td')];
  const right = Math.max(...cells.map(c => c.getBoundingClientRect().right));
  const box = table.parentElement.getBoundingClientRect();
  return {width, right, tableRight: table.getBoundingClientRect().right, boxRight: box.right,
          heads: [...table.querySelectorAll('th')].map(h => h.innerText.trim()),
          docScroll: document.documentElement.scrollWidth};
})()"""

_TITLES_CLEAR = """(() => {
  const out = [];
  for (const d of document.querySelectorAll('div.plot')) {
    const t = d.querySelector('.gtitle'), m = d.querySelector('.modebar');
    if (!t || !m) { out.push([d.id, !!t, !!m]); continue; }
    const a = t.getBoundingClientRect(), b = m.getBoundingClientRect();
    const overlap = a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
    if (overlap) out.push([d.id, 'overlap']);
  }
  return out;
})()"""


def test_report_at_800px_keeps_every_verdict_column_and_charts_clear(tmp_path: Path) -> None:
    """Issue 16 (11): the verdict table fits 800 px, chart toolbars never cover titles, cost in dollars,
    the verdict opens with its sentence and the SLO thresholds."""
    run = write_synthetic_run(tmp_path / "run", n_requests=400)
    report = write_report(run)
    url = report.resolve().as_uri()
    with open_page(url, width=800, height=900) as page:
        assert page.wait_for(_DRAWN, timeout=60)
        fit = page.evaluate(_RANKING_FITS)
        assert fit["heads"][-2:] == ["per good request", "monthly cost (1,000,000 req)"]
        assert fit["right"] <= fit["width"] and fit["docScroll"] <= fit["width"], fit
        headline = page.evaluate("document.getElementById('headline').innerText")
        assert headline.startswith("Choose beta") and "TTFT ≤ 1 s" in headline and "≥ 90.0 %" in headline
        assert "SLOs: TTFT ≤ 1 s" in page.evaluate("document.getElementById('slo-line').innerText")
        assert page.evaluate(_TITLES_CLEAR) == []
        # the toolbar is invisible until the pointer is over a chart
        opacity = page.evaluate(
            "getComputedStyle(document.querySelector('#fig-cost .modebar-container')).opacity"
        )
        assert opacity == "0"
        ticks = page.evaluate(
            "[...document.querySelectorAll('#fig-cost .ytick text')].map(t => t.textContent)"
        )
        assert ticks and all(t.startswith("$") for t in ticks), ticks
        assert not any("µ" in t for t in ticks)
        page.pump(0.5)
        problems = _problems(page, url)
    assert problems == {"console": [], "exceptions": [], "log": [], "network": []}


_METRIC_ROWS = """(() => {
  const table = document.querySelectorAll('#metrics table')[1];
  return [...table.querySelectorAll('tr')].map(r => [...r.children].map(c => c.innerText.trim()));
})()"""


def test_a_real_runs_report_as_a_person_sees_it(real_run: Path) -> None:
    """A real run's report (tests/conftest.py), not synthetic data: it draws every chart without an error
    or a request, and the side-by-side numbers a reader sees are the ones computed from its records."""
    expected = expected_numbers(real_run)
    url = (real_run / "report.html").resolve().as_uri()
    with open_page(url) as page:
        assert page.wait_for(_DRAWN, timeout=60)
        rows = {r[0]: r[1:] for r in page.evaluate(_METRIC_ROWS) if r}
        page.pump(0.5)
        problems = _problems(page, url)
    assert problems == {"console": [], "exceptions": [], "log": [], "network": []}
    header = rows["metric"]
    assert header == sorted(expected)
    for label, key in ROWS.items():
        for contender, cell in zip(header, rows[label], strict=True):
            shown, half_digit = shown_seconds(cell)
            assert abs(shown - expected[contender][key]) <= half_digit, (label, contender, cell)


def test_capacity_section_draws_its_charts_and_fits_800px(tmp_path: Path) -> None:
    from harness.record import MANIFEST_FILE, read_run, write_manifest

    run = write_synthetic_run(tmp_path / "run", n_requests=400)
    manifest = read_run(run).manifest
    stepped = manifest.model_copy(
        update={
            "load": manifest.load.model_validate(
                {"duration": 40.0, "stages": [{"duration": 20, "rate": 5}, {"duration": 20, "rate": 10}]}
            )
        }
    )
    (run / MANIFEST_FILE).unlink()  # written once per run: this one is rewritten as a stepped load's
    write_manifest(run, stepped)
    report = write_report(run)
    url = report.resolve().as_uri()
    with open_page(url, width=800, height=900) as page:
        assert page.wait_for(_DRAWN, timeout=60)
        drawn = page.evaluate("[...document.querySelectorAll('#capacity div.js-plotly-plot')].map(d => d.id)")
        assert "fig-capacity-load-0" in drawn and "fig-capacity-latency-1" in drawn
        assert "req/s" in page.evaluate("document.getElementById('capacity-verdict').innerText")
        width = page.evaluate("document.documentElement.clientWidth")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert page.evaluate(_TITLES_CLEAR) == []
        page.pump(0.5)
        problems = _problems(page, url)
    assert problems == {"console": [], "exceptions": [], "log": [], "network": []}
