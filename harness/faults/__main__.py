"""``python -m harness.faults``: the ``bakeoff proxy`` command (how a run starts the embedded proxy)."""

from __future__ import annotations

from harness._children import watch_parent

if __name__ == "__main__":
    watch_parent()  # a run's child: stop when the run dies, however it dies
    from harness.faults._command import proxy

    proxy.main(prog_name="python -m harness.faults")
