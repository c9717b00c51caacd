"""Accounting: did every scheduled request of every contender end as a record? (pure)

The open model gives every contender the same schedule, so each should have one logical request per
scheduled one (a ``load.search`` run: the requests of its own steps, from end.json). A load worker that
dies takes the requests it held with it; a run cut short leaves some unsent. Rankings built on unequal
shares compare unequal evidence, so the counts are shown per contender and a contender measured on a
smaller share than another is flagged in the verdict.

    counts = accounting(records, read_run(run_dir))
    counts["alpha"]  # {"scheduled": 40, "recorded": 30, "no_record": 10, "not_sent": 0, "run_ended": 0,
                     #  "measured": 30}

``recorded``: logical requests with at least one attempt record. ``not_sent``: never dispatched (the run
ended first); ``run_ended``: in flight when the run ended (both are records, error classes of their own).
``measured`` = recorded - not_sent: what the contender is judged on. ``no_record`` = scheduled - recorded
(``None`` in the closed model, which has no schedule: each contender completes what it can).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.analysis._prepare import RequestKeys, equals
from harness.record import RecordFrame, RunInfo

__all__ = ["UNSENT_CLASSES", "accounting", "incomplete", "share_notes"]

UNSENT_CLASSES = ("not_sent", "run_ended")


def accounting(
    records: RecordFrame, run: RunInfo, keys: RequestKeys | None = None
) -> dict[str, dict[str, Any]]:
    """Per contender (in manifest order, then any other seen in the records): the counts above.
    ``keys``: the records' request codes, when the caller has them already."""
    m = run.manifest
    scheduled = m.schedule.logical_requests_per_contender if m.load.model == "open" else None
    names = [c.name for c in m.contenders]
    out: dict[str, dict[str, Any]] = {}
    if len(records):
        keys = keys if keys is not None else RequestKeys(records)
        recorded, by_class = _distinct_requests(records, keys)
        names += sorted(set(recorded) - set(names))
    else:
        recorded = {}
        by_class = {cls: {} for cls in UNSENT_CLASSES}
    searched = (run.end.search or {}).get("done") if run.end is not None else None
    for c in names:
        n = int(recorded.get(c, 0))
        if searched is not None:  # load.search: each contender was scheduled what its own steps held
            scheduled = int((searched.get(c) or {}).get("scheduled") or 0)
        row: dict[str, Any] = {
            "scheduled": scheduled,
            "recorded": n,
            "no_record": max(0, scheduled - n) if scheduled is not None else None,
        }
        for cls in UNSENT_CLASSES:
            row[cls] = int(by_class[cls].get(c, 0))
        row["measured"] = n - row["not_sent"]
        out[c] = row
    return out


def _distinct_requests(
    records: RecordFrame, keys: RequestKeys
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Distinct (contender, request_id) pairs per contender: of all records, and of those of each
    unsent class. A missing contender or request id counts as "" (one value), on integer codes: no
    string per record."""
    names = [str(u) for u in keys.contender_names]
    c_codes = keys.contender
    if (c_codes < 0).any():  # missing counts as "", which may also be a value
        blank = names.index("") if "" in names else len(names)
        names += [""] * (blank == len(names))
        c_codes = np.where(c_codes < 0, blank, c_codes)
    r_codes = keys.request
    n_r = keys.n_requests
    if (r_codes < 0).any():
        blank = keys.blank_request if keys.blank_request >= 0 else n_r
        n_r += int(blank == n_r)
        r_codes = np.where(r_codes < 0, blank, r_codes)
    width = n_r + 1
    n_c = len(names)

    def per_contender(sel: np.ndarray | None) -> dict[str, int]:
        c, r = (c_codes, r_codes) if sel is None else (c_codes[sel], r_codes[sel])
        if n_c * width <= 1 << 31:  # one flag per possible pair: a pass, no sort
            seen = np.zeros(n_c * width, dtype=bool)
            seen[c.astype(np.int64) * width + r] = True
            counts = np.bincount(np.flatnonzero(seen) // width, minlength=n_c)
        else:
            pairs = np.unique(c.astype(np.int64) * width + r)
            counts = np.bincount(pairs // width, minlength=n_c)
        return {names[i]: int(n) for i, n in enumerate(counts.tolist()) if n}

    error_class = records["error_class"]
    by_class = {cls: per_contender(equals(error_class, cls)) for cls in UNSENT_CLASSES}
    return per_contender(None), by_class


def incomplete(counts: dict[str, dict[str, Any]], run: RunInfo) -> str | None:
    """One sentence when evidence is missing (requests without a record, a worker that died), else None."""
    missing = {c: r["no_record"] for c, r in counts.items() if r.get("no_record")}
    dead = [w for w in (run.end.workers if run.end is not None else ()) if not w.alive_at_end or w.lost]
    if not missing and not dead:
        return None
    parts = []
    if missing:
        total = sum(r["scheduled"] or 0 for r in counts.values())
        parts.append(
            f"{sum(missing.values())} of {total} scheduled requests have no record ("
            + ", ".join(f"{c} {n}" for c, n in missing.items())
            + ")"
        )
    for w in dead:
        parts.append(f"load worker {w.index} died with {w.lost} logical requests lost")
    why = "; ".join(parts)
    if run.end is not None and run.end.ended in ("interrupted", "stopped", "aborted"):
        why += " (the run was stopped before they were sent)" if not dead else ""
    return why[0].upper() + why[1:] + "."


def share_notes(
    counts: dict[str, dict[str, Any]], contenders: list[str], *, own_schedules: bool = False
) -> dict[str, str | None]:
    """Per contender: a sentence when it was measured on a different share of the schedule than another
    contender (open model only), else None. Such rankings compare unequal evidence. ``own_schedules``
    (a ``load.search``: each contender's steps are its own, unequal by design): a sentence only for a
    contender measured on fewer requests than its own steps scheduled."""
    if own_schedules:
        return {
            c: (
                f"measured on {counts[c]['measured']} of the {counts[c]['scheduled']} requests its search "
                "scheduled"
                if c in counts and counts[c]["scheduled"] and counts[c]["measured"] < counts[c]["scheduled"]
                else None
            )
            for c in contenders
        }
    measured = {c: counts[c]["measured"] for c in contenders if c in counts and counts[c]["scheduled"]}
    if len(set(measured.values())) <= 1:
        return dict.fromkeys(contenders)
    top = max(measured.values())
    out: dict[str, str | None] = {}
    for c in contenders:
        if c not in measured:
            out[c] = None
            continue
        row = counts[c]
        others = ", ".join(f"{o} {n}" for o, n in measured.items() if o != c)
        out[c] = (
            f"measured on {row['measured']} of {row['scheduled']} scheduled requests "
            f"({others}): the ranking compares unequal shares"
            + (" — fewer than the others" if row["measured"] < top else "")
        )
    return out
