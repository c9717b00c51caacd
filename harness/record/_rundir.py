"""The run folder: crash-safe append-only writers, compaction to Parquet, and readers.

Layout of ``reports/<run-id>/``::

    manifest.json     what the run was asked to do, resolved (no secrets): written once before the load
    end.json          how it ended (reason, elapsed time, problems, workers): written once at the end
    scenario.yaml     the scenario as resolved, overrides applied (environment variable names, no keys)
    prompts.jsonl     a byte-for-byte copy of the prompt set (its sha256 is in the manifest)
    records.jsonl     one RequestRecord per line, appended and flushed as attempts finish
    faults.jsonl      one FaultEvent per line
    records.parquet   written at the end of a run (or by ``bakeoff report``) from records.jsonl
    report.html, summary.json, *.csv   written by the report

``records.jsonl`` is the source of truth until ``records.parquet`` exists; a run killed at any moment
leaves at worst one partial last line, which the reader skips (and counts).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from harness._errors import ReportError

if TYPE_CHECKING:
    import pandas as pd
from harness.record._schema import RECORD_FIELDS, RequestRecord

if TYPE_CHECKING:
    import pandas as pd  # imported lazily at run time: writing records must not load pandas

__all__ = [
    "FAULTS_FILE",
    "PROMPTS_FILE",
    "RECORDS_FILE",
    "RECORDS_PARQUET",
    "SCENARIO_FILE",
    "JsonlWriter",
    "compact_records",
    "read_fault_events",
    "read_records",
    "records_for_report",
]

RECORDS_FILE = "records.jsonl"
RECORDS_PARQUET = "records.parquet"
FAULTS_FILE = "faults.jsonl"
SCENARIO_FILE = "scenario.yaml"  # the scenario as resolved (overrides applied; key *names* only)
PROMPTS_FILE = "prompts.jsonl"  # a byte-for-byte copy of the prompt set the run used


class JsonlWriter:
    """Append JSON lines and flush them to the OS at once, so a killed process loses nothing written.

    Thread-safe; under gevent the lock is cooperative. ``fsync`` happens on ``flush(sync=True)`` and close.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] = path.open("a", encoding="utf-8", buffering=1 << 16)
        self._lock = threading.Lock()
        self.count = 0

    def write(self, row: dict[str, Any]) -> None:
        self.write_many((row,))

    def write_many(self, rows: Iterable[dict[str, Any]]) -> None:
        text = "".join(
            json.dumps(r, separators=(",", ":"), ensure_ascii=False, allow_nan=False) + "\n" for r in rows
        )
        if not text:
            return
        with self._lock:
            self._fh.write(text)
            self._fh.flush()
            self.count += text.count("\n")

    def flush(self, sync: bool = False) -> None:
        with self._lock:
            self._fh.flush()
            if sync:
                os.fsync(self._fh.fileno())

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._fh.close()


def _read_jsonl(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Rows of a JSONL file and the number of unreadable lines (a torn last line after a crash)."""
    rows: list[dict[str, Any]] = []
    bad = 0
    if not path.exists():
        return rows, 0
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
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
    return rows, bad


def read_fault_events(run_dir: Path) -> list[dict[str, Any]]:
    rows, _ = _read_jsonl(run_dir / FAULTS_FILE)
    return rows


def read_records(run_dir: Path) -> pd.DataFrame:
    """All attempt records of a run as a pandas DataFrame with exactly ``RECORD_FIELDS`` as columns.

    Reads ``records.parquet`` when it exists, else ``records.jsonl`` (skipping a torn last line). A run
    written by an older version lacks the newer fields: they read as their defaults (``None``).
    ``df.attrs["skipped_lines"]`` tells how many lines could not be read.
    """
    import pandas as pd

    parquet = run_dir / RECORDS_PARQUET
    if parquet.exists():
        try:
            df = pd.read_parquet(parquet)
        except Exception as exc:
            raise ReportError(f"{parquet}: cannot read: {exc}") from None
        missing = [f for f in RECORD_FIELDS if f not in df.columns]
        if missing:  # written before these fields existed: they read as their defaults
            defaults = _defaults()
            df = df.assign(**{f: [defaults[f]] * len(df) for f in missing})[list(RECORD_FIELDS)]
        df.attrs["skipped_lines"] = 0
        return df
    if not (run_dir / RECORDS_FILE).exists():
        raise ReportError(f"{run_dir}: no {RECORDS_FILE} or {RECORDS_PARQUET}: not a run folder")
    rows, bad = _read_jsonl(run_dir / RECORDS_FILE)
    df = _frame(rows)
    df.attrs["skipped_lines"] = bad
    return df


def _defaults() -> dict[str, Any]:
    return RequestRecord(
        run_id="", request_id="", attempt=0, contender="", endpoint="", dialect="", model_requested=""
    ).to_dict()


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    defaults = _defaults()
    columns = {f: [r.get(f, defaults[f]) for r in rows] for f in RECORD_FIELDS}
    return pd.DataFrame(columns, columns=list(RECORD_FIELDS))


def compact_records(run_dir: Path) -> pd.DataFrame:
    """Write ``records.parquet`` from ``records.jsonl`` (atomically) and return the frame it holds."""
    rows, bad = _read_jsonl(run_dir / RECORDS_FILE)
    df = _frame(rows)
    out = run_dir / RECORDS_PARQUET
    tmp = run_dir / (RECORDS_PARQUET + ".tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, out)
    df.attrs["skipped_lines"] = bad
    return df


def records_for_report(run_dir: Path) -> pd.DataFrame:
    """The run's records, compacting ``records.jsonl`` to Parquet first when that has not happened (a run
    that ended, or was killed, before compaction): one read either way."""
    if not (run_dir / RECORDS_PARQUET).exists() and (run_dir / RECORDS_FILE).exists():
        return compact_records(run_dir)
    return read_records(run_dir)
