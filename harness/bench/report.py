"""Benchmark of analysis + report on one million synthetic attempt records.

    python -m harness.bench.report [--records 1000000] [--keep DIR]

Writes a synthetic run folder (Parquet records, as after compaction), then times each step of
``write_report``: read, analyse, render, exports. Targets: under 30 s in all and report.html under 10 MB.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

__all__ = ["main"]

TARGET_S = 30.0
TARGET_MB = 10.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench.report", description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000, help="attempt records to generate (about)")
    parser.add_argument("--keep", type=Path, default=None, help="write the run folder here and keep it")
    args = parser.parse_args(argv)

    from harness.analysis import analyse, write_synthetic_run
    from harness.record import read_fault_events, read_records, read_run
    from harness.report import REPORT_FILE, render_html, write_exports

    # the synthetic run has ~2.05 attempts per logical request and contender pair (alpha: 1, beta: ~1.05)
    per_contender = max(int(args.records / 2.053), 10)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.keep or Path(tmp) / "run"
        t0 = time.perf_counter()
        write_synthetic_run(run_dir, parquet=True, n_requests=per_contender, rate=200.0, seed=1)
        t_gen = time.perf_counter() - t0

        t0 = time.perf_counter()
        records = read_records(run_dir)
        events, manifest = read_fault_events(run_dir), read_run(run_dir)
        t_read = time.perf_counter() - t0
        t0 = time.perf_counter()
        a = analyse(records, events, manifest)
        t_analyse = time.perf_counter() - t0
        t0 = time.perf_counter()
        html = render_html(a)
        (run_dir / REPORT_FILE).write_text(html, encoding="utf-8")
        t_render = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_exports(a, run_dir)
        t_export = time.perf_counter() - t0
        size_mb = (run_dir / REPORT_FILE).stat().st_size / 1e6
        total = t_read + t_analyse + t_render + t_export

    logical = int(a.logical.shape[0])
    rows = [
        ("attempt records", f"{len(records):,}", ""),
        ("logical requests", f"{logical:,}", ""),
        ("generate (not counted)", f"{t_gen:.1f} s", ""),
        ("read records.parquet", f"{t_read:.1f} s", ""),
        ("analyse", f"{t_analyse:.1f} s", ""),
        ("render report.html", f"{t_render:.1f} s", ""),
        ("summary.json + CSV", f"{t_export:.1f} s", ""),
        (
            "total (read → files)",
            f"{total:.1f} s",
            f"target < {TARGET_S:.0f} s: {'OK' if total < TARGET_S else 'MISSED'}",
        ),
        (
            "report.html size",
            f"{size_mb:.2f} MB",
            f"target < {TARGET_MB:.0f} MB: {'OK' if size_mb < TARGET_MB else 'MISSED'}",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name.ljust(width)}  {value.rjust(12)}  {note}")
    return 0 if total < TARGET_S and size_mb < TARGET_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
