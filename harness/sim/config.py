"""The simulator's behaviour model, re-exported from :mod:`harness.behaviour`.

The model lives outside ``harness.sim`` so that :mod:`harness.config` can validate a scenario's
``sim_profiles`` without loading the simulator and its HTTP server.
"""

from __future__ import annotations

from harness.behaviour import ERROR_STATUSES, PRESETS, SimBehaviour, SimConfig, SimEndpoint

__all__ = ["ERROR_STATUSES", "PRESETS", "SimBehaviour", "SimConfig", "SimEndpoint"]
