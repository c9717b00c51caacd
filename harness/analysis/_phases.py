"""The measured window and the phases of a run: baseline, each fault window, its recovery, and after.

Fault windows come from the fault events' applied times (apply → remove); when an event is missing the
manifest's planned ``at_s``/``duration_s`` stand in, and a fault without an end lasts until the window ends.
A request belongs to the phase containing its ``t_intended`` (when the user asked, not when it was sent),
unless its life (``t_intended`` → ``t_end`` of its final attempt) crosses the start or the end of a fault
window: it was in flight when the fault began or ended, met the fault for part of its life only, and is
put in that fault's ``transition:<id>`` group, shown apart from the baseline and from the window.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.record import FaultInfo, RunInfo

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "AFTER",
    "BASELINE",
    "TRANSITION",
    "FaultWindow",
    "Window",
    "assign_phases",
    "crosses_edge",
    "fault_windows",
    "measurement_window",
    "phase_durations",
    "recovery_span",
    "snap_windows",
    "with_transitions",
]

BASELINE = "baseline"
AFTER = "after"
TRANSITION = "transition"
RECOVERY_MIN_S = 10.0
RECOVERY_MAX_S = 30.0


@dataclass(frozen=True, slots=True)
class Window:
    """The measured part of the run: warm-up and cool-down cut off, ended early if the run was interrupted."""

    start: float
    end: float
    warmup: float
    cooldown: float
    planned_duration: float
    interrupted: bool

    @property
    def length(self) -> float:
        return max(self.end - self.start, 0.0)


@dataclass(frozen=True, slots=True)
class FaultWindow:
    fault_id: str
    name: str
    kind: str
    target: str
    endpoints: tuple[str, ...]
    description: str
    start: float
    end: float
    recovery_end: float
    applied: bool  # False: not measured (apply failed, or outside the measured window); no phase for it
    ends_with_run: bool  # no removal seen or planned: the fault lasted until the window ended
    source: str  # "events" or "manifest"
    detail: str | None = None
    paths: tuple[str, ...] = ()  # network paths touched, "<contender>@<endpoint>" (empty in older runs)
    scope: str = ""  # what the target named: endpoint, contender or each-contender ("" in older runs)

    @property
    def duration(self) -> float:
        return max(self.end - self.start, 0.0)

    @property
    def phase(self) -> str:
        return f"fault:{self.fault_id}"

    @property
    def recovery_phase(self) -> str:
        return f"recovery:{self.fault_id}"


def _num(value: Any, default: float) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return out if math.isfinite(out) else default


def measurement_window(run: RunInfo, t_max: float | None) -> Window:
    """[warm-up, planned duration − cool-down], cut at the last record's end when the run was interrupted.

    ``elapsed_s`` of the run's end is wall-clock time including the stack's start-up, not run-clock time,
    so it is not used here.
    """
    load = run.manifest.load
    warmup = load.warmup
    cooldown = load.cooldown
    planned = _num(run.manifest.duration_s, load.duration)
    interrupted = run.interrupted
    end = planned - cooldown if planned > 0 else math.inf
    if (not math.isfinite(end) or interrupted) and t_max is not None:
        end = min(end, t_max)
    if not math.isfinite(end):
        end = warmup
    start = warmup
    if end <= start:  # too short to cut warm-up/cool-down: measure everything rather than nothing
        start = 0.0
        end = (t_max or 0.0) if interrupted else max(end, t_max or 0.0, planned)
    return Window(
        start=start,
        end=end,
        warmup=warmup,
        cooldown=cooldown,
        planned_duration=planned,
        interrupted=interrupted,
    )


def recovery_span(duration: float) -> float:
    """How long after a fault the 'recovery' phase lasts: the fault's length, held within 10–30 s."""
    return min(max(duration, RECOVERY_MIN_S), RECOVERY_MAX_S)


