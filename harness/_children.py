"""Child processes of a run (simulated vendors, the embedded proxy, local load workers).

Each is started with the current interpreter (``python -m module``), prints its address lines on stdout
when ready, and is stopped with SIGTERM to its process group (then SIGKILL) on every exit path. Its stderr
goes to a log file in the run folder.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from harness._errors import RunError

__all__ = ["ChildProcess"]


@dataclass
class ChildProcess:
    """A child started with ``python -m module``, its ready lines read from stdout within a deadline."""

    name: str
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    lines: list[str] = field(default_factory=list)
    _log: IO[bytes] | None = None

    def start(self, expect_lines: int, timeout: float = 30.0) -> list[str]:
        self._log = self.log_path.open("ab")
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", *self.argv],
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        buf = b""
        try:
            while len(self.lines) < expect_lines:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RunError(
                        f"{self.name} did not become ready within {timeout:.0f} s; see {self.log_path}"
                    )
                if not sel.select(timeout=min(left, 0.5)):
                    if self.proc.poll() is not None:
                        raise RunError(
                            f"{self.name} exited with code {self.proc.returncode} while starting; "
                            f"see {self.log_path}: {self._log_tail()}"
                        )
                    continue
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    self.proc.wait(timeout=5)
                    raise RunError(
                        f"{self.name} exited with code {self.proc.returncode} while starting; "
                        f"see {self.log_path}: {self._log_tail()}"
                    )
                buf += chunk
                *done, buf = buf.split(b"\n")
                self.lines.extend(line.decode().strip() for line in done if line.strip())
        except BaseException:
            self.stop()
            raise
        finally:
            sel.close()
        return self.lines[:expect_lines]

    def _log_tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return text[-1] if text else ""

    def stop(self, timeout: float = 5.0) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None
