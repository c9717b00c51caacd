"""Analysis of a run's records with pandas: metrics per contender × phase × class, SLOs, faults, the
decision (gates, objectives with bootstrap noise, ties) and the scorecard.

Pure functions over DataFrames; the only file access is in ``compare_runs`` and ``load_declared`` (reading)
and ``write_synthetic_run`` (test and benchmark data).
"""

from __future__ import annotations

from harness.analysis._analyse import Analysis, analyse
from harness.analysis._capacity import CAPACITY_LIMITS, capacity_verdict, find_knee
from harness.analysis._compare import COMPARE_METRICS, Comparison, compare_analyses, compare_runs
from harness.analysis._metrics import FORMULAS, LATENCY_METRICS, SLO_KEYS, good_mask, slo_settings
from harness.analysis._phases import FaultWindow, Window, assign_phases, fault_windows, measurement_window
from harness.analysis._prepare import ANALYSIS_COLUMNS, chunk_gaps, logical_requests
from harness.analysis._risks import slo_check
from harness.analysis._scorecard import LAYERS, DeclaredScore, DeclaredScores, LayerWeights, load_declared
from harness.analysis._search import CapacitySearch, SearchBook
from harness.analysis._stats import PERCENTILES, describe, mean_ci
from harness.analysis._synthetic import synthetic_run, write_synthetic_run

__all__ = [
    "ANALYSIS_COLUMNS",
    "CAPACITY_LIMITS",
    "COMPARE_METRICS",
    "FORMULAS",
    "LATENCY_METRICS",
    "LAYERS",
    "PERCENTILES",
    "SLO_KEYS",
    "Analysis",
    "CapacitySearch",
    "Comparison",
    "DeclaredScore",
    "DeclaredScores",
    "FaultWindow",
    "LayerWeights",
    "SearchBook",
    "Window",
    "analyse",
    "assign_phases",
    "capacity_verdict",
    "chunk_gaps",
    "compare_analyses",
    "compare_runs",
    "describe",
    "fault_windows",
    "find_knee",
    "good_mask",
    "load_declared",
    "logical_requests",
    "mean_ci",
    "measurement_window",
    "slo_check",
    "slo_settings",
    "synthetic_run",
    "write_synthetic_run",
]