def fault_windows(
    fault_events: list[dict[str, Any]], faults: Sequence[FaultInfo], window: Window
) -> list[FaultWindow]:
    """One FaultWindow per fault of the timeline (planned ``faults`` of the manifest), in start order."""
    planned = {f.fault_id: f.model_dump() for f in faults}
    applies: dict[str, dict[str, Any]] = {}
    removes: dict[str, dict[str, Any]] = {}
    for ev in fault_events:
        fid = str(ev.get("fault_id"))
        if ev.get("action") == "apply":
            applies.setdefault(fid, ev)
        elif ev.get("action") == "remove":
            removes.setdefault(fid, ev)
    ids = list(planned) + [f for f in (*applies, *removes) if f not in planned]
    ids = list(dict.fromkeys(ids))
    out: list[FaultWindow] = []
    for fid in ids:
        plan = planned.get(fid, {})
        apply, remove = applies.get(fid), removes.get(fid)
        info = apply or remove or {}
        at = _num(plan.get("at_s"), math.nan)
        dur = plan.get("duration_s")
        start = _num(apply.get("t_applied"), at) if apply else at
        applied = True
        detail = None
        if apply and apply.get("outcome") == "error":
            applied, detail = False, f"its apply failed: {apply.get('detail') or 'no detail'}"
        if not math.isfinite(start):
            applied, detail, start = False, "no start time recorded or planned", window.end
        ends_with_run = False
        if remove is not None:
            end = _num(remove.get("t_applied"), window.end)
        elif dur is not None and math.isfinite(at):
            end = start + _num(dur, 0.0)
            if end > window.end:
                ends_with_run = True
        else:
            end, ends_with_run = window.end, True
        if applied and start >= window.end:
            applied = False
            if apply is not None:
                detail = f"applied at {start:.1f} s, after the measured window had ended ({window.end:.1f} s)"
            elif math.isfinite(at) and at >= window.planned_duration:
                detail = (
                    f"planned at {at:g} s, but this run lasted {window.planned_duration:g} s: never applied"
                )
            elif window.interrupted:
                detail = f"planned at {at:g} s, but the run was stopped first: never applied"
            else:
                detail = f"planned at {at:g} s, after the measured window ended ({window.end:.1f} s)"
        end = min(max(end, start), window.end)
        endpoints = info.get("endpoints") or plan.get("endpoints") or []
        paths = apply.get("paths") if apply is not None and "paths" in apply else plan.get("paths")
        out.append(
            FaultWindow(
                fault_id=fid,
                name=str(plan.get("name") or info.get("fault") or fid),
                kind=str(plan.get("kind") or info.get("kind") or ""),
                target=str(plan.get("target") or info.get("target") or ""),
                endpoints=tuple(str(e) for e in endpoints),
                description=str(plan.get("description") or info.get("description") or ""),
                start=start,
                end=end,
                recovery_end=end,
                applied=applied,
                ends_with_run=ends_with_run,
                source="events" if apply is not None else "manifest",
                detail=detail,
                paths=tuple(str(k) for k in paths or ()),
                scope=str(plan.get("scope") or ""),
            )
        )
    out.sort(key=lambda w: w.start)
    starts = [w.start for w in out if w.applied]
    final: list[FaultWindow] = []
    for w in out:
        nxt = min((s for s in starts if s >= w.end and s > w.start), default=window.end)
        rec_end = min(w.end + recovery_span(w.duration), nxt, window.end)
        final.append(dataclasses.replace(w, recovery_end=max(rec_end, w.end)))
    return final


SNAP_S = 0.5


def snap_windows(
    windows: list[FaultWindow], tol: float = SNAP_S, window: Window | None = None
) -> list[FaultWindow]:
    """Windows whose boundaries lie within ``tol`` of each other share one boundary (the earliest, or the
    measured window's own start/end when one of them is that close).

    Faults meant to start together are applied a few milliseconds apart; without snapping, the phases
    would include slivers of a few milliseconds ("fault:f1" for 5 ms before "fault:f1+f2").
    """
    applied = [w for w in windows if w.applied]
    values = sorted({x for w in applied for x in (w.start, w.end, w.recovery_end)})
    clusters: list[list[float]] = []
    for v in values:
        if not clusters or v - clusters[-1][0] > tol:
            clusters.append([])
        clusters[-1].append(v)
    snapped: dict[float, float] = {}
    for group in clusters:
        target = group[0]
        if window is not None and abs(group[-1] - window.end) <= tol:
            target = window.end
        elif window is not None and abs(group[0] - window.start) <= tol:
            target = window.start
        snapped.update(dict.fromkeys(group, target))
    return [
        dataclasses.replace(
            w, start=snapped[w.start], end=snapped[w.end], recovery_end=snapped[w.recovery_end]
        )
        if w.applied
        else w
        for w in windows
    ]


