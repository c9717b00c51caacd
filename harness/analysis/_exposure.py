"""Which faults each contender faced, for how long, on how many requests, and whether every contender
faced the same fault at the same time.

One row per (contender, fault) of the timeline:

    exposed          one of the contender's network paths was among the fault's (the fault events say which)
    endpoints        those paths' endpoints; on_primary: its primary among them
    seconds_inside   how long the fault was applied inside the measured window (0 when not exposed)
    requests_inside  the contender's logical requests whose life (t_intended → t_end) overlaps the window
                     (0 when not exposed)
    shared           the fault was applied, and every contender was exposed to it on its primary path at the
                     same offset (one timeline entry: ``each-contender``, or an endpoint every contender uses
                     as its primary). Resilience is comparable between contenders only over shared faults.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.analysis._faults import contender_endpoints, lives_overlap
from harness.analysis._phases import FaultWindow
from harness.analysis._rows import column_at, positions

__all__ = ["EXPOSURE_COLUMNS", "exposure_table"]

EXPOSURE_COLUMNS: tuple[str, ...] = (
    "contender",
    "fault_id",
    "fault",
    "kind",
    "target",
    "scope",
    "applied",
    "exposed",
    "endpoints",
    "on_primary",
    "start_s",
    "end_s",
    "seconds_inside",
    "requests_inside",
    "shared",
)


def exposure_table(
    lg: pd.DataFrame, windows: list[FaultWindow], contenders: list[str], chain_of: dict[str, tuple[str, ...]]
) -> pd.DataFrame:
    """The exposure table (columns :data:`EXPOSURE_COLUMNS`), contenders in the order given."""
    rows_of = positions(lg["contender"]) if len(lg) else {}

    def life(c: str) -> tuple[np.ndarray, np.ndarray]:
        """The contender's requests' (t_intended, t_end), an unfinished life ending where it began."""
        sel = rows_of.get(c)
        if sel is None:  # no request (or no table)
            return np.empty(0), np.empty(0)
        t, te = column_at(lg, "t_intended", sel, float), column_at(lg, "t_end", sel, float)
        return t, np.where(np.isfinite(te), te, t)

    rows: list[dict[str, Any]] = []
    for w in windows:
        per: list[dict[str, Any]] = []
        for c in contenders:
            chain = chain_of.get(c, ())
            mine = contender_endpoints(w, c, chain)
            exposed = bool(mine) and w.applied
            n = int(lives_overlap(*life(c), w.start, w.end).sum()) if exposed else 0
            per.append(
                {
                    "contender": c,
                    "fault_id": w.fault_id,
                    "fault": w.name,
                    "kind": w.kind,
                    "target": w.target,
                    "scope": w.scope,
                    "applied": w.applied,
                    "exposed": exposed,
                    "endpoints": ", ".join(mine),
                    "on_primary": bool(chain) and chain[0] in mine,
                    "start_s": w.start,
                    "end_s": w.end,
                    "seconds_inside": w.duration if exposed else 0.0,
                    "requests_inside": n,
                }
            )
        shared = w.applied and bool(per) and all(r["exposed"] and r["on_primary"] for r in per)
        rows.extend({**r, "shared": shared} for r in per)
    return pd.DataFrame(rows, columns=list(EXPOSURE_COLUMNS))
