"""The run folder's files: crash-safe JSONL writing, compaction to Parquet, and the readers."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from factories import kill_writer_after, make_fault_event, make_record, write_run

from harness._errors import ReportError
from harness.record import (
    FAULTS_FILE,
    RECORD_FIELDS,
    RECORDS_FILE,
    RECORDS_PARQUET,
    FaultEvent,
    JsonlWriter,
    RequestRecord,
    compact_records,
    read_fault_events,
    read_records,
)

ROOT = Path(__file__).resolve().parents[3]


def _records(n: int = 6) -> list[RequestRecord]:
    """Attempts that use every kind of column: ints, floats, None, lists, text, booleans."""
    out = []
    for i in range(n):
        ok = i % 3 != 2
        out.append(
            make_record(
                request_id=f"q{i}",
                attempt=1 + i % 2,
                seq=i,
                t_intended=i * 0.5,
                t_dispatch=i * 0.5 + 0.001,
                t_headers=i * 0.5 + 0.05 if ok else None,
                t_first_token=i * 0.5 + 0.1 if ok else None,
                t_end=i * 0.5 + 0.4,
                chunk_times=[i * 0.5 + 0.1, i * 0.5 + 0.2] if ok else [],
                status=200 if ok else 503,
                outcome="ok" if ok else "error",
                error_class=None if ok else "overloaded",
                output_tokens=12 if ok else None,
                cost_usd=0.0012 * ok,
                is_final_attempt=i % 2 == 1,
                output_excerpt="Grüße — 你好 <b>" if ok else None,
            )
        )
    return out


def _cells(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows with arrays as lists and NaN as None, so frames from JSONL and Parquet compare by value."""

    def plain(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return [plain(x) for x in v.tolist()]
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, np.generic):
            v = v.item()
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        return v

    return [{str(k): plain(v) for k, v in row.items()} for row in df.to_dict("records")]


def test_a_torn_last_line_is_skipped_and_counted(tmp_path: Path) -> None:
    records = _records()
    write_run(tmp_path, records)
    path = tmp_path / RECORDS_FILE
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 25])  # a crash in the middle of the last line
    df = read_records(tmp_path)
    assert df.attrs["skipped_lines"] == 1
    assert list(df["request_id"]) == [r.request_id for r in records[:-1]]
    assert list(df.columns) == list(RECORD_FIELDS)


def test_lines_that_are_not_objects_are_counted_not_read(tmp_path: Path) -> None:
    write_run(tmp_path, _records(2))
    with (tmp_path / RECORDS_FILE).open("a", encoding="utf-8") as fh:
        fh.write("[1, 2]\n\n")
    df = read_records(tmp_path)
    assert (len(df), df.attrs["skipped_lines"]) == (2, 1)


def test_a_killed_writer_loses_no_record_it_wrote(tmp_path: Path) -> None:
    """A real process is SIGKILLed while it appends: every record it had written is read back."""
    writer = f"""
        from pathlib import Path
        from harness.record import JsonlWriter
        w = JsonlWriter(Path({str(tmp_path / RECORDS_FILE)!r}))
        """
    written = kill_writer_after(writer, 300, output_excerpt='"x" * 2000')
    df = read_records(tmp_path)
    assert written >= 300
    assert len(df) >= written + 1  # records 0..written were written before the child said so
    assert df.attrs["skipped_lines"] <= 1
    assert list(df["request_id"]) == [f"q{i}" for i in range(len(df))]


def test_concurrent_writers_never_interleave_lines(tmp_path: Path) -> None:
    writer = JsonlWriter(tmp_path / RECORDS_FILE)

    def work(k: int) -> None:
        for i in range(150):
            writer.write(make_record(request_id=f"t{k}-{i}", output_excerpt="y" * (50 + i)).to_dict())

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    writer.close()
    df = read_records(tmp_path)
    assert df.attrs["skipped_lines"] == 0 and writer.count == len(df) == 6 * 150
    assert len(set(df["request_id"])) == 6 * 150


def test_compaction_writes_exactly_the_record_fields(tmp_path: Path) -> None:
    write_run(tmp_path, _records())
    written = compact_records(tmp_path)
    assert not (tmp_path / (RECORDS_PARQUET + ".tmp")).exists()
    parquet = pd.read_parquet(tmp_path / RECORDS_PARQUET)
    assert list(parquet.columns) == list(RECORD_FIELDS)
    assert len(parquet) == written == 6


