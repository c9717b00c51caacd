"""Records reach Parquet during the run: the part writer, interrupted and torn folders, compaction in
row groups, and reads that take only the columns asked for."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from factories import kill_writer_after, make_record, write_run

from harness.record import (
    RECORD_FIELDS,
    RECORDS_FILE,
    RECORDS_PARQUET,
    RECORDS_PARTS,
    RecordWriter,
    RequestRecord,
    compact_records,
    open_records,
    read_records,
)

ROOT = Path(__file__).resolve().parents[3]


def _record(i: int) -> RequestRecord:
    """Attempt ``i``: every kind of column (ints, floats, None, lists, text, booleans) varies with i."""
    ok = i % 4 != 3
    return make_record(
        request_id=f"q{i}",
        attempt=1 + i % 2,
        seq=i,
        t_intended=i * 0.25,
        t_dispatch=i * 0.25 + 0.001,
        t_first_token=i * 0.25 + 0.1 if ok else None,
        t_end=i * 0.25 + 0.4,
        chunk_times=[i * 0.25 + 0.1, i * 0.25 + 0.2, i * 0.25 + 0.3] if ok else [],
        chunk_deltas=[1, 2, 1] if ok else [],
        status=200 if ok else 503,
        outcome="ok" if ok else "error",
        error_class=None if ok else "overloaded",
        output_tokens=12 + i if ok else None,
        cost_usd=0.001 * i,
        is_final_attempt=i % 2 == 1,
        check_passed=None if i % 3 == 0 else i % 3 == 1,
        output_excerpt=f"Grüße {i} <b>" if ok else None,
    )


def _plain(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()]
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


def _rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _plain(v) for k, v in row.items()} for row in df.to_dict("records")]


def _expected(records: list[RequestRecord]) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in r.to_dict().items()} for r in records]


def _parts(run_dir: Path) -> list[Path]:
    return sorted((run_dir / RECORDS_PARTS).glob("part-*.parquet"))


class _Clock:
    """A hand-moved clock: the writer's notion of time, advanced by the test, never slept on."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_parts_are_written_every_part_rows_and_read_back_equal_what_was_written(tmp_path: Path) -> None:
    records = [_record(i) for i in range(23)]
    writer = RecordWriter(tmp_path, part_rows=5, part_seconds=1e9)
    for r in records[:12]:
        writer.write(r.to_dict())
    writer.write_many(r.to_dict() for r in records[12:])  # 11 at once: one part of 2 + 11
    # 5, 5, then 2 + 11 = 13 buffered when the batch arrived; nothing is held back past part_rows
    assert [pq.read_metadata(p).num_rows for p in _parts(tmp_path)] == [5, 5, 13]
    df = read_records(tmp_path)  # before close: parts, and no JSONL line after them
    assert _rows(df) == _expected(records)
    writer.close()
    assert len(_parts(tmp_path)) == 3
    assert _rows(read_records(tmp_path)) == _expected(records)


def test_records_after_the_last_part_come_from_the_jsonl(tmp_path: Path) -> None:
    records = [_record(i) for i in range(13)]
    writer = RecordWriter(tmp_path, part_rows=5, part_seconds=1e9)
    for r in records:
        writer.write(r.to_dict())
    # not closed (a killed run): 2 parts of 5, 3 records only in records.jsonl
    assert len(_parts(tmp_path)) == 2
    df = read_records(tmp_path)
    assert _rows(df) == _expected(records) and df.attrs["skipped_lines"] == 0
    writer.close()


def test_a_part_is_written_when_part_seconds_have_passed(tmp_path: Path) -> None:
    clock = _Clock()
    writer = RecordWriter(tmp_path, part_rows=1000, part_seconds=30.0, clock=clock)
    writer.write(_record(0).to_dict())
    writer.write(_record(1).to_dict())
    assert _parts(tmp_path) == []
    clock.now = 30.0
    writer.write(_record(2).to_dict())
    assert [pq.read_metadata(p).num_rows for p in _parts(tmp_path)] == [3]
    clock.now = 45.0
    writer.write(_record(3).to_dict())
    assert len(_parts(tmp_path)) == 1  # 15 s since the last part
    writer.close()  # the last part
    assert [pq.read_metadata(p).num_rows for p in _parts(tmp_path)] == [3, 1]


