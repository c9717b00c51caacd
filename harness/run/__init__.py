"""One run, end to end: its folder, manifest, signals, stack, probes, load execution, end and report.

``run_scenario`` is the entry point (``bakeoff run`` and ``bakeoff replay`` call it); it patches the
process for load generation first (``harness.load.ensure_patched``).
"""

from __future__ import annotations

from harness.run._run import RunResult, run_scenario
from harness.run._stack import Stack, upstream_of

__all__ = ["RunResult", "Stack", "run_scenario", "upstream_of"]
