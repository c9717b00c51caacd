"""Benchmark of the report step (read, analyse, render, exports) on millions of synthetic attempt records.

    python -m harness.bench.report [--records 1000000] [--keep DIR]

Writes a synthetic run folder (``records.parquet`` in row groups, as after compaction), then builds the
report from it the way ``bakeoff report`` does: each column the analysis reads is read when it asks for it
(``harness.record.open_records``). Each size is generated in a process of its own, and the report step
runs in another, so its peak resident memory (``ru_maxrss`` of that process) is the report's alone. With
``--records`` above one million, one million is measured too, in the same invocation, and the figures
are printed side by side.

Targets: 1M records under 30 s; 10M under 60 s and under 4 GB peak RSS; report.html under 10 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]

MILLION = 1_000_000
TARGET_S = {MILLION: 30.0, 10 * MILLION: 60.0}
TARGET_RSS_GB = {10 * MILLION: 4.0}
TARGET_MB = 10.0
_SLICE = 250_000  # logical requests per contender drawn (and written as one row group) at a time


def _generate(run_dir: Path, records: int) -> None:
    from harness.analysis import write_synthetic_run

    # the synthetic run has ~2.05 attempts per logical request and contender pair (alpha: 1, beta: ~1.05)
    per_contender = max(int(records / 2.053), 10)
    write_synthetic_run(
        run_dir, parquet=True, slice_requests=_SLICE, n_requests=per_contender, rate=200.0, seed=1
    )


def _measure(run_dir: Path) -> dict[str, Any]:
    """The report step, timed: what ``bakeoff report`` does after reading the run folder's small files."""
    from harness._memory import return_freed_memory
    from harness.analysis import ANALYSIS_COLUMNS, analyse
    from harness.record import open_records, read_fault_events, read_run
    from harness.report import REPORT_FILE, render_html, write_exports

    return_freed_memory()  # as bakeoff report does (harness.report.load_run)
    t0 = time.perf_counter()
    held = [open_records(run_dir, ANALYSIS_COLUMNS)]
    events, run = read_fault_events(run_dir), read_run(run_dir)
    n_records = len(held[0])
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    a = analyse(held.pop(), events, run)  # not held here: analyse frees the records when done with them
    t_analyse = time.perf_counter() - t0
    t0 = time.perf_counter()
    (run_dir / REPORT_FILE).write_text(render_html(a), encoding="utf-8")
    t_render = time.perf_counter() - t0
    t0 = time.perf_counter()
    write_exports(a, run_dir)
    t_export = time.perf_counter() - t0
    return {
        "records": n_records,
        "logical": int(a.logical.shape[0]),
        "read": t_read,
        "analyse": t_analyse,
        "render": t_render,
        "export": t_export,
        "total": t_read + t_analyse + t_render + t_export,
        "html_mb": (run_dir / REPORT_FILE).stat().st_size / 1e6,
    }


def _rss_gb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1e6  # kB
    except OSError:
        pass
    return 0.0


