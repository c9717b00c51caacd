"""The report opened in headless Chromium: no console errors, no network, every chart drawn, text escaped."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from report_cdp import CHROMIUM, Page, open_page

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