def test_a_torn_last_line_and_a_half_written_part_lose_no_complete_record(tmp_path: Path) -> None:
    records = [_record(i) for i in range(12)]
    writer = RecordWriter(tmp_path, part_rows=5, part_seconds=1e9)
    for r in records:
        writer.write(r.to_dict())
    # the process dies while writing part 3 (its temporary file) and in the middle of a JSONL line
    (tmp_path / RECORDS_PARTS / "part-000003.parquet.tmp").write_bytes(b"PAR1 half a part")
    with (tmp_path / RECORDS_FILE).open("a", encoding="utf-8") as fh:
        fh.write('{"run_id": "r", "request_id": "torn", "att')
    df = read_records(tmp_path)
    assert df.attrs["skipped_lines"] == 1
    assert _rows(df) == _expected(records)
    written = compact_records(tmp_path)
    assert written == 12 and not (tmp_path / RECORDS_PARTS).exists()
    again = read_records(tmp_path)
    assert _rows(again) == _expected(records)
    assert again.attrs["skipped_lines"] == 1  # compaction keeps the count in records.parquet


def test_a_damaged_part_is_read_from_the_jsonl_instead(tmp_path: Path) -> None:
    records = [_record(i) for i in range(15)]
    writer = RecordWriter(tmp_path, part_rows=5, part_seconds=1e9)
    for r in records:
        writer.write(r.to_dict())
    writer.close()
    parts = _parts(tmp_path)
    assert len(parts) == 3
    parts[1].write_bytes(parts[1].read_bytes()[:100])  # a part a disk fault cut short
    df = read_records(tmp_path)
    assert _rows(df) == _expected(records) and df.attrs["skipped_lines"] == 0


def test_a_killed_run_keeps_every_record_it_wrote_in_parts_and_jsonl(tmp_path: Path) -> None:
    """A real process appends with RecordWriter (a part every 40 records) and is SIGKILLed."""
    writer = f"""
        from pathlib import Path
        from harness.record import RecordWriter
        w = RecordWriter(Path({str(tmp_path)!r}), part_rows=40)
        """
    written = kill_writer_after(
        writer, 300, chunk_times="[i * 0.5, i * 0.5 + 0.1]", output_excerpt='"x" * 500'
    )
    assert written >= 300 and len(_parts(tmp_path)) >= 7
    df = read_records(tmp_path)
    assert len(df) >= written + 1
    assert df.attrs["skipped_lines"] <= 1
    assert list(df["request_id"]) == [f"q{i}" for i in range(len(df))]
    assert [list(x) for x in df["chunk_times"][:3]] == [[0.0, 0.1], [0.5, 0.6], [1.0, 1.1]]
    n = len(df)
    assert compact_records(tmp_path) == n  # `bakeoff report` on the interrupted run
    assert list(read_records(tmp_path)["request_id"]) == [f"q{i}" for i in range(n)]


def test_an_old_run_folder_with_only_records_jsonl_reads_and_compacts(tmp_path: Path) -> None:
    records = [_record(i) for i in range(9)]
    write_run(tmp_path, records)  # what a harness before parts wrote
    assert _rows(read_records(tmp_path)) == _expected(records)
    df = open_records(tmp_path, ["request_id", "chunk_times"])  # the report's reader
    assert list(df.columns) == ["request_id", "chunk_times"]
    assert list(df["request_id"]) == [r.request_id for r in records]
    assert [list(x) for x in df["chunk_times"]] == [r.chunk_times for r in records]
    assert (tmp_path / RECORDS_PARQUET).exists()
    assert _rows(read_records(tmp_path)) == _expected(records)