def test_jsonl_and_parquet_read_back_the_same_records(tmp_path: Path) -> None:
    records = _records()
    write_run(tmp_path, records)
    from_jsonl = read_records(tmp_path)
    compact_records(tmp_path)
    from_parquet = read_records(tmp_path)  # Parquet wins once it exists
    assert from_parquet.attrs["skipped_lines"] == 0
    assert list(from_jsonl.columns) == list(from_parquet.columns) == list(RECORD_FIELDS)
    assert _cells(from_jsonl) == _cells(from_parquet)
    # and both are the records that were written, field for field
    back = [RequestRecord.from_dict(row) for row in _cells(from_parquet)]
    assert [r.to_dict() for r in back] == [r.to_dict() for r in records]


def test_a_record_written_by_an_older_harness_gets_the_missing_fields_defaults(tmp_path: Path) -> None:
    row = make_record(request_id="old").to_dict()
    del row["output_excerpt"], row["max_tokens_exceeded"]
    (tmp_path / RECORDS_FILE).write_text(json.dumps({**row, "field_from_the_future": 1}) + "\n")
    df = read_records(tmp_path)
    assert list(df.columns) == list(RECORD_FIELDS)
    assert pd.isna(df.loc[0, "output_excerpt"]) and not df.loc[0, "max_tokens_exceeded"]


def test_a_parquet_file_written_before_the_gateway_fields_reads_with_them_empty(tmp_path: Path) -> None:
    # issue 17 added retry_after_source and gateway_*: a run folder compacted before stays readable
    new = (
        "retry_after_source",
        "gateway_fallbacks",
        "gateway_retries",
        "gateway_api_base",
        "gateway_provider",
    )
    old = pd.DataFrame([make_record(request_id=f"q{i}").to_dict() for i in range(3)]).drop(columns=list(new))
    old.to_parquet(tmp_path / RECORDS_PARQUET, index=False)
    df = read_records(tmp_path)
    assert list(df.columns) == list(RECORD_FIELDS) and list(df["request_id"]) == ["q0", "q1", "q2"]
    assert all(df[c].isna().all() for c in new)


def test_the_report_read_of_an_older_parquet_file_holds_few_valued_strings_as_categoricals(
    tmp_path: Path,
) -> None:
    # the report's read takes strings as dictionaries: a string field the file lacks must not break it
    rows = [make_record(request_id=f"q{i}", contender="ab"[i % 2]).to_dict() for i in range(60)]
    old = pd.DataFrame(rows).drop(columns=["gateway_api_base", "gateway_provider"])
    old.to_parquet(tmp_path / RECORDS_PARQUET, index=False)
    df = read_records(tmp_path, lean=True)
    assert list(df.columns) == list(RECORD_FIELDS)
    assert df["gateway_api_base"].isna().all() and df["gateway_provider"].isna().all()
    assert isinstance(df["contender"].dtype, pd.CategoricalDtype)  # 2 values in 60 rows
    assert list(df["contender"].astype(str)) == ["ab"[i % 2] for i in range(60)]
    assert not isinstance(df["request_id"].dtype, pd.CategoricalDtype)  # 60 values in 60 rows
    assert list(df["request_id"]) == [f"q{i}" for i in range(60)]


def test_gateway_fields_round_trip_through_jsonl_and_parquet(tmp_path: Path) -> None:
    rec = make_record(
        retry_after_s=60.0,
        retry_after_source="llm_provider-retry-after",
        gateway_fallbacks=1,
        gateway_retries=2,
        gateway_api_base="https://api.anthropic.com",
        gateway_provider="Anthropic",
        model_served="claude-3-5-haiku-20241022",
    )
    write_run(tmp_path, [rec])
    compact_records(tmp_path)
    (back,) = [RequestRecord.from_dict(row) for row in _cells(read_records(tmp_path))]
    assert back == rec


def test_unreadable_run_folders_are_report_errors(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"no records\.jsonl or records\.parquet"):
        read_records(tmp_path)
    (tmp_path / RECORDS_PARQUET).write_bytes(b"not parquet")
    with pytest.raises(ReportError, match="cannot read"):
        read_records(tmp_path)


def test_fault_events_round_trip(tmp_path: Path) -> None:
    events = [
        make_fault_event(spec={"kind": "outage", "toxicity": 1.0}, description="vendor A down"),
        make_fault_event(action="remove", t_requested=20.0, t_applied=20.004),
        make_fault_event(fault_id="f2-latency", outcome="error", detail="proxy refused", endpoints=[]),
    ]
    write_run(tmp_path, [], events)
    rows = read_fault_events(tmp_path)
    assert [FaultEvent(**row) for row in rows] == events
    assert len((tmp_path / FAULTS_FILE).read_text(encoding="utf-8").splitlines()) == 3  # one per line


def test_request_records_round_trip_and_ignore_unknown_fields() -> None:
    rec = _records(3)[2]
    assert RequestRecord.from_dict({**rec.to_dict(), "unknown": 1}) == rec
    assert list(rec.to_dict()) == list(RECORD_FIELDS)
