"""Metrics by turn index of multi-turn sessions (pure): how TTFT and the prompt grow with the conversation,
and how much of it a prompt cache served.

    by_turn(logical)  # contender × turn: requests, ok, not_sent, ttft p50/p95, input tokens, cache hits

Per contender and turn (1-based), over the logical requests of the measured window that are session turns:

    requests         logical requests (every outcome, not_sent included)
    ok               those that succeeded
    not_sent         turns never sent (the run ended, or an earlier turn failed with history: own)
    ttft_p50/_p95    ttft = t_first_token − t_dispatch of the final attempt, over the succeeded ones (s)
    input_tokens     median input tokens of the succeeded ones (as the vendor reported or bakeoff estimated)
    cache_hit_ratio  Σ cached_input_tokens / Σ input_tokens over the succeeded ones with both known
                     (NaN when none reports a cached count)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import numpy as np
import pandas as pd

from harness._percentile import percentile
from harness.analysis._rows import Codes
from harness.record import RecordFrame

__all__ = ["TURN_COLUMNS", "by_turn", "unsent_turns", "window_times"]

TURN_COLUMNS = (
    "contender",
    "turn",
    "requests",
    "ok",
    "not_sent",
    "ttft_p50",
    "ttft_p95",
    "input_tokens",
    "cache_hit_ratio",
)


def by_turn(
    logical: pd.DataFrame,
    contenders: list[str] | None = None,
    not_sent: Mapping[tuple[str, int], int] | None = None,
) -> pd.DataFrame:
    """One row per (contender, turn) of the session turns in ``logical`` (``TURN_COLUMNS``) and in
    ``not_sent`` ((contender, turn) → turns never sent, which the metrics' frame leaves out:
    :func:`unsent_turns`); empty when the run had no sessions. Contenders in ``contenders`` order, then any
    other; turns ascending."""
    unsent = dict(not_sent or {})
    if not len(logical) or "turn" not in logical.columns:
        logical = pd.DataFrame({c: [] for c in ("contender", "turn", "ok", "error_class", "ttft")})
        logical["input_tokens"] = logical["cached_input_tokens"] = []
    turn = pd.to_numeric(logical["turn"], errors="coerce").to_numpy(dtype=float)
    sel = ~np.isnan(turn)
    if not sel.any() and not unsent:
        return pd.DataFrame(columns=list(TURN_COLUMNS))
    at = np.flatnonzero(sel)  # the session turns' rows: only these are converted
    contender = Codes(np.asarray(logical["contender"].take(at).to_numpy(dtype=object), dtype=object))
    turn = turn[sel].astype(int)
    ok = logical["ok"].to_numpy(dtype=bool)[sel]
    error = np.asarray(logical["error_class"].take(at).to_numpy(dtype=object), dtype=object)
    ttft = pd.to_numeric(logical["ttft"], errors="coerce").to_numpy(dtype=float)[sel]
    inp = pd.to_numeric(logical["input_tokens"], errors="coerce").to_numpy(dtype=float)[sel]
    cached = pd.to_numeric(logical["cached_input_tokens"], errors="coerce").to_numpy(dtype=float)[sel]
    order = list(contenders or [])
    order += sorted((set(map(str, contender.names)) | {c for c, _k in unsent}) - set(order))
    rows = []
    for c in order:
        mine = np.flatnonzero(contender.codes == contender.code(c))  # positions, ascending
        mine_turn = turn[mine]
        for k in sorted(set(mine_turn.tolist()) | {k for cc, k in unsent if cc == c}):
            m = mine[mine_turn == k]
            good = m[ok[m]]
            both = good[~np.isnan(inp[good]) & ~np.isnan(cached[good])]
            total_in = float(inp[both].sum())
            never = unsent.get((c, int(k)), 0)
            rows.append(
                {
                    "contender": c,
                    "turn": int(k),
                    "requests": int(m.size) + never,
                    "ok": int(good.size),
                    "not_sent": int((error[m] == "not_sent").sum()) + never,
                    "ttft_p50": percentile(ttft[good], 50),
                    "ttft_p95": percentile(ttft[good], 95),
                    "input_tokens": percentile(inp[good], 50),
                    "cache_hit_ratio": float(cached[both].sum()) / total_in if total_in > 0 else float("nan"),
                }
            )
    return pd.DataFrame(rows, columns=list(TURN_COLUMNS))


def window_times(records: RecordFrame, t_intended: np.ndarray) -> np.ndarray:
    """The time each attempt counts at for the measured window: its ``t_intended``, but for a session
    turn its session's start (the earliest ``t_intended`` of the records of that contender and ``seq``
    that are session turns), so a session started in the window is measured whole, its late turns too."""
    if not len(records) or "turn" not in records.columns:
        return t_intended
    turn = pd.to_numeric(records["turn"], errors="coerce").to_numpy(dtype=float)
    sel = np.flatnonzero(~np.isnan(turn))
    if not sel.size:
        return t_intended
    frame = pd.DataFrame(
        {
            "c": records["contender"].take(sel).to_numpy(dtype=object),
            "s": pd.to_numeric(records["seq"], errors="coerce").to_numpy(dtype=float)[sel],
            "t": t_intended[sel],
        }
    )
    out = t_intended.copy()
    out[sel] = frame.groupby(["c", "s"], sort=False)["t"].transform("min").to_numpy(dtype=float)
    return out


def unsent_turns(records: RecordFrame, start: float, end: float) -> dict[tuple[str, int], int]:
    """(contender, turn) → session turns recorded as ``not_sent`` (never dispatched: the run ended, or an
    earlier turn failed with history: own) whose session started in [start, end)."""
    if not len(records) or "turn" not in records.columns:
        return {}
    turn = pd.to_numeric(records["turn"], errors="coerce").to_numpy(dtype=float)
    turns = np.flatnonzero(~np.isnan(turn))  # session turns: only their error classes are read
    if not turns.size:
        return {}
    unsent = np.zeros(turn.size, dtype=bool)
    unsent[turns] = records["error_class"].take(turns).to_numpy(dtype=object) == "not_sent"
    unsent &= pd.to_numeric(records["attempt"], errors="coerce").to_numpy(dtype=float) == 1
    if not unsent.any():
        return {}
    t = window_times(records, pd.to_numeric(records["t_intended"], errors="coerce").to_numpy(dtype=float))
    sel = unsent & (t >= start) & (t < end)
    names = records["contender"].take(np.flatnonzero(sel)).to_numpy(dtype=object)
    return dict(Counter((str(c), int(k)) for c, k in zip(names, turn[sel], strict=True)))
