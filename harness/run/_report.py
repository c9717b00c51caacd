"""The report phase: compact the records and build the report in a process of its own.

The load process is monkey-patched by gevent; pandas, plotly and jinja2 have no business there. The report
is built by ``bakeoff report RUN_DIR`` in a child process (its own session, so a terminal's Ctrl-C reaches
only the run, which decides: see :mod:`harness.run._signals`). The child dies with the run, even on
``kill -9`` of the run (:func:`harness._children.child_options`).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from harness._children import child_options

__all__ = ["build_report"]


def build_report(
    run_dir: Path, *, sleep: Callable[[float], None], abort: Callable[[], bool]
) -> tuple[Path | None, str | None]:
    """(report.html path, None) or (None, the problem). ``sleep`` yields to the caller's runtime while the
    child works; ``abort()`` true stops it."""
    log = run_dir / "report.log"
    with log.open("ab") as err:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "harness.cli", "report", str(run_dir)],
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **child_options(),
        )
        while proc.poll() is None:
            if abort():
                proc.kill()
                proc.wait()
                if proc.stdout is not None:
                    proc.stdout.close()
                return None, "report not written (stopped); build it with `bakeoff report RUN_DIR`"
            sleep(0.05)
        out = proc.stdout.read().decode("utf-8", "replace") if proc.stdout is not None else ""
        if proc.stdout is not None:
            proc.stdout.close()
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return None, f"report failed (exit {proc.returncode}): {tail[-1] if tail else 'see report.log'}"
    if log.stat().st_size == 0:
        log.unlink()
    lines = out.strip().splitlines()
    return (Path(lines[-1]) if lines else run_dir / "report.html"), None