def _child(args: list[str], cap_gb: float) -> tuple[str | None, float, float]:
    """Run ``python -m harness.bench.report ARGS`` in a process of its own: (stdout, seconds, peak RSS GB).

    The machine is shared: a child whose resident memory passes ``cap_gb`` is killed (stdout None)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "harness.bench.report", *args], stdout=out, env=os.environ.copy()
        )
        killed = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if not killed and _rss_gb(proc.pid) > cap_gb:
                proc.kill()
                killed = True
            time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    seconds, peak = time.perf_counter() - t0, usage.ru_maxrss / 1e6  # ru_maxrss: kB on Linux
    if killed:
        return None, seconds, peak
    if proc.returncode != 0:
        raise SystemExit(f"bench child {' '.join(args)} failed (exit {proc.returncode})")
    return text, seconds, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench.report", description=__doc__)
    parser.add_argument("--records", type=int, default=MILLION, help="attempt records to generate (about)")
    parser.add_argument(
        "--keep", type=Path, default=None, help="write the run folders under here and keep them"
    )
    parser.add_argument(
        "--cap-gb",
        type=float,
        default=8.0,
        help="kill a step whose resident memory passes this (shared machine)",
    )
    parser.add_argument("--generate", type=Path, default=None, help=argparse.SUPPRESS)  # child: write a run
    parser.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)  # child: time a report
    args = parser.parse_args(argv)
    if args.generate is not None:
        _generate(args.generate, args.records)
        return 0
    if args.measure is not None:
        print(json.dumps(_measure(args.measure)))
        return 0

    sizes = sorted({MILLION, args.records}) if args.records > MILLION else [args.records]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        for n in sizes:
            run_dir = root / f"run-{n}"
            gen, t_gen, _ = _child(["--generate", str(run_dir), "--records", str(n)], args.cap_gb)
            if gen is None:
                raise SystemExit(f"generating {n:,} records passed {args.cap_gb:g} GB: stopped")
            out, t_child, rss = _child(["--measure", str(run_dir)], args.cap_gb)
            if out is None:  # stopped at the cap: what is known is how far it got
                results.append({"records": n, "generate": t_gen, "rss_gb": rss, "killed_after": t_child})
                continue
            results.append({**json.loads(out.strip().splitlines()[-1]), "generate": t_gen, "rss_gb": rss})

    ok = True
    notes: list[str] = []
    for n, r in zip(sizes, results, strict=True):
        if "killed_after" in r:
            ok = False
            notes.append(
                f"{n:,} records: report step stopped after {r['killed_after']:.0f} s, resident memory past "
                f"the {args.cap_gb:g} GB cap (--cap-gb): MISSED"
            )
            continue
        target_s = TARGET_S.get(n)
        target_gb = TARGET_RSS_GB.get(n)
        if target_s is not None and r["total"] >= target_s:
            ok = False
            notes.append(f"{n:,} records: total {r['total']:.1f} s, target < {target_s:.0f} s: MISSED")
        if target_gb is not None and r["rss_gb"] >= target_gb:
            ok = False
            notes.append(f"{n:,} records: peak RSS {r['rss_gb']:.2f} GB, target < {target_gb:.0f} GB: MISSED")
        if r["html_mb"] >= TARGET_MB:
            ok = False
            notes.append(
                f"{n:,} records: report.html {r['html_mb']:.2f} MB, target < {TARGET_MB:.0f} MB: MISSED"
            )

    def row(name: str, fmt: str, key: str) -> tuple[str, list[str]]:
        return name, [fmt.format(r[key]) if key in r else "stopped" for r in results]

    rows = [
        row("attempt records", "{:,}", "records"),
        row("logical requests", "{:,}", "logical"),
        row("generate (not counted)", "{:.1f} s", "generate"),
        row("open records.parquet", "{:.1f} s", "read"),
        row("analyse (columns read as needed)", "{:.1f} s", "analyse"),
        row("render report.html", "{:.1f} s", "render"),
        row("summary.json + CSV", "{:.1f} s", "export"),
        row("total (read → files)", "{:.1f} s", "total"),
        row("peak RSS (report step)", "{:.2f} GB", "rss_gb"),
        row("report.html size", "{:.2f} MB", "html_mb"),
    ]
    width = max(len(name) for name, _ in rows)
    print(" " * width + "".join(f"{f'{n / MILLION:g}M records':>16}" for n in sizes))
    for name, values in rows:
        print(name.ljust(width) + "".join(v.rjust(16) for v in values))
    targets = ", ".join(
        [f"{n / MILLION:g}M < {s:.0f} s" for n, s in TARGET_S.items() if n in sizes]
        + [f"{n / MILLION:g}M < {g:.0f} GB" for n, g in TARGET_RSS_GB.items() if n in sizes]
        + [f"report.html < {TARGET_MB:.0f} MB"]
    )
    print(f"targets: {targets}: {'OK' if ok else 'MISSED'}")
    for note in notes:
        print(note)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