def _join(arr: np.ndarray, windows: list[FaultWindow], lo: str, hi: str) -> np.ndarray:
    """Ids of the windows whose [lo, hi) holds each time, joined with '+' ('' when none)."""
    ids = np.full(arr.shape, "", dtype=object)
    for w in windows:
        m = (arr >= getattr(w, lo)) & (arr < getattr(w, hi))
        if m.any():
            cur = ids[m]
            ids[m] = np.where(cur == "", w.fault_id, cur + "+" + w.fault_id)
    return ids


def crosses_edge(t_start: np.ndarray, t_end: np.ndarray, w: FaultWindow) -> np.ndarray:
    """Which lives [t_start, t_end] were in flight when fault ``w`` began or ended (a fault lasting until
    the run ended has no end edge)."""
    at_start = (t_start < w.start) & (t_end > w.start)
    at_end = (t_start < w.end) & (t_end > w.end) if not w.ends_with_run else np.zeros(t_start.shape, bool)
    out: np.ndarray = at_start | at_end
    return out


def assign_phases(t: ArrayLike, windows: list[FaultWindow], t_end: ArrayLike | None = None) -> np.ndarray:
    """Phase name for every time in ``t``: ``fault:<id>`` beats ``recovery:<id>``; overlapping faults share
    one phase named after all of them (``fault:f1+f2``). With ``t_end`` (each request's end), requests in
    flight across a fault window's start or end go to ``transition:<id>`` instead."""
    arr = np.asarray(t, dtype=float)
    active = [w for w in windows if w.applied]
    phase = np.full(arr.shape, BASELINE if not active else AFTER, dtype=object)
    if not active:
        return phase
    phase[arr < min(w.start for w in active)] = BASELINE
    rec = _join(arr, active, "end", "recovery_end")
    phase[rec != ""] = "recovery:" + rec[rec != ""]
    flt = _join(arr, active, "start", "end")
    phase[flt != ""] = "fault:" + flt[flt != ""]
    if t_end is not None:
        end = np.asarray(t_end, dtype=float)
        end = np.where(np.isfinite(end), end, arr)  # no end recorded: a point in time
        ids = np.full(arr.shape, "", dtype=object)
        for w in active:
            m = crosses_edge(arr, end, w)
            if m.any():
                cur = ids[m]
                ids[m] = np.where(cur == "", w.fault_id, cur + "+" + w.fault_id)
        phase[ids != ""] = f"{TRANSITION}:" + ids[ids != ""]
    return phase


def with_transitions(order: list[str], present: set[str]) -> list[str]:
    """Phase names in time order (``order``), each ``transition:<ids>`` group in ``present`` placed right
    after the window it belongs to (the first phase naming its first fault id)."""
    out = list(order)
    for name in sorted(p for p in present if p.startswith(f"{TRANSITION}:")):
        first = name.split(":", 1)[1].split("+")[0]
        at = next(
            (i for i, p in enumerate(out) if p.startswith("fault:") and first in p[6:].split("+")),
            len(out) - 1,
        )
        at += 1
        while at < len(out) and out[at].startswith(f"{TRANSITION}:"):
            at += 1
        out.insert(at, name)
    return out


def phase_durations(window: Window, windows: list[FaultWindow]) -> dict[str, float]:
    """Seconds of the measured window spent in each phase (exact, by elementary intervals)."""
    cuts = {window.start, window.end}
    for w in windows:
        if w.applied:
            cuts.update(x for x in (w.start, w.end, w.recovery_end) if window.start < x < window.end)
    edges = sorted(cuts)
    out: dict[str, float] = {}
    for lo, hi in itertools.pairwise(edges):
        if hi <= lo:
            continue
        name = str(assign_phases(np.array([(lo + hi) / 2]), windows)[0])
        out[name] = out.get(name, 0.0) + (hi - lo)
    return out