def test_compaction_writes_row_groups_and_equals_the_jsonl(tmp_path: Path) -> None:
    records = [_record(i) for i in range(47)]
    writer = RecordWriter(tmp_path, part_rows=10, part_seconds=1e9)
    for r in records:
        writer.write(r.to_dict())
    writer.close()
    assert compact_records(tmp_path) == 47
    meta = pq.read_metadata(tmp_path / RECORDS_PARQUET)
    assert meta.num_row_groups == 5 and meta.num_rows == 47
    assert pq.read_schema(tmp_path / RECORDS_PARQUET).names == list(RECORD_FIELDS)
    assert _rows(read_records(tmp_path)) == _expected(records)


def test_a_writer_reopened_on_a_folder_with_lines_and_no_parts_leaves_the_jsonl_in_charge(
    tmp_path: Path,
) -> None:
    first = [_record(i) for i in range(4)]
    write_run(tmp_path, first)
    writer = RecordWriter(tmp_path, part_rows=2, part_seconds=1e9)
    later = [_record(i) for i in range(4, 9)]
    for r in later:
        writer.write(r.to_dict())
    writer.close()
    assert _parts(tmp_path) == []  # a part would hide the first 4 lines from readers
    assert _rows(read_records(tmp_path)) == _expected(first + later)


def test_values_of_the_wrong_type_are_converted_or_nulled_not_fatal(tmp_path: Path) -> None:
    row = make_record(request_id="odd").to_dict()
    row.update(status=200.0, output_tokens="many", model_served=7, chunk_times=[1, 2])
    writer = RecordWriter(tmp_path, part_rows=1, part_seconds=1e9)
    writer.write(row)
    writer.close()
    [back] = _rows(read_records(tmp_path))
    assert back["status"] == 200 and back["output_tokens"] is None
    assert back["model_served"] == "7" and back["chunk_times"] == [1.0, 2.0]


def test_a_read_takes_only_the_columns_asked_for(tmp_path: Path) -> None:
    """An unused column of 64 MB stays on disk: Arrow's allocations grow by far less than it."""
    n, big = 256, "z" * (256 * 1024)
    writer = RecordWriter(tmp_path, part_rows=64, part_seconds=1e9)
    for i in range(n):
        writer.write(make_record(request_id=f"q{i}", finish_reason=big, t_end=float(i)).to_dict())
    writer.close()
    compact_records(tmp_path)
    pool = pa.default_memory_pool()
    before = pool.bytes_allocated()
    df = read_records(tmp_path, ["request_id", "t_end"], lean=True)
    grown = pool.bytes_allocated() - before
    assert list(df.columns) == ["request_id", "t_end"] and len(df) == n
    assert grown < 4 * 1024 * 1024, grown
    full = read_records(tmp_path)  # the same file read whole does hold the big column
    assert len(full["finish_reason"][0]) == len(big)


def test_asking_for_an_unknown_column_is_an_error(tmp_path: Path) -> None:
    write_run(tmp_path, [_record(0)])
    with pytest.raises(ValueError, match="not record fields: nope"):
        read_records(tmp_path, ["request_id", "nope"])


def test_the_writer_holds_at_most_one_part_of_records_however_many_it_writes(tmp_path: Path) -> None:
    """A soak's master: 8,000 records of ~1 kB go through the writer; what it keeps is one part's worth."""
    import tracemalloc

    writer = RecordWriter(tmp_path, part_rows=200, part_seconds=1e9)
    row = make_record(output_excerpt="x" * 1000).to_dict()
    tracemalloc.start()
    try:
        for i in range(8_000):
            writer.write({**row, "request_id": f"q{i}"})
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    writer.close()
    # every record kept would be 8 MB and more; one part's records are about 0.3 MB
    assert held < 2 * 1024 * 1024, held
    assert len(_parts(tmp_path)) == 40
    assert len(read_records(tmp_path, ["request_id"])) == 8_000
