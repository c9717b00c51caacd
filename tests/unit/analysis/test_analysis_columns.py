"""The report reads only ``ANALYSIS_COLUMNS``: the analysis of those columns is the analysis of all."""

from __future__ import annotations

import json
from pathlib import Path

from harness.analysis import ANALYSIS_COLUMNS, analyse, write_synthetic_run
from harness.analysis._prepare import UNREAD_FIELDS
from harness.record import RECORD_FIELDS, read_fault_events, read_records, read_run
from harness.report._exports import summary


def _summary(run_dir: Path, columns: tuple[str, ...] | None, lean: bool) -> str:
    records = read_records(run_dir, columns, lean=lean)
    a = analyse(records, read_fault_events(run_dir), read_run(run_dir))
    return json.dumps(summary(a), sort_keys=True, default=str)


def test_the_columns_left_unread_change_no_number(tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path / "run", parquet=True, n_requests=800, rate=20.0, seed=3)
    assert set(ANALYSIS_COLUMNS) | UNREAD_FIELDS == set(RECORD_FIELDS)
    assert not set(ANALYSIS_COLUMNS) & UNREAD_FIELDS
    assert {"chunk_times", "chunk_deltas", "output_excerpt", "t_intended"} <= set(ANALYSIS_COLUMNS)
    whole = _summary(run_dir, None, lean=False)
    assert "latency" in whole or "requests" in whole  # a real summary, not an empty one
    assert _summary(run_dir, ANALYSIS_COLUMNS, lean=True) == whole


def test_a_sequential_run_analyses_from_the_projected_columns(tmp_path: Path) -> None:
    """Sequential runs shift every time field; a projected frame lacks t_headers and t_first_output."""
    from harness.analysis import synthetic_run
    from harness.record import write_end, write_manifest
    from harness.record._rundir import RECORDS_PARQUET

    df, _events, run = synthetic_run(200, rate=10.0, seed=5, faults=False)
    load = run.manifest.load.model_copy(update={"mode": "sequential", "duration": 20.0})
    manifest = run.manifest.model_copy(update={"load": load})
    run_dir = tmp_path / "seq"
    run_dir.mkdir()
    write_manifest(run_dir, manifest)
    if run.end is not None:
        write_end(run_dir, run.end)
    df.to_parquet(run_dir / RECORDS_PARQUET, index=False)
    assert _summary(run_dir, ANALYSIS_COLUMNS, lean=True) == _summary(run_dir, None, lean=False)
