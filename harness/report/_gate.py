"""``gate``: pass/fail per contender against the must-pass SLOs, for pipelines (exit non-zero on failure)."""

from __future__ import annotations

from pathlib import Path

from harness.analysis._risks import gate_checks, slo_text
from harness.report._context import _GATE_NAMES
from harness.report._render import load_run

__all__ = ["gate"]


def gate(run_dir: Path, slo_overrides: dict[str, float] | None = None) -> tuple[bool, list[str]]:
    """(every contender passed?, lines): the SLO thresholds and must-pass gates, then one line per contender
    with its numbers against them (and, for a failure a fault window explains, which window). A run with no
    contenders or requests fails.

    ``slo_overrides`` replaces scenario SLOs by key: ttft, tpot, e2e (seconds), max_error_rate,
    min_good_fraction (0–1).
    """
    a = load_run(Path(run_dir), slo_overrides=slo_overrides)
    rows = a.run_rows()
    gates = a.decision.get("gates")
    why = a.decision.get("attributions", {})
    lines = [
        f"SLOs: {slo_text(a.slo)}",
        "must-pass: " + ", ".join(_GATE_NAMES.get(g, g) for g in gates or ()),
    ]
    all_ok = bool(a.contenders)
    for c in a.contenders:
        checks = gate_checks(rows.get(c), a.slo, gates)
        ok = all(x["passed"] for x in checks)
        all_ok &= ok
        line = f"{'PASS' if ok else 'FAIL'} {c}: {'; '.join(x['text'] for x in checks)}"
        if not ok and c in why:
            line += f" — {why[c]}"
        lines.append(line)
    if not a.contenders:
        lines.append("FAIL: the run has no contenders")
    return all_ok, lines
