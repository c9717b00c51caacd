"""Child processes of a run (simulated vendors, the embedded proxy, local load workers, the report).

Each is started with the current interpreter (``python -m module``), prints its address lines on stdout
when ready, and is stopped with SIGTERM to its process group (then SIGKILL) on every exit path. Its stderr
goes to a log file in the run folder.

Children die with the run even when the run cannot stop them (``kill -9``, an OOM kill), two ways:

* Linux: ``PR_SET_PDEATHSIG`` (SIGKILL), set in the child between fork and exec (:func:`child_options`).
  The kernel sends it when the *thread* that forked the child ends, so children are started from the
  run's main thread (gevent runs every greenlet there). Measured: the simulator, the proxy and the local
  workers are gone within ~10 ms of ``kill -9`` of ``bakeoff run``.
* Every platform (macOS has no parent-death signal): the child inherits the read end of a pipe whose
  write end only the run holds; :func:`watch_parent`, called first thing by each child's entry point,
  waits on it in a thread (the load worker: in a greenlet) and stops the child (SIGTERM to itself, then
  exit after 5 s) when it reads end-of-file, which the kernel delivers the moment the run dies, however
  it dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from harness._errors import RunError

__all__ = [
    "ChildProcess",
    "StartCancelled",
    "child_options",
    "parent_gone",
    "parent_watch_fd",
    "wait_for_eof",
    "watch_parent",
]

PARENT_FD_ENV = "BAKEOFF_PARENT_FD"
"""Internal: the fd of the pipe's read end in a child of a run (see :func:`watch_parent`)."""
_PR_SET_PDEATHSIG = 1
_pipe: list[int] = []  # this process's watch pipe (read end, write end): made once, never closed


class StartCancelled(Exception):  # control flow, not an error: a stop signal arrived
    """A child (or the run around it) was asked to stop while it was starting."""


def _pdeathsig_preexec() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the kernel SIGKILL the child when this process's main thread ends."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child only calls it
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:  # pragma: no cover - runs in the child between fork and exec
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the run died between fork and prctl: nobody will signal us
            os._exit(1)

    return preexec


def child_options(*, pdeathsig: bool = True) -> dict[str, Any]:
    """Popen keyword arguments that make a child die with this process (see the module docstring).

    ``env`` is a copy of this environment naming the watch pipe; ``pdeathsig=False`` leaves the pipe as
    the only mechanism (what macOS gets; the tests use it to check the pipe alone).
    """
    if not _pipe:
        _pipe.extend(os.pipe())  # both ends non-inheritable; pass_fds hands the read end to each child
    env = dict(os.environ)
    env[PARENT_FD_ENV] = str(_pipe[0])
    options: dict[str, Any] = {"env": env, "pass_fds": (_pipe[0],)}
    preexec = _pdeathsig_preexec() if pdeathsig else None
    if preexec is not None:
        options["preexec_fn"] = preexec
    return options


def parent_watch_fd() -> int | None:
    """In a child of a run: the watch pipe's read end (and the variable naming it is removed, so this
    process's own children do not inherit it). ``None`` in any other process."""
    value = os.environ.pop(PARENT_FD_ENV, None)
    return int(value) if value is not None and value.isdigit() else None


def parent_gone(sleep: Callable[[float], None] = time.sleep) -> None:
    """What a child does when the run is gone: a clean stop (SIGTERM to itself: the simulator stops its
    worker processes), and exit anyway 5 s later."""
    os.kill(os.getpid(), signal.SIGTERM)
    sleep(5.0)
    os._exit(1)


def wait_for_eof(fd: int) -> None:
    """Block until the pipe ``fd`` reads end-of-file (or fails)."""
    while True:
        try:
            if not os.read(fd, 1):
                return
        except InterruptedError:
            continue
        except OSError:
            return


def watch_parent() -> None:
    """In a child of a run: stop this process when the run dies. A no-op in any other process.

    The watch is a real thread blocked in ``read``: call it first in a child's entry point. Not for a
    gevent-patched process (a real thread alive while gevent patches ``threading`` deadlocks the import
    lock); the load worker watches from a greenlet instead (``harness.load._worker``).
    """
    fd = parent_watch_fd()
    if fd is None:
        return

    def wait() -> None:
        wait_for_eof(fd)
        parent_gone()

    threading.Thread(target=wait, name="bakeoff-watch-parent", daemon=True).start()


@dataclass
class ChildProcess:
    """A child started with ``python -m module``, its ready lines read from stdout within a deadline."""

    name: str
    argv: list[str]
    log_path: Path
    pdeathsig: bool = True  # False: only the watch pipe (the macOS behaviour; for tests)
    proc: subprocess.Popen[bytes] | None = None
    lines: list[str] = field(default_factory=list)
    _log: IO[bytes] | None = None

    def start(
        self, expect_lines: int, timeout: float = 30.0, cancelled: Callable[[], bool] = lambda: False
    ) -> list[str]:
        """Start the child and return its first ``expect_lines`` lines. ``RunError`` if it exits or is
        not ready within ``timeout``; ``StartCancelled`` once ``cancelled()`` is true (it is stopped)."""
        self._log = self.log_path.open("ab")
        options = child_options(pdeathsig=self.pdeathsig)
        options["env"]["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", *self.argv],
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **options,
        )
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        buf = b""
        try:
            while len(self.lines) < expect_lines:
                if cancelled():
                    raise StartCancelled(f"{self.name}: stopped while starting")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RunError(
                        f"{self.name} did not become ready within {timeout:.0f} s; see {self.log_path}"
                    )
                if not sel.select(timeout=min(left, 0.2)):
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
