"""Builders of records, fault events and record frames for tests (``from factories import ...``).

One place knows what a valid record looks like, so a test names only the fields it is about. Field
names are checked: a typo raises ``TypeError`` instead of silently adding a column no code reads.
Frames come from the same constructor ``read_records`` uses, so a test frame has the shape and
defaults of a real run's.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from harness.record import FAULTS_FILE, RECORDS_FILE, FaultEvent, JsonlWriter, RequestRecord
from harness.record._rundir import _frame

__all__ = [
    "fault_event_row",
    "kill_writer_after",
    "make_fault_event",
    "make_record",
    "record_row",
    "records_frame",
    "write_run",
]


def make_record(**overrides: Any) -> RequestRecord:
    """A successful final attempt: request ``q1`` of contender ``A`` on endpoint ``a1`` (openai-chat,
    model ``m``, usage reported, every time at 0.0); ``overrides`` replace any field."""
    base = RequestRecord(
        run_id="r",
        request_id="q1",
        attempt=1,
        contender="A",
        endpoint="a1",
        dialect="openai-chat",
        model_requested="m",
        outcome="ok",
        usage_source="reported",
    )
    return dataclasses.replace(base, **overrides)


def record_row(**overrides: Any) -> dict[str, Any]:
    """:func:`make_record` as the dict one line of ``records.jsonl`` holds."""
    return make_record(**overrides).to_dict()


def records_frame(records: Iterable[RequestRecord | Mapping[str, Any]] = ()) -> pd.DataFrame:
    """The frame ``read_records`` would give for these records: exactly ``RECORD_FIELDS`` as columns,
    fields a row leaves out at their defaults."""
    rows = [r.to_dict() if isinstance(r, RequestRecord) else dict(r) for r in records]
    return _frame(rows)


def make_fault_event(**overrides: Any) -> FaultEvent:
    """Fault ``f1-outage`` applied to endpoint ``a1`` at t=10 s; ``overrides`` replace any field."""
    base = FaultEvent(
        run_id="r",
        fault_id="f1-outage",
        action="apply",
        fault="outage",
        kind="outage",
        target="a1",
        endpoints=["a1"],
        t_requested=10.0,
        t_applied=10.0,
    )
    return dataclasses.replace(base, **overrides)


def fault_event_row(**overrides: Any) -> dict[str, Any]:
    """:func:`make_fault_event` as the dict one line of ``faults.jsonl`` holds."""
    return make_fault_event(**overrides).to_dict()


def write_run(run_dir: Path, records: Iterable[RequestRecord], events: Iterable[FaultEvent] = ()) -> Path:
    """A run folder's ``records.jsonl`` and ``faults.jsonl`` written by the harness's own writer."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in ((RECORDS_FILE, records), (FAULTS_FILE, events)):
        writer = JsonlWriter(run_dir / name)
        try:
            writer.write_many(r.to_dict() for r in rows)
        finally:
            writer.close()
    return run_dir


_ROOT = Path(__file__).resolve().parents[1]


def kill_writer_after(writer: str, records: int = 300, **fields: Any) -> int:
    """Run a real process that appends records for ever with ``writer`` (Python building ``w``, which has
    ``write(dict)``), and SIGKILL it once it says it wrote ``records``. Record ``i`` is ``q<i>`` of
    contender ``A``; ``fields`` are Python expressions in ``i`` for other fields. Returns the number of the
    last record it reported written."""
    extra = "".join(f", {k}={v}" for k, v in fields.items())
    child = textwrap.dedent(writer) + textwrap.dedent(
        f"""
        from harness.record import RequestRecord
        i = 0
        while True:
            r = RequestRecord(run_id="r", request_id=f"q{{i}}", attempt=1, contender="A", endpoint="a1",
                              dialect="openai-chat", model_requested="m"{extra})
            w.write(r.to_dict())
            print(i, flush=True)
            i += 1
        """
    )
    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    written = -1
    try:
        for line in proc.stdout:
            written = int(line)
            if written >= records:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    return written
