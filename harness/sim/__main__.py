"""``python -m harness.sim``: the ``bakeoff sim`` command (how a run starts the simulated vendors)."""

from __future__ import annotations

from harness._children import watch_parent

if __name__ == "__main__":
    watch_parent()  # a run's child: stop when the run dies, however it dies
    from harness.sim._command import sim

    sim.main(prog_name="python -m harness.sim")
