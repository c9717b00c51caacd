"""The load process's cooperative runtime, for the orchestrator in ``harness.run`` (which never imports
gevent itself): sleep, background tasks and signal handlers that run as greenlets.

Importing this module patches the process (it imports the Locust runner first).
"""

from __future__ import annotations

# isort: off
from harness.load import _runner  # noqa: F401 - Locust patches the process (gevent) before anything else
# isort: on

import signal
from collections.abc import Callable
from typing import Any

import gevent

__all__ = ["Task", "on_signals", "sleep", "spawn"]


def sleep(seconds: float) -> None:
    gevent.sleep(seconds)


class Task:
    """A function running in the background (a greenlet)."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self._g = gevent.spawn(fn, *args)

    @property
    def done(self) -> bool:
        """It returned, raised or was stopped."""
        return bool(self._g.dead)

    @property
    def error(self) -> BaseException | None:
        """What it raised (``None`` while it runs, when it returned, or when it was stopped)."""
        exc = self._g.exception
        return None if exc is None or isinstance(exc, gevent.GreenletExit) else exc

    def stop(self, timeout: float = 5.0) -> None:
        self._g.kill(block=True, timeout=timeout)


def spawn(fn: Callable[..., Any], *args: Any) -> Task:
    return Task(fn, *args)


def on_signals(
    handler: Callable[[], None], signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)
) -> Callable[[], None]:
    """Run ``handler()`` in a greenlet on each of ``signals`` (never as an exception in the code that was
    running); returns a function that removes the handlers."""
    handles = [gevent.signal_handler(s, handler) for s in signals]

    def cancel() -> None:
        for h in handles:
            h.cancel()

    return cancel
