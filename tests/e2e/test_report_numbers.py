"""The report of a real run says what its records say: summary.json and the cells of report.html's
side-by-side table against numbers computed from records.parquet alone (tests/report_truth.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_truth import ROWS, expected_numbers, metrics_table, shown_seconds


@pytest.fixture(scope="module")
def expected(real_run: Path) -> dict[str, dict[str, float]]:
    exp = expected_numbers(real_run)
    assert set(exp) == {"alpha", "beta", "gamma"} and all(e["requests"] > 20 for e in exp.values())
    return exp


def test_summary_json_numbers_are_the_records(real_run: Path, expected: dict[str, dict[str, float]]) -> None:
    summary = json.loads((real_run / "summary.json").read_text(encoding="utf-8"))["contenders"]
    for contender, exp in expected.items():
        got = summary[contender]
        for key, value in exp.items():
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (contender, key)
    # the outage on alpha's primary made it fall back (the run has something to show)
    assert expected["alpha"]["fallback_rate"] > 0 and expected["beta"]["fallback_rate"] == 0


def test_report_html_cells_are_the_records(real_run: Path, expected: dict[str, dict[str, float]]) -> None:
    rows = metrics_table((real_run / "report.html").read_text(encoding="utf-8"))
    header = rows["metric"]
    assert header == ["alpha", "beta", "gamma"]
    for label, key in ROWS.items():
        for contender, cell in zip(header, rows[label], strict=True):
            shown, half_digit = shown_seconds(cell)
            assert abs(shown - expected[contender][key]) <= half_digit, (label, contender, cell)
    for contender, cell in zip(header, rows["logical requests"], strict=True):
        assert int(cell) == expected[contender]["requests"]
    for contender, cell in zip(header, rows["error rate"], strict=True):
        assert float(cell.rstrip(" %")) == pytest.approx(100 * expected[contender]["error_rate"], abs=0.05)
    for contender, cell in zip(header, rows["fallback rate"], strict=True):
        assert float(cell.rstrip(" %")) == pytest.approx(100 * expected[contender]["fallback_rate"], abs=0.05)
