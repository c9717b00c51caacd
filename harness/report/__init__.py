"""The report: self-contained report.html, summary.json and CSV tables of a run; SLO gate; run comparison."""

from __future__ import annotations

from harness.report._exports import CSV_FILES, SUMMARY_FILE, summary, write_exports
from harness.report._gate import gate
from harness.report._render import REPORT_FILE, load_run, render_html, write_report

__all__ = [
    "CSV_FILES",
    "REPORT_FILE",
    "SUMMARY_FILE",
    "gate",
    "load_run",
    "render_html",
    "summary",
    "write_exports",
    "write_report",
]
