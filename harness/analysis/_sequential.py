"""Sequential runs on a common clock: contender k ran in slot k (starting at k × load.duration) and met
its own copy of the fault timeline (fault ids ``<id>@k``). Shifting each contender back by its slot
offset lets every later step treat the run as if the contenders had run side by side.

Chunk times are left alone: only their gaps are used, and gaps do not move with a shift.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pandas as pd

from harness.record import TIME_FIELDS, FaultInfo, RecordFrame, RunInfo

__all__ = ["align_sequential"]

_SLOT_ID = re.compile(r"^(?P<base>.+)@(?P<slot>\d+)$")


def align_sequential(
    records: RecordFrame, fault_events: list[dict[str, Any]], run: RunInfo
) -> tuple[RecordFrame, list[dict[str, Any]], RunInfo]:
    """Unchanged inputs unless the run was sequential with several contenders; else the aligned copies."""
    manifest = run.manifest
    load = manifest.load
    names = [c.name for c in manifest.contenders]
    if load.mode != "sequential" or len(names) < 2:
        return records, fault_events, run
    slot = float(load.duration)
    if slot <= 0:
        return records, fault_events, run
    offset_of = {n: k * slot for k, n in enumerate(names)}
    if len(records):
        offsets = records["contender"].map(offset_of).fillna(0.0).to_numpy(dtype=float)
        records = records.copy(deep=False)  # type: ignore[attr-defined] # columns replaced, never changed in place
        for col in (c for c in TIME_FIELDS if c in records.columns):  # a projected frame may lack some
            records[col] = pd.to_numeric(records[col], errors="coerce").to_numpy(dtype=float) - offsets
    events: list[dict[str, Any]] = []
    for ev in fault_events:
        m = _SLOT_ID.match(str(ev.get("fault_id", "")))
        if m is None:
            events.append(ev)
        elif m.group("slot") == "0":  # every slot met the same timeline; slot 0's times define the phases
            events.append({**ev, "fault_id": m.group("base")})
    faults: list[FaultInfo] = []
    seen: set[str] = set()
    for f in manifest.faults:
        m = _SLOT_ID.match(f.fault_id)
        if m is None:
            faults.append(f)
            continue
        base = m.group("base")
        if base not in seen:
            seen.add(base)
            at = f.at_s - int(m.group("slot")) * slot
            faults.append(f.model_copy(update={"fault_id": base, "at_s": max(at, 0.0)}))
    aligned = manifest.model_copy(update={"faults": tuple(faults), "duration_s": slot})
    return records, events, dataclasses.replace(run, manifest=aligned)
