"""Simulated vendor fleet: OpenAI, Anthropic and Azure OpenAI wire protocols with a behaviour model.

Run as a process with ``python -m harness.sim --config FILE``, or in-process for tests with
:func:`serve_in_thread`. See :mod:`harness.behaviour` for the behaviour fields.
"""

from __future__ import annotations

from harness.behaviour import PRESETS, SimBehaviour, SimConfig, SimEndpoint
from harness.sim._app import SimServer, SimThread, base_url_for, serve_in_thread
from harness.sim._groundtruth import GroundTruthRecord, GroundTruthWriter, read_ground_truth

__all__ = [
    "PRESETS",
    "GroundTruthRecord",
    "GroundTruthWriter",
    "SimBehaviour",
    "SimConfig",
    "SimEndpoint",
    "SimServer",
    "SimThread",
    "base_url_for",
    "read_ground_truth",
    "serve_in_thread",
]
