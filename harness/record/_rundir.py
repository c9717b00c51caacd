"""The run folder: crash-safe append-only writers, Parquet parts written during the run, and readers.

Layout of ``reports/<run-id>/``::

    manifest.json     what the run was asked to do, resolved (no secrets): written once before the load
    end.json          how it ended (reason, elapsed time, problems, workers): written once at the end
    scenario.yaml     the scenario as resolved, overrides applied (environment variable names, no keys)
    prompts.jsonl     a byte-for-byte copy of the prompt set (its sha256 is in the manifest)
    records.jsonl     one RequestRecord per line, appended and flushed as attempts finish
    records.parts/    part-NNNNNN.parquet: the same records in Parquet, one part every ``part_rows``
                      records or ``part_seconds`` seconds during the run (``RecordWriter``)
    faults.jsonl      one FaultEvent per line
    records.parquet   every record in one file, row group by row group: written at the end of a run
                      (or by ``bakeoff report``) from the parts and the JSONL lines no part holds yet
    report.html, summary.json, *.csv   written by the report

``records.jsonl`` is the crash-safe log: a run killed at any moment leaves at worst one partial last
line, which the reader skips (and counts). A part is written to a temporary name and renamed, so a part
file is always complete; each part says up to which byte of ``records.jsonl`` it holds the records. A
reader takes the parts, then the JSONL lines after the last part's byte: a killed run, an old run folder
with only ``records.jsonl``, or a compacted one read the same. Nothing here holds more than one part or
one batch of lines in memory, beyond the frame a reader is asked for.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from harness._errors import ReportError
from harness.record._schema import RECORD_FIELDS, RequestRecord

if TYPE_CHECKING:
    import pandas as pd  # imported lazily at run time: writing records must not load pandas
    import pyarrow as pa

    from harness.record._columns import ParquetRecords

__all__ = [
    "FAULTS_FILE",
    "PART_ROWS",
    "PART_SECONDS",
    "PROMPTS_FILE",
    "RECORDS_FILE",
    "RECORDS_PARQUET",
    "RECORDS_PARTS",
    "SCENARIO_FILE",
    "JsonlWriter",
    "RecordWriter",
    "arrow_table",
    "compact_records",
    "open_records",
    "read_fault_events",
    "read_records",
    "record_schema",
]

RECORDS_FILE = "records.jsonl"
RECORDS_PARQUET = "records.parquet"
RECORDS_PARTS = "records.parts"  # folder of part-NNNNNN.parquet, written during the run
FAULTS_FILE = "faults.jsonl"
SCENARIO_FILE = "scenario.yaml"  # the scenario as resolved (overrides applied; key *names* only)
PROMPTS_FILE = "prompts.jsonl"  # a byte-for-byte copy of the prompt set the run used

PART_ROWS = 20_000
"""Records per Parquet part (and per JSONL batch a reader converts at a time)."""
PART_SECONDS = 60.0
"""A part is written at least this often while records arrive, so a soak's Parquet stays current."""

_END_KEY = b"bakeoff.jsonl_end"  # part metadata: byte of records.jsonl up to which the part holds records
_SKIPPED_KEY = b"bakeoff.skipped_lines"  # records.parquet metadata: unreadable JSONL lines at compaction


