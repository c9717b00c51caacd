"""Vendor reproduction bundles: export what one contender met in a run, verify a bundle, replay it."""

from __future__ import annotations

from harness.repro._bundle import BUNDLE_FILES, BUNDLE_FORMAT, Bundle, export_bundle, verify_bundle
from harness.repro._replay import (
    ReplayResult,
    build_replay_scenario,
    compare,
    format_comparison,
    replay_bundle,
)
from harness.repro._stats import summarise

__all__ = [
    "BUNDLE_FILES",
    "BUNDLE_FORMAT",
    "Bundle",
    "ReplayResult",
    "build_replay_scenario",
    "compare",
    "export_bundle",
    "format_comparison",
    "replay_bundle",
    "summarise",
    "verify_bundle",
]
