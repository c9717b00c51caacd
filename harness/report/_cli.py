"""``python -m harness.report``: report, gate and compare run folders (wired into ``bakeoff`` by the CLI).

Exit codes: 0 success / all SLOs met, 3 a contender failed its SLOs (gate), 2 bad input, 1 other error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness._errors import BakeoffError, ConfigError
from harness._model import parse_duration
from harness.analysis import SLO_KEYS

__all__ = ["EXIT_SLO_FAILED", "main", "parse_slo_overrides"]

EXIT_SLO_FAILED = 3
_TIME_KEYS = ("ttft", "tpot", "e2e")


def parse_slo_overrides(items: list[str]) -> dict[str, float]:
    """``["ttft=800ms", "max_error_rate=2%"]`` → ``{"ttft": 0.8, "max_error_rate": 0.02}``."""
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.report", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("report", help="write report.html, summary.json and CSV tables into RUN_DIR")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--scores", type=Path, default=None, help="analyst-declared scores (YAML)")
    g = sub.add_parser("gate", help="exit 3 when a contender fails its SLOs")
    g.add_argument("run_dir", type=Path)
    g.add_argument(
        "--slo",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override an SLO: ttft/tpot/e2e (e.g. 800ms), max_error_rate/min_good_fraction (0.02 or 2%%)",
    )
    c = sub.add_parser("compare", help="pool repeated runs of one scenario")
    c.add_argument("run_dirs", type=Path, nargs="+")
    c.add_argument(
        "--out", type=Path, default=None, help="write HTML (.html) or text here; default: print text"
    )
    c.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="compare runs of different designs or durations anyway (each mismatch printed as a warning)",
    )
    args = parser.parse_args(argv)
    try:
        if args.cmd == "report":
            from harness.report import write_report

            print(write_report(args.run_dir, scores_file=args.scores))
            return 0
        if args.cmd == "gate":
            from harness.report import gate

            ok, lines = gate(args.run_dir, parse_slo_overrides(args.slo) or None)
            print("\n".join(lines))
            return 0 if ok else EXIT_SLO_FAILED
        from harness.analysis import compare_runs
        from harness.report._compare import comparison_text, write_comparison

        if args.out is not None:
            print(write_comparison(args.run_dirs, args.out, allow_mismatch=args.allow_mismatch))
        else:
            sys.stdout.write(comparison_text(compare_runs(args.run_dirs, allow_mismatch=args.allow_mismatch)))
        return 0
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BakeoffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
