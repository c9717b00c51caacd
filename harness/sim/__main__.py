"""``python -m harness.sim``: the ``bakeoff sim`` command (how a run starts the simulated vendors)."""

from __future__ import annotations

from harness.sim._command import sim

if __name__ == "__main__":
    sim.main(prog_name="python -m harness.sim")
