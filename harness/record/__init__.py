"""Records, fault events, the run folder and its crash-safe writers."""

from __future__ import annotations

from harness.record._rundir import (
    FAULTS_FILE,
    MANIFEST_FILE,
    PROMPTS_FILE,
    RECORDS_FILE,
    RECORDS_PARQUET,
    SCENARIO_FILE,
    JsonlWriter,
    compact_records,
    read_fault_events,
    read_manifest,
    read_records,
    write_manifest,
)
from harness.record._schema import (
    ERROR_CLASSES,
    RECORD_FIELDS,
    TIME_FIELDS,
    ErrorClass,
    FaultEvent,
    Outcome,
    RequestRecord,
    UsageSource,
)

__all__ = [
    "ERROR_CLASSES",
    "FAULTS_FILE",
    "MANIFEST_FILE",
    "PROMPTS_FILE",
    "RECORDS_FILE",
    "RECORDS_PARQUET",
    "RECORD_FIELDS",
    "SCENARIO_FILE",
    "TIME_FIELDS",
    "ErrorClass",
    "FaultEvent",
    "JsonlWriter",
    "Outcome",
    "RequestRecord",
    "UsageSource",
    "compact_records",
    "read_fault_events",
    "read_manifest",
    "read_records",
    "write_manifest",
]