class JsonlWriter:
    """Append JSON lines and flush them to the OS at once, so a killed process loses nothing written.

    Thread-safe; under gevent the lock is cooperative. ``fsync`` happens on ``flush(sync=True)`` and close.
    ``offset`` is the file's size in bytes after the last write (every write ends a line).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[bytes] = path.open("ab", buffering=1 << 16)
        self._lock = threading.Lock()
        self.count = 0
        self.offset = self._fh.tell()

    def write(self, row: dict[str, Any]) -> None:
        self.write_many((row,))

    def write_many(self, rows: Iterable[dict[str, Any]]) -> None:
        rows = list(rows)
        text = "".join(
            json.dumps(r, separators=(",", ":"), ensure_ascii=False, allow_nan=False) + "\n" for r in rows
        )
        if not text:
            return
        data = text.encode("utf-8")
        with self._lock:
            self._fh.write(data)
            self._fh.flush()
            self.count += len(rows)
            self.offset += len(data)
            self._wrote(rows)

    def _wrote(self, rows: list[dict[str, Any]]) -> None:
        """Called with the lock held after ``rows`` reached the file (a hook for subclasses)."""

    def flush(self, sync: bool = False) -> None:
        with self._lock:
            self._fh.flush()
            if sync:
                os.fsync(self._fh.fileno())

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._closing()
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._fh.close()

    def _closing(self) -> None:
        """Called with the lock held before the file closes (a hook for subclasses)."""


class RecordWriter(JsonlWriter):
    """``records.jsonl`` as :class:`JsonlWriter` writes it, plus the same records in Parquet parts.

    Every ``part_rows`` records, or when a record arrives ``part_seconds`` after the last part, the
    records since the last part become ``records.parts/part-NNNNNN.parquet`` (written under a temporary
    name, then renamed: a part is complete or absent). At most one part's records are held in memory, so
    the writer does not grow with the length of the run. ``close`` writes the last part.
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        part_rows: int = PART_ROWS,
        part_seconds: float = PART_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(run_dir / RECORDS_FILE)
        self.parts_dir = run_dir / RECORDS_PARTS
        self.part_rows = max(int(part_rows), 1)
        self.part_seconds = part_seconds
        self._clock = clock
        self._last_part = clock()
        self._buffer: list[dict[str, Any]] = []
        self.parts = len(_part_files(self.parts_dir))
        # records the JSONL already held when this writer opened it (a resumed folder) have no part yet:
        # readers take them from the JSONL, after the last part's byte; so the next part must start here
        self._covered_from = self.offset
        if _parts_end(self.parts_dir) != self.offset:
            self._covered_from = -1  # parts would skip lines: write none, readers use the JSONL

    def _wrote(self, rows: list[dict[str, Any]]) -> None:
        if self._covered_from < 0:
            return
        self._buffer.extend(rows)
        if len(self._buffer) >= self.part_rows or self._clock() - self._last_part >= self.part_seconds:
            self._write_part()

    def _closing(self) -> None:
        if self._covered_from >= 0 and self._buffer:
            self._write_part()

    def _write_part(self) -> None:
        import pyarrow.parquet as pq

        rows, self._buffer = self._buffer, []
        self._last_part = self._clock()
        table = arrow_table(rows)
        table = table.replace_schema_metadata({_END_KEY: str(self.offset).encode()})
        self.parts_dir.mkdir(exist_ok=True)
        path = self.parts_dir / f"part-{self.parts + 1:06d}.parquet"
        tmp = path.with_suffix(".parquet.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)
        self.parts += 1


# --- the Arrow schema of a record ------------------------------------------------------------------------

_SCHEMA: list[Any] = []


def record_schema() -> pa.Schema:
    """The Arrow type of every record field, from the annotations of :class:`RequestRecord`."""
    if _SCHEMA:
        return _SCHEMA[0]
    import dataclasses

    import pyarrow as pa

    def arrow_type(annotation: str) -> pa.DataType:
        if annotation.startswith("list[float]"):
            return pa.list_(pa.float64())
        if annotation.startswith("list[int]"):
            return pa.list_(pa.int64())
        base = annotation.replace(" | None", "").strip()
        return {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_()}.get(base, pa.string())

    schema = pa.schema([pa.field(f.name, arrow_type(str(f.type))) for f in dataclasses.fields(RequestRecord)])
    _SCHEMA.append(schema)
    return schema


def _defaults() -> dict[str, Any]:
    return RequestRecord(
        run_id="", request_id="", attempt=0, contender="", endpoint="", dialect="", model_requested=""
    ).to_dict()


def _coerce(value: Any, kind: str) -> Any:
    """One value an Arrow array of ``kind`` refused, made to fit, or None when it cannot."""
    try:
        if kind == "string":
            return value if isinstance(value, str) else json.dumps(value)
        if kind == "int64":
            f = float(value)
            return int(f) if f.is_integer() else None
        if kind == "double":
            return float(value)
        if kind == "bool":
            return bool(value) if isinstance(value, (bool, int)) else None
        if isinstance(value, list):  # list<double> or list<int64>
            cast = float if "double" in kind else int
            return [cast(x) for x in value]
    except (TypeError, ValueError, OverflowError):
        return None
    return None


def arrow_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> pa.Table:
    """Record dicts as an Arrow table of :func:`record_schema` (``columns`` of it, in that order).

    A missing field takes its default (records written by an older harness); unknown keys are dropped; a
    value of the wrong type is converted when it can be (``200.0`` for an int), else null.
    """
    import pyarrow as pa

    schema = record_schema()
    names = list(columns) if columns is not None else list(RECORD_FIELDS)
    defaults = _defaults()
    arrays = []
    for name in names:
        typ = schema.field(name).type
        values = [r.get(name, defaults[name]) for r in rows]
        try:
            arrays.append(pa.array(values, type=typ))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            kind = str(typ)
            fixed = []
            for v in values:
                try:
                    pa.array([v], type=typ)
                    fixed.append(v)
                except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
                    fixed.append(_coerce(v, kind))
            arrays.append(pa.array(fixed, type=typ))
    return pa.Table.from_arrays(arrays, schema=pa.schema([schema.field(n) for n in names]))


# --- reading ---------------------------------------------------------------------------------------------


def _part_files(parts_dir: Path) -> list[Path]:
    return sorted(parts_dir.glob("part-*.parquet")) if parts_dir.is_dir() else []


def _readable_parts(parts_dir: Path) -> tuple[list[Path], int]:
    """The parts a reader can trust, in order, and the JSONL byte up to which they hold the records.

    A part that cannot be read, or whose byte does not follow its predecessor's, ends the list: the
    records after the last good part come from the JSONL."""
    import pyarrow.parquet as pq

    good: list[Path] = []
    end = 0
    for path in _part_files(parts_dir):
        try:
            meta = pq.read_metadata(path).metadata or {}
            part_end = int(meta[_END_KEY])
        except Exception:  # a damaged part: the JSONL still has its records
            break
        if part_end < end:
            break
        good.append(path)
        end = part_end
    return good, end


def _parts_end(parts_dir: Path) -> int:
    return _readable_parts(parts_dir)[1]


def _jsonl_batches(path: Path, start: int, batch: int) -> Iterator[tuple[list[dict[str, Any]], int]]:
    """Rows of a JSONL file from byte ``start``, ``batch`` at a time, each with its unreadable lines."""
    if not path.exists():
        return
    rows: list[dict[str, Any]] = []
    bad = 0
    with path.open("rb") as fh:
        fh.seek(min(start, path.stat().st_size))
        for raw in fh:
            line = raw.decode("utf-8", errors="replace")
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(row, dict):
                rows.append(row)
            else:
                bad += 1
            if len(rows) >= batch:
                yield rows, bad
                rows, bad = [], 0
    if rows or bad:
        yield rows, bad


def _read_jsonl(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Rows of a JSONL file and the number of unreadable lines (a torn last line after a crash)."""
    rows: list[dict[str, Any]] = []
    bad = 0
    for part, n_bad in _jsonl_batches(path, 0, 1 << 30):
        rows.extend(part)
        bad += n_bad
    return rows, bad


def read_fault_events(run_dir: Path) -> list[dict[str, Any]]:
    rows, _ = _read_jsonl(run_dir / FAULTS_FILE)
    return rows


def _project(table: pa.Table, names: list[str]) -> pa.Table:
    """``names`` of ``table`` in that order; a field an older file lacks comes as its default."""
    import pyarrow as pa

    schema = record_schema()
    defaults = _defaults()
    arrays = []
    for name in names:
        if name in table.column_names:
            arrays.append(table.column(name))
        else:
            arrays.append(pa.array([defaults[name]] * table.num_rows, type=schema.field(name).type))
    return pa.Table.from_arrays(arrays, names=names)


def _record_tables(run_dir: Path, names: list[str], batch: int) -> Iterator[tuple[pa.Table, int]]:
    """The records of a run folder without ``records.parquet``: its parts, then the JSONL lines after
    them, as tables of ``names`` (with each table's unreadable lines)."""
    import pyarrow.parquet as pq

    parts, end = _readable_parts(run_dir / RECORDS_PARTS)
    for path in parts:
        have = set(pq.read_schema(path).names)
        yield _project(pq.read_table(path, columns=[n for n in names if n in have]), names), 0
    for rows, bad in _jsonl_batches(run_dir / RECORDS_FILE, end, batch):
        yield arrow_table(rows, names), bad


_FEW = 20  # a string column with at most one distinct value per this many rows becomes categorical


def _categorical(table: pa.Table) -> pa.Table:
    """String columns with few distinct values (contender, endpoint, outcome, classes...) dictionary
    encoded, so pandas holds them as categoricals: a small integer per row, not a string, and grouping or
    comparing them works on the codes. Which columns qualify is read from the data, not listed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows < 2 * _FEW:
        return table
    columns: list[Any] = []
    for column in table.unify_dictionaries().columns:
        if pa.types.is_dictionary(column.type):
            few = not column.num_chunks or len(column.chunk(0).dictionary) * _FEW <= table.num_rows
            columns.append(column if few else pc.cast(column, column.type.value_type))
            continue
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            coded = pc.dictionary_encode(column).combine_chunks()
            if len(coded.dictionary) * _FEW <= table.num_rows:
                columns.append(coded)
                continue
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def _to_frame(held: list[pa.Table], lean: bool) -> pd.DataFrame:
    """The table in ``held`` (taken out of it: with no other reference left, a lean conversion frees each
    Arrow column as it is converted) as a frame. ``lean``: list columns stay Arrow (``pd.ArrowDtype``) and
    columns without nulls share Arrow's memory (read-only); else a frame of plain NumPy columns, writable,
    a NumPy array per list cell."""
    import pandas as pd
    import pyarrow as pa

    table = held.pop()
    if not lean:
        df: pd.DataFrame = table.to_pandas()
        return df

    def mapper(typ: pa.DataType) -> Any:
        return pd.ArrowDtype(typ) if pa.types.is_list(typ) else None

    table = _categorical(table)
    lean_df: pd.DataFrame = table.to_pandas(split_blocks=True, self_destruct=True, types_mapper=mapper)
    return lean_df


def _field_names(columns: Sequence[str] | None) -> list[str]:
    """``columns`` as a list (default: every record field); a name that is no record field is refused."""
    names = list(columns) if columns is not None else list(RECORD_FIELDS)
    unknown = [n for n in names if n not in RECORD_FIELDS]
    if unknown:
        raise ValueError(f"not record fields: {', '.join(unknown)}")
    return names


def read_records(run_dir: Path, columns: Sequence[str] | None = None, *, lean: bool = False) -> pd.DataFrame:
    """The attempt records of a run as a pandas DataFrame with ``columns`` (default: all of
    ``RECORD_FIELDS``), in that order; only those columns are read.

    Reads ``records.parquet`` when it exists, else the Parquet parts and the ``records.jsonl`` lines after
    them (skipping a torn last line). ``df.attrs["skipped_lines"]`` tells how many lines could not be
    read. ``lean`` keeps the list columns (chunk_times, chunk_deltas) in Arrow memory (``pd.ArrowDtype``)
    rather than one NumPy array object per record, and shares Arrow's memory where it can: the frame is
    then read-only (for the report, which never changes it).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = _field_names(columns)
    parquet = run_dir / RECORDS_PARQUET
    if parquet.exists():
        try:
            # strings read straight into dictionaries (Parquet stores them so): no dense copy of a column
            # that holds a handful of values; _categorical decodes the ones with many
            have = set(pq.read_schema(parquet).names)  # a file from before a field existed lacks it
            strings = [f.name for f in record_schema() if pa.types.is_string(f.type) and f.name in have]
            pf = pq.ParquetFile(parquet, read_dictionary=strings if lean else None)
            held = [_project(pf.read(columns=[n for n in names if n in have]), names)]
            skipped = int((pf.metadata.metadata or {}).get(_SKIPPED_KEY, b"0"))
        except Exception as exc:
            raise ReportError(f"{parquet}: cannot read: {exc}") from None
        df = _to_frame(held, lean)
        df.attrs["skipped_lines"] = skipped
        return df
    if not (run_dir / RECORDS_FILE).exists() and not _part_files(run_dir / RECORDS_PARTS):
        raise ReportError(f"{run_dir}: no {RECORDS_FILE} or {RECORDS_PARQUET}: not a run folder")
    tables: list[pa.Table] = []
    skipped = 0
    for table, bad in _record_tables(run_dir, names, PART_ROWS):
        tables.append(table)
        skipped += bad
    held = [pa.concat_tables(tables) if tables else arrow_table([], names)]
    del tables
    df = _to_frame(held, lean)
    df.attrs["skipped_lines"] = skipped
    return df


def compact_records(run_dir: Path) -> int:
    """Write ``records.parquet`` (atomically) from the parts and the JSONL lines after them, one row group
    at a time, then remove the parts. Returns the number of records written."""
    import pyarrow.parquet as pq

    out = run_dir / RECORDS_PARQUET
    tmp = run_dir / (RECORDS_PARQUET + ".tmp")
    names = list(RECORD_FIELDS)
    written = skipped = 0
    with pq.ParquetWriter(tmp, record_schema()) as writer:
        for table, bad in _record_tables(run_dir, names, PART_ROWS):
            skipped += bad
            if table.num_rows:
                writer.write_table(table.replace_schema_metadata(None), row_group_size=PART_ROWS)
                written += table.num_rows
        writer.add_key_value_metadata({_SKIPPED_KEY: str(skipped).encode()})
    os.replace(tmp, out)
    shutil.rmtree(run_dir / RECORDS_PARTS, ignore_errors=True)
    return written


def open_records(run_dir: Path, columns: Sequence[str] | None = None) -> ParquetRecords:
    """The run's records (``columns`` of them) as a :class:`ParquetRecords`: each column read from
    ``records.parquet`` when the analysis asks for it, so the report holds no frame of every record.
    Compacts the run's records to ``records.parquet`` first when that has not happened (a run that ended,
    or was killed, before compaction)."""
    import pyarrow.parquet as pq

    from harness.record._columns import ParquetRecords

    names = _field_names(columns)
    parquet = run_dir / RECORDS_PARQUET
    if not parquet.exists():
        if not (run_dir / RECORDS_FILE).exists() and not _part_files(run_dir / RECORDS_PARTS):
            raise ReportError(f"{run_dir}: no {RECORDS_FILE} or {RECORDS_PARQUET}: not a run folder")
        compact_records(run_dir)
    try:
        skipped = int((pq.read_metadata(parquet).metadata or {}).get(_SKIPPED_KEY, b"0"))
        return ParquetRecords(parquet, names, skipped=skipped)
    except Exception as exc:
        raise ReportError(f"{parquet}: cannot read: {exc}") from None


def _frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The frame ``read_records`` gives for these record dicts (missing fields at their defaults)."""
    return _to_frame([arrow_table(rows)], lean=False)
