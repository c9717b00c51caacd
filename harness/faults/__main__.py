"""``python -m harness.faults``: the ``bakeoff proxy`` command (how a run starts the embedded proxy)."""

from __future__ import annotations

from harness.faults._command import proxy

if __name__ == "__main__":
    proxy.main(prog_name="python -m harness.faults")
