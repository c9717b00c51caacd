"""``gate``: pass/fail per contender against the must-pass SLOs, for pipelines (exit non-zero on failure),
and the ``--slo KEY=VALUE`` overrides it takes."""

from __future__ import annotations

from pathlib import Path

from harness._errors import ConfigError
from harness._model import parse_duration
from harness.analysis import SLO_KEYS
from harness.analysis._risks import gate_checks, slo_text
from harness.report._context import _GATE_NAMES
from harness.report._render import load_run

__all__ = ["EXIT_SLO_FAILED", "gate", "parse_slo_overrides"]

EXIT_SLO_FAILED = 3  # bakeoff gate's exit code when a contender fails its SLOs
_TIME_KEYS = ("ttft", "tpot", "e2e")


def parse_slo_overrides(items: list[str]) -> dict[str, float]:
    """``["ttft=800ms", "max_error_rate=2%"]`` → ``{"ttft": 0.8, "max_error_rate": 0.02}``.

    Raises ``ConfigError`` with one line per bad item.
    """
    out: dict[str, float] = {}
    problems: list[str] = []
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in SLO_KEYS:
            problems.append(f"--slo {item}: expected KEY=VALUE with KEY one of {', '.join(SLO_KEYS)}")
            continue
        try:
            if key in _TIME_KEYS:
                out[key] = parse_duration(value)
            elif value.endswith("%"):
                out[key] = float(value[:-1]) / 100.0
            else:
                out[key] = float(value)
        except ValueError as exc:
            problems.append(f"--slo {item}: {exc}")
            continue
        if key not in _TIME_KEYS and not 0.0 <= out[key] <= 1.0:
            problems.append(f"--slo {item}: a fraction between 0 and 1 (or a percentage)")
    if problems:
        raise ConfigError(problems)
    return out


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
