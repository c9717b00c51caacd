"""``open_records``: the report's column-by-column reader gives what the whole-frame reader gives, column
for column, and the analysis built on it is the same analysis."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.analysis import ANALYSIS_COLUMNS, analyse, write_synthetic_run
from harness.record import (
    RECORDS_PARQUET,
    ParquetRecords,
    list_batches,
    open_records,
    read_fault_events,
    read_records,
    read_run,
)
from harness.report import write_exports


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # several row groups, a warm-up cut (the analysis then works on a subset of the rows) and faults
    return write_synthetic_run(
        tmp_path_factory.mktemp("cols") / "run",
        parquet=True,
        slice_requests=150,
        n_requests=700,
        warmup=5.0,
        seed=3,
    )


def test_every_column_reads_as_the_frame_reader_reads_it(run_dir: Path) -> None:
    frame = read_records(run_dir, ANALYSIS_COLUMNS, lean=True)
    lazy = open_records(run_dir, ANALYSIS_COLUMNS)
    assert isinstance(lazy, ParquetRecords)
    assert len(lazy) == len(frame) and lazy.columns == list(frame.columns)
    assert lazy.attrs["skipped_lines"] == frame.attrs["skipped_lines"]
    for name in ANALYSIS_COLUMNS:
        got, want = lazy[name], frame[name]
        if isinstance(want.dtype, pd.CategoricalDtype):  # same values; categories held as Python strings
            assert isinstance(got.dtype, pd.CategoricalDtype), name
            got, want = got.astype(object), want.astype(object)
        elif isinstance(want.dtype, pd.ArrowDtype):  # list columns
            got, want = got.astype(object), want.astype(object)
            assert [None if v is None else list(v) for v in got] == [
                None if v is None else list(v) for v in want
            ], name
            continue
        pd.testing.assert_series_equal(got.reset_index(drop=True), want.reset_index(drop=True), obj=name)


def test_list_cells_come_a_row_group_at_a_time_in_order(run_dir: Path) -> None:
    lazy = open_records(run_dir, ANALYSIS_COLUMNS)
    frame = read_records(run_dir, ["chunk_times"], lean=True)
    assert pq.ParquetFile(run_dir / RECORDS_PARQUET).metadata.num_row_groups > 2
    positions = np.flatnonzero(np.arange(len(lazy)) % 7 != 3)
    batches = list(list_batches(lazy, "chunk_times", positions))
    assert len(batches) > 2
    assert [at for at, _ in batches] == sorted(at for at, _ in batches)
    cells = pd.concat([c for _, c in batches], ignore_index=True)
    want = frame["chunk_times"].take(positions).reset_index(drop=True)
    assert len(cells) == len(want)
    assert all(list(a) == list(b) for a, b in zip(cells, want, strict=True))
    # a plain frame gives the same cells in one batch
    (only,) = list(list_batches(frame, "chunk_times", positions))
    assert only[0] == 0 and len(only[1]) == len(positions)


def test_a_field_the_file_lacks_reads_as_its_default(tmp_path: Path, run_dir: Path) -> None:
    table = pq.read_table(run_dir / RECORDS_PARQUET)
    old = tmp_path / "old"
    old.mkdir()
    pq.write_table(table.drop(["cache_write_1h_tokens", "session_id"]), old / RECORDS_PARQUET)
    lazy = open_records(old, ANALYSIS_COLUMNS)
    frame = read_records(old, ANALYSIS_COLUMNS, lean=True)
    for name in ("cache_write_1h_tokens", "session_id"):
        assert lazy[name].isna().all() and frame[name].isna().all()
        assert len(lazy[name]) == len(frame)


def test_the_analysis_on_columns_is_the_analysis_on_the_frame(tmp_path: Path, run_dir: Path) -> None:
    events, run = read_fault_events(run_dir), read_run(run_dir)
    outs = []
    for name, records in (
        ("frame", read_records(run_dir, ANALYSIS_COLUMNS, lean=True)),
        ("lazy", open_records(run_dir, ANALYSIS_COLUMNS)),
    ):
        a = analyse(records, events, run)
        assert a.meta["window"]["warmup_s"] > 0 and len(a.logical) < len(records)
        out = tmp_path / name
        out.mkdir()
        write_exports(a, out)
        outs.append(out)
    for f in sorted(p.name for p in outs[0].iterdir()):
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f
    summary = json.loads((outs[0] / "summary.json").read_text(encoding="utf-8"))
    assert summary  # the comparison above compared something


def test_an_unreadable_file_is_one_clear_error(tmp_path: Path) -> None:
    from harness._errors import ReportError

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / RECORDS_PARQUET).write_bytes(b"not parquet at all")
    with pytest.raises(ReportError, match=r"records\.parquet: cannot read"):
        open_records(bad, ANALYSIS_COLUMNS)
    with pytest.raises(ValueError, match="not record fields: nope"):
        open_records(bad, ["nope"])
    assert pa.__version__  # pyarrow is what reads the file


def test_the_per_request_table_holds_no_object_per_request(run_dir: Path) -> None:
    """Ten million requests must fit: every column of the analysis's per-request table is a number, a
    flag or a categorical; the text of a request is fetched from the records for the rows shown."""
    from harness.analysis._prepare import DETAIL_COLUMNS

    a = analyse(open_records(run_dir, ANALYSIS_COLUMNS), read_fault_events(run_dir), read_run(run_dir))
    for name, dtype in a.logical.dtypes.items():
        assert isinstance(dtype, pd.CategoricalDtype | pd.BooleanDtype) or np.dtype(dtype).kind in "biuf", (
            name,
            dtype,
        )
    assert not set(DETAIL_COLUMNS) & set(a.logical.columns)
    assert a.details is not None
    frame = read_records(run_dir, ANALYSIS_COLUMNS)
    at = a.logical["record"].to_numpy()[[0, 5, len(a.logical) - 1, 5]]
    got = a.details(at)
    for c in DETAIL_COLUMNS:
        want = [None if pd.isna(v) else v for v in frame[c].take(at)]
        assert got[c].tolist() == want, c
    assert (frame["request_id"].take(at).tolist()) == got["request_id"].tolist()


def test_a_shallow_copy_takes_replaced_columns_and_leaves_the_original_alone(run_dir: Path) -> None:
    """A sequential run's analysis shifts each contender's times on a shallow copy: the copy answers with
    the new column everywhere (whole column, list batches, detail rows), the original with the file's."""
    lazy = open_records(run_dir, ANALYSIS_COLUMNS)
    shifted = lazy.copy(deep=False)
    shifted["t_end"] = lazy["t_end"].to_numpy() - 100.0
    shifted["request_id"] = pd.Series([f"r{i}" for i in range(len(lazy))])
    assert (shifted["t_end"].to_numpy() == lazy["t_end"].to_numpy() - 100.0).all()
    assert shifted.rows(np.array([3, 1]), ["request_id"])["request_id"].tolist() == ["r3", "r1"]
    assert lazy.rows(np.array([3]), ["request_id"])["request_id"].tolist() == [lazy["request_id"][3]]
    assert not (lazy["t_end"].to_numpy() < 0).any()


def test_a_sequential_run_analyses_the_same_on_columns_as_on_the_frame(tmp_path: Path) -> None:
    """Sequential runs shift each contender's times onto a common clock (a shallow copy with replaced
    columns): the column reader must give the same analysis as the frame."""
    d = write_synthetic_run(tmp_path / "run", parquet=True, n_requests=200, seed=9)
    manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    manifest["load"]["mode"] = "sequential"
    (d / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    events, run = read_fault_events(d), read_run(d)
    assert run.manifest.load.mode == "sequential"
    outs = []
    for name, records in (
        ("frame", read_records(d, ANALYSIS_COLUMNS, lean=True)),
        ("lazy", open_records(d, ANALYSIS_COLUMNS)),
    ):
        out = tmp_path / name
        out.mkdir()
        write_exports(analyse(records, events, run), out)
        outs.append(out)
    for f in sorted(p.name for p in outs[0].iterdir()):
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f
