"""``gate``: pass/fail per contender against the SLOs, for pipelines (exit non-zero on failure)."""

from __future__ import annotations

from pathlib import Path

from harness.analysis import slo_check
from harness.report._render import load_run

__all__ = ["gate"]


def gate(run_dir: Path, slo_overrides: dict[str, float] | None = None) -> tuple[bool, list[str]]:
    """(every contender passed?, one line per contender). A run with no contenders or requests fails.

    ``slo_overrides`` replaces scenario SLOs by key: ttft, tpot, e2e (seconds), max_error_rate,
    min_good_fraction (0–1).
    """
    a = load_run(Path(run_dir), slo_overrides=slo_overrides)
    rows = a.run_rows()
    lines: list[str] = []
    all_ok = bool(a.contenders)
    for c in a.contenders:
        ok, reasons = slo_check(rows.get(c), a.slo)
        all_ok &= ok
        lines.append(f"{'PASS' if ok else 'FAIL'} {c}: {'; '.join(reasons)}")
    if not a.contenders:
        lines.append("FAIL: the run has no contenders")
    return all_ok, lines
