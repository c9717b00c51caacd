"""What a real run's report must show, computed from its records alone (``from report_truth import ...``).

Every number is computed from ``records.parquet`` with pandas and numpy, from the metric definitions in
the methodology (TTFT = t_first_token − t_dispatch of the final attempt; user times from t_intended;
error rate = failed logical requests / all; fallback rate = final attempts not on the primary; cost =
every attempt's cost; percentiles exact, linear interpolation) — never through ``harness.analysis``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["PRIMARY", "ROWS", "expected_numbers", "metrics_table", "shown_seconds"]

PRIMARY = {"alpha": "alpha-fast", "beta": "beta-steady", "gamma": "gamma-messages"}  # tests/e2e/short.yaml


def expected_numbers(run_dir: Path) -> dict[str, dict[str, float]]:
    df = pd.read_parquet(run_dir / "records.parquet")
    out: dict[str, dict[str, float]] = {}
    for contender, attempts in df.groupby("contender"):
        final = attempts[attempts["is_final_attempt"]]
        ok = final[final["outcome"] == "ok"]
        ttft = (ok["t_first_token"] - ok["t_dispatch"]).to_numpy(dtype=float)
        user_ttft = (ok["t_first_token"] - ok["t_intended"]).to_numpy(dtype=float)
        user_latency = (ok["t_end"] - ok["t_intended"]).to_numpy(dtype=float)
        out[str(contender)] = {
            "requests": float(len(final)),
            "succeeded": float(len(ok)),
            "error_rate": float((final["outcome"] != "ok").mean()),
            "fallback_rate": float((final["endpoint"] != PRIMARY[str(contender)]).mean()),
            "cost_usd": float(attempts["cost_usd"].sum()),
            "ttft_p50": float(np.percentile(ttft, 50)),
            "ttft_p95": float(np.percentile(ttft, 95)),
            "user_ttft_p95": float(np.percentile(user_ttft, 95)),
            "user_latency_p50": float(np.percentile(user_latency, 50)),
            "user_latency_p95": float(np.percentile(user_latency, 95)),
        }
    return out


class _Table(HTMLParser):
    """Rows of the first table after ``id="metrics"``: label → cells, as text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._seen = self._in_table = self._in_cell = False
        self._cell: list[str] = []
        self._tables = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if ("id", "metrics") in attrs:
            self._seen = True
        if not self._seen:
            return
        if tag == "table":
            self._tables += 1
            self._in_table = self._tables == 2  # the first is the request accounting, the second the metrics
        elif self._in_table and tag == "tr":
            self.rows.append([])
        elif self._in_table and tag in ("td", "th"):
            self._in_cell, self._cell = True, []

    def handle_endtag(self, tag: str) -> None:
        if self._in_table and tag in ("td", "th") and self._in_cell:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._in_cell = False
        elif tag == "table":
            self._in_table = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self._cell.append(data)


def shown_seconds(cell: str) -> tuple[float, float]:
    """A displayed duration and half its last digit: '172 ms' → (0.172, 0.0005); '1.18 s' → (1.18, 0.005)."""
    m = re.fullmatch(r"([\d.]+) (ms|s)", cell)
    assert m, cell
    text, unit = m.groups()
    decimals = len(text.split(".")[1]) if "." in text else 0
    scale = 1e-3 if unit == "ms" else 1.0
    return float(text) * scale, 0.5 * 10**-decimals * scale + 1e-12


def metrics_table(html: str) -> dict[str, list[str]]:
    parser = _Table()
    parser.feed(html)
    rows = {r[0]: r[1:] for r in parser.rows if r}
    assert rows, "no metrics table in the report"
    return rows


ROWS = {  # report row label → the expected key, as a duration
    "user TTFT p95": "user_ttft_p95",
    "TTFT p95 (final attempt)": "ttft_p95",
    "user latency p50": "user_latency_p50",
    "user latency p95": "user_latency_p95",
}
