"""The report: self-contained report.html, summary.json and CSV tables of a run; SLO gate; run comparison."""

from __future__ import annotations

from harness.report._compare import comparison_json, comparison_text, write_comparison
from harness.report._exports import CSV_FILES, SUMMARY_FILE, summary, write_exports
from harness.report._gate import (
    EXIT_SLO_FAILED,
    GateCheck,
    GateResult,
    evaluate_gate,
    gate,
    gate_json,
    github_summary,
    junit_xml,
    parse_slo_overrides,
)
from harness.report._render import REPORT_FILE, load_run, render_html, write_report

__all__ = [
    "CSV_FILES",
    "EXIT_SLO_FAILED",
    "REPORT_FILE",
    "SUMMARY_FILE",
    "GateCheck",
    "GateResult",
    "comparison_json",
    "comparison_text",
    "evaluate_gate",
    "gate",
    "gate_json",
    "github_summary",
    "junit_xml",
    "load_run",
    "parse_slo_overrides",
    "render_html",
    "summary",
    "write_comparison",
    "write_exports",
    "write_report",
]
