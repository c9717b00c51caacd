"""Sequential runs on a common clock: contender k ran in slot k (starting at k × load.duration) and met
its own copy of the fault timeline (fault ids ``<id>@k``). Shifting each contender back by its slot
offset lets every later step treat the run as if the contenders had run side by side.

Chunk times are left alone: only their gaps are used, and gaps do not move with a shift.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from harness.record import TIME_FIELDS

__all__ = ["align_sequential"]

_SLOT_ID = re.compile(r"^(?P<base>.+)@(?P<slot>\d+)$")


def align_sequential(
    records: pd.DataFrame, fault_events: list[dict[str, Any]], manifest: dict[str, Any]
) -> tuple[pd.DataFrame, list[dict[str, Any]], dict[str, Any]]:
    """Unchanged inputs unless the run was sequential with several contenders; else the aligned copies."""
    load = manifest.get("load") or {}
    names = [str(c.get("name")) for c in manifest.get("contenders") or []]
    if load.get("mode") != "sequential" or len(names) < 2:
        return records, fault_events, manifest
    slot = float(load.get("duration") or 0.0)
    if slot <= 0:
        return records, fault_events, manifest
    offset_of = {n: k * slot for k, n in enumerate(names)}
    if len(records):
        offsets = records["contender"].map(offset_of).fillna(0.0).to_numpy(dtype=float)
        records = records.copy()
        for col in TIME_FIELDS:
            records[col] = pd.to_numeric(records[col], errors="coerce").to_numpy(dtype=float) - offsets
    events: list[dict[str, Any]] = []
    for ev in fault_events:
        m = _SLOT_ID.match(str(ev.get("fault_id", "")))
        if m is None:
            events.append(ev)
        elif m.group("slot") == "0":  # every slot met the same timeline; slot 0's times define the phases
            events.append({**ev, "fault_id": m.group("base")})
    faults: list[dict[str, Any]] = []
    seen: set[str] = set()
    for f in manifest.get("faults") or []:
        m = _SLOT_ID.match(str(f.get("fault_id", "")))
        if m is None:
            faults.append(f)
            continue
        base = m.group("base")
        if base not in seen:
            seen.add(base)
            at = float(f.get("at_s") or 0.0) - int(m.group("slot")) * slot
            faults.append({**f, "fault_id": base, "at_s": max(at, 0.0)})
    elapsed = manifest.get("elapsed_s")
    aligned = {
        **manifest,
        "faults": faults,
        "duration_s": slot,
        "elapsed_s": None if elapsed is None else min(float(elapsed), slot * len(names)),
        "sequential_slot_s": slot,
    }
    if manifest.get("interrupted"):
        aligned["elapsed_s"] = None  # the last contender's slot was cut short: the last record tells where
    return records, events, aligned
