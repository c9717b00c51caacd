"""Load generation with Locust: execute a ``RunPlan`` (local or distributed) and nothing else.

This package's ``__init__`` never imports Locust: Locust monkey-patches the process with gevent when it is
imported, so only a process that generates load calls :func:`ensure_patched` (first, before anything opens
sockets). The simulated vendors and the embedded proxy run as their own processes and are never patched.
"""

from __future__ import annotations

from harness.load._execution import Execution, ExecutionEnd, HttpFaultSwitch, open_execution
from harness.load._plan import SIM_API_KEY, RunPlan, api_keys_from_env
from harness.load._schedule import (
    ScheduledRequest,
    build_schedule,
    prompt_order,
    rate_at,
    requests_per_contender,
    schedule_digest,
)

__all__ = [
    "SIM_API_KEY",
    "Execution",
    "ExecutionEnd",
    "HttpFaultSwitch",
    "RunPlan",
    "ScheduledRequest",
    "api_keys_from_env",
    "build_schedule",
    "ensure_patched",
    "open_execution",
    "prompt_order",
    "rate_at",
    "requests_per_contender",
    "schedule_digest",
]


def ensure_patched() -> None:
    """Patch this process for load generation (gevent, through Locust's import). Idempotent.

    Call it first in a process that will run load (``bakeoff run``, ``bakeoff worker``, ``bakeoff replay``):
    modules that hold sockets or locks must be imported after the patch.

    SIGINT and SIGTERM are held back while gevent patches the process: a KeyboardInterrupt in the middle
    of the patch left ``threading`` half patched, and the process hung for ever in ``threading._shutdown``
    on its way out. A signal that arrived meanwhile is delivered when the patch is complete (Ctrl-C then
    raises KeyboardInterrupt here, at a clean point).
    """
    import signal
    import sys

    if "harness.load._runner" in sys.modules:
        return
    held = {signal.SIGINT, signal.SIGTERM}
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        from harness.load import _runner  # noqa: F401
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
