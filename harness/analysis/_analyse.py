"""``analyse()``: records + fault events + manifest → an ``Analysis`` of plain data and DataFrames (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis._accounting import accounting, incomplete, share_notes
from harness.analysis._caching import caching as caching_of
from harness.analysis._capacity import capacity as capacity_of
from harness.analysis._decision import decide
from harness.analysis._exposure import EXPOSURE_COLUMNS, exposure_table
from harness.analysis._faults import fault_impact
from harness.analysis._gateway import gateway_evidence, same_models
from harness.analysis._metrics import (
    RequestColumns,
    good_mask,
    latency_rows,
    request_metrics,
    slo_met,
    slo_settings,
)
from harness.analysis._phases import (
    BASELINE,
    FaultWindow,
    Window,
    assign_phases,
    fault_windows,
    measurement_window,
    phase_durations,
    snap_windows,
    with_transitions,
)
from harness.analysis._prepare import (
    RecordDetails,
    RequestKeys,
    _bool,
    _column,
    chains,
    chunk_gaps,
    logical_requests_indexed,
    read_counts,
)
from harness.analysis._risks import find_risks, gate_checks
from harness.analysis._rows import Codes, is_in
from harness.analysis._scorecard import DeclaredScores, scorecard
from harness.analysis._sequential import align_sequential
from harness.analysis._server import SERIES_COLUMNS, by_contender, key_series, scrape_gaps, server_summary
from harness.analysis._turns import TURN_COLUMNS, by_turn, unsent_turns, window_times
from harness.analysis._verdict import attribute_failures, headline, verdict_rows
from harness.record import Manifest, RecordFrame, RunInfo, list_batches

__all__ = ["Analysis", "analyse", "records_of"]

_CAPACITY_CLASSES = ("http_429", "overloaded")


@dataclass
class Analysis:
    """Everything the report shows. DataFrames for tables, plain dicts/lists for the rest."""

    meta: dict[str, Any]
    slo: dict[str, float | None]
    window: Window
    faults: list[FaultWindow]
    phases: dict[str, float]  # phase → seconds in the measured window, in time order
    logical: pd.DataFrame  # one row per logical request in the window (+ phase, good)
    requests: pd.DataFrame  # contender × scope × group → counts, rates, cost, key percentiles
    latency: pd.DataFrame  # contender × scope × group × metric → full distribution
    errors: pd.DataFrame  # contender × phase × error_class → final requests and attempts
    fault_impact: pd.DataFrame  # fault × contender → changes beyond noise, detect, recover, lost
    observability: dict[str, dict[str, Any]]
    scorecard: dict[str, Any]
    verdict: list[dict[str, Any]]  # ranked, one per contender
    risks: list[dict[str, Any]]  # {"severity", "contender", "text"}, most severe first
    contenders: list[str] = field(default_factory=list)
    decision: dict[str, Any] = field(default_factory=dict)  # gates, objectives, ties, robustness, headline
    # fault × contender → exposed, seconds and requests inside, shared (harness.analysis._exposure)
    exposure: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(EXPOSURE_COLUMNS)))
    phase_groups: list[str] = field(default_factory=list)  # phases in time order, transition groups too
    # contender → knee of a stepped load (sustainable_rps, uncertainty_rps, limit, steps); {} for a plain
    # load (harness.analysis._capacity)
    capacity: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the key server-metrics series of each contender's primary endpoint per scrape (harness.analysis._server)
    server: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(SERIES_COLUMNS)))
    # contender → what its primary endpoint's server metrics showed (peaks, saturation, queue drains)
    server_summary: dict[str, dict[str, Any]] = field(default_factory=dict)
    server_gaps: dict[str, list[float]] = field(default_factory=dict)  # contender → times of failed scrapes
    # contender → prompt-cache hit ratio, TTFT with/without a hit, money saved; {} when nothing was cached
    # (harness.analysis._caching)
    caching: dict[str, dict[str, Any]] = field(default_factory=dict)
    # contender × turn of multi-turn sessions → TTFT, input tokens, cache hit ratio (harness.analysis._turns)
    turns: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(TURN_COLUMNS)))
    # the text of requests (ids, answer excerpt, error detail) by ``logical["record"]``, for the few rows
    # the report shows (harness.analysis._prepare.DETAIL_COLUMNS); None: ``logical`` holds them itself
    details: RecordDetails | None = None

    def run_rows(self) -> dict[str, dict[str, Any]]:
        """Whole-window request metrics per contender."""
        if self.requests.empty:
            return {}
        sel = self.requests.loc[self.requests["scope"] == "run"]
        return {str(r["contender"]): r for r in records_of(sel)}


def records_of(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a DataFrame as dicts with string keys."""
    return [{str(k): v for k, v in r.items()} for r in df.to_dict("records")]


_LG_COLS = (
    "ok",
    "throttled",
    "primary_failed",
    "rescued",
    "cost",
    "wasted_cost",
    "output_tokens",
    "usage_source",
    "check_passed",
    "n_attempts",
    "attempts_429",
    "fallback",
    "max_tokens_exceeded",
    "finished",
    "ttft",
    "user_ttft",
    "ttfot",
    "user_ttfot",
    "reasoning_tokens",
    "reasoning_cost",
    "tpot",
    "e2e",
    "user_latency",
    "schedule_lag",
)


def _num(df: RecordFrame | pd.DataFrame, col: str) -> np.ndarray:
    if not len(df):
        return np.empty(0)
    out: np.ndarray = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return out


def _attempt_arrays(records: RecordFrame, rows: np.ndarray, phase: pd.Categorical) -> dict[str, Any]:
    """The attempt columns later steps need, restricted to ``rows`` (the measured window); ``phase`` is
    each attempt's logical request's phase. Text columns are categoricals (a small integer per attempt:
    ``att["outcome"] == "ok"`` compares codes), numbers float (NaN when missing)."""
    n = len(rows)

    def coded(col: str, fill: Any = None) -> pd.Categorical:
        if not len(records):
            return pd.Categorical([])
        out = _column(records[col], rows, fill)
        return out if isinstance(out, pd.Categorical) else pd.Categorical(np.asarray(out, dtype=object))

    def present(col: str) -> np.ndarray:
        if not len(records):
            return np.empty(0, dtype=bool)
        out: np.ndarray = records[col].notna().to_numpy(dtype=bool)[rows]
        return out

    def num(col: str, dtype: Any = float) -> np.ndarray:
        if not len(records):
            return np.empty(0)
        if col not in records.columns:  # a field newer than some frames a test builds by hand
            return np.full(n, np.nan, dtype=dtype)
        out: np.ndarray = _num(records, col)[rows].astype(dtype, copy=False)
        return out

    out: dict[str, Any] = {
        "contender": coded("contender", ""),
        "endpoint": coded("endpoint", ""),
        "prompt_class": coded("prompt_class", ""),
        "outcome": coded("outcome", ""),
        "error_class": coded("error_class"),
        "status": num("status", np.float32),  # HTTP codes are exact in float32
        "t_dispatch": num("t_dispatch"),
        "t_end": num("t_end"),
        "fallback_from": coded("fallback_from"),
        "final": _bool(records["is_final_attempt"])[rows] if len(records) else np.empty(0, dtype=bool),
        "usage_source": coded("usage_source", "none"),
        "model_requested": coded("model_requested", ""),
        "model_served": coded("model_served"),
        "dialect": coded("dialect", ""),
        # only whether a gateway fell back or retried counts (harness.analysis._gateway): a flag each
        "gateway_fallbacks": np.nan_to_num(num("gateway_fallbacks", np.float32), nan=0.0) > 0,
        "gateway_retries": np.nan_to_num(num("gateway_retries", np.float32), nan=0.0) > 0,
        "has_request_id": present("vendor_request_id"),
        "has_ratelimit": present("ratelimit_remaining_requests") | present("ratelimit_remaining_tokens"),
    }
    out["ok"] = np.asarray(out["outcome"] == "ok", dtype=bool)
    out["phase"] = phase
    return out


def _stream_reads(
    records: RecordFrame, rows: np.ndarray, fin_ok: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Chunk gaps of the attempts ``rows[fin_ok]`` with the index in ``fin_ok`` of the attempt each came
    from, and their reads and merged reads, list cells read a row group at a time (a long run's chunk
    times are the largest column of its records)."""
    small = fin_ok.size < 2**31
    gaps: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    reads: list[np.ndarray] = []
    merged: list[np.ndarray] = []
    if fin_ok.size:
        where = rows[fin_ok]
        for at, cells in list_batches(records, "chunk_times", where):
            g, o = chunk_gaps(cells)
            gaps.append(g)
            owners.append((o + at).astype(np.int32 if small else np.int64))
        for _, cells in list_batches(records, "chunk_deltas", where):
            r, m = read_counts(cells)
            reads.append(r.astype(np.int32))
            merged.append(m.astype(np.int32))
    return (
        _joined(gaps, np.float64),
        _joined(owners, np.int32 if small else np.int64),
        _joined(reads, np.int32),
        _joined(merged, np.int32),
    )


def _joined(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    """``np.concatenate(parts)``, each part freed as soon as it is copied (``parts`` ends empty): the
    peak is the result and one part, not twice the result."""
    out = np.empty(sum(p.size for p in parts), dtype=dtype)
    at = 0
    while parts:
        part = parts.pop(0)
        out[at : at + part.size] = part
        at += part.size
    return out


def _errors_table(att: dict[str, np.ndarray], lg: pd.DataFrame) -> pd.DataFrame:
    cols = ["contender", "phase", "error_class", "final_requests", "attempts"]
    if not att["ok"].size or att["ok"].all():
        return pd.DataFrame(columns=cols)
    err = ~att["ok"]
    a = pd.DataFrame(
        {k: np.asarray(att[k][err], dtype=object) for k in ("contender", "phase", "error_class")}
    )
    a_counts = a.groupby(["contender", "phase", "error_class"], dropna=False).size().rename("attempts")
    lerr = lg.loc[~lg["ok"].to_numpy(dtype=bool), ["contender", "phase", "error_class"]]
    f_counts = (
        lerr.groupby(["contender", "phase", "error_class"], dropna=False).size().rename("final_requests")
    )
    errors = pd.concat([f_counts, a_counts], axis=1).fillna(0).astype(int).reset_index()
    errors["error_class"] = errors["error_class"].fillna("unknown")
    return errors[cols]


def _compact_column(series: pd.Series) -> Any:
    """A column as a NumPy array, or (categorical, nullable boolean) as its own extension array."""
    if isinstance(series.dtype, pd.CategoricalDtype | pd.BooleanDtype):
        return series.array
    return series.to_numpy()


def _observability(att: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    codes, names = pd.factorize(att["contender"])
    answered_all = np.isfinite(att["status"])
    cap_all = is_in(att["error_class"], list(_CAPACITY_CLASSES)) | np.isin(att["status"], (503.0, 529.0))
    client_all = att["error_class"] == "client_error"
    reported_all = att["usage_source"] == "reported"
    served_all = att["ok"] & pd.notna(att["model_served"])
    for i, c in sorted(enumerate(names), key=lambda x: str(x[1])):
        sel = codes == i
        answered = sel & answered_all
        ok = sel & att["ok"]
        served = sel & served_all
        pinned = None
        if served.any():
            pinned = float(same_models(att["model_requested"][served], att["model_served"][served]).mean())
        n_ans, n_ok = int(answered.sum()), int(ok.sum())
        out[str(c)] = {
            "attempts": float(sel.sum()),
            "answered": float(n_ans),
            "capacity_errors": float((sel & cap_all).sum()),
            "client_errors": float((sel & client_all).sum()),
            "request_ids": float(att["has_request_id"][answered].mean()) if n_ans else None,
            "ratelimit_headers": float(att["has_ratelimit"][answered].mean()) if n_ans else None,
            "usage_reported": float(reported_all[ok].mean()) if n_ok else None,
            "model_pinning": pinned,
            "gateway": gateway_evidence(att, sel),
        }
    return out


def _groups(lg: pd.DataFrame, phase_order: list[str]) -> list[tuple[str, str, str, np.ndarray]]:
    """(contender, scope, group, row positions): whole run, each phase in time order, each prompt class."""
    out: list[tuple[str, str, str, np.ndarray]] = []
    if not len(lg):
        return out
    c_codes, c_names = pd.factorize(lg["contender"])
    p_codes, p_names = pd.factorize(lg["phase"])
    k_codes, k_names = pd.factorize(lg["prompt_class"])
    p_index = {str(p): i for i, p in enumerate(p_names)}
    for ci, c in sorted(enumerate(c_names), key=lambda x: str(x[1])):
        idx = np.flatnonzero(c_codes == ci)
        out.append((str(c), "run", "all", idx))
        pc, kc = p_codes[idx], k_codes[idx]
        for p in phase_order:
            if p in p_index:
                sel = idx[pc == p_index[p]]
                if sel.size:
                    out.append((str(c), "phase", p, sel))
        for ki, k in sorted(enumerate(k_names), key=lambda x: str(x[1])):
            sel = idx[kc == ki]
            if sel.size:
                out.append((str(c), "class", str(k), sel))
    return out


def analyse(
    records: RecordFrame,
    fault_events: list[dict[str, Any]],
    run: RunInfo,
    *,
    declared: DeclaredScores | None = None,
    slo_overrides: dict[str, float] | None = None,
    probes: dict[str, dict[str, Any]] | None = None,
    server_metrics: pd.DataFrame | None = None,
) -> Analysis:
    """Analyse one run. Pure: reads nothing, writes nothing.

    ``declared`` adds the analyst's scores; ``probes`` (contender → criterion → {"passed", "score",
    "detail"}) adds probe results for bad keys, malformed input and regional failover;
    ``server_metrics`` (the rows of server_metrics.parquet) the vendors' own metrics.

    >>> a = analyse(read_records(run_dir), read_fault_events(run_dir), read_run(run_dir))
    >>> a.run_rows()["vendor-a"]["good_fraction"]
    """
    slo = slo_settings(run.manifest.slo, slo_overrides)
    skipped = int(records.attrs.get("skipped_lines", 0) or 0)
    records, fault_events, run = align_sequential(records, fault_events, run)
    keys = RequestKeys(records)  # which request each attempt is of: shared by the next two steps
    counts = accounting(records, run, keys)  # every record, sent or not
    judged = _judged(records, run)  # a mask, not a copy: the frame is the run's largest object
    n_judged = int(judged.sum())
    manifest = run.manifest
    t_max = None
    if n_judged:
        t_end = _num(records, "t_end")[judged]
        t_max = float(np.nanmax(t_end)) if (~np.isnan(t_end)).any() else None
    window = measurement_window(run, t_max)
    windows = fault_windows(fault_events, manifest.faults, window)
    phase_windows = snap_windows(
        windows, window=window
    )  # phases without millisecond slivers; impact uses exact times
    phases = phase_durations(window, phase_windows)

    t_int = window_times(records, _num(records, "t_intended"))  # a session counts where it started
    rows = np.flatnonzero(judged & (t_int >= window.start) & (t_int < window.end))
    rows = rows.astype(np.int32) if len(records) < 2**31 else rows  # positions: half the bytes
    lg, owner = logical_requests_indexed(
        records, manifest, rows if rows.size < len(records) else None, keys=keys, lean=True
    )
    del keys
    # a request's phase by when it was asked for, or the transition group of a fault it was in flight across
    lg["phase"] = (
        pd.Categorical(
            assign_phases(
                lg["t_intended"].to_numpy(dtype=float), phase_windows, lg["t_end"].to_numpy(dtype=float)
            )
        )
        if len(lg)
        else []
    )
    att = _attempt_arrays(records, rows, lg["phase"].array.take(owner))
    del owner, t_int, judged
    good = good_mask(lg, slo)
    lg["good"] = good
    met = slo_met(lg, slo)

    phase_order = with_transitions(list(phases), set(map(str, lg["phase"].unique())) if len(lg) else set())
    # the tables of attempts first, so the per-attempt arrays are freed before the chunk gaps are read
    errors = _errors_table(att, lg)
    if len(errors):  # contenders as listed, phases in time order
        order = {p: i for i, p in enumerate(phase_order)}
        errors = (
            errors.assign(_p=errors["phase"].map(order).fillna(len(order)))
            .sort_values(["contender", "_p", "error_class"], kind="stable")
            .drop(columns="_p")
            .reset_index(drop=True)
        )
    chain_of = chains(manifest)
    region_of = {e.name: e.region for e in manifest.endpoints if e.region}
    impact = fault_impact(lg, att, windows if len(lg) else [], chain_of, window, region_of)
    obs = _observability(att)
    # chunk gaps (and reads) of succeeded final attempts, tagged with their attempt's contender, phase
    # and prompt class
    fin_ok = np.flatnonzero(att["ok"] & att["final"])
    fin = {k: att[k][fin_ok] for k in ("contender", "phase", "prompt_class")}
    del att
    gaps, gap_of, reads, merged = _stream_reads(records, rows, fin_ok)
    del fin_ok
    unsent = unsent_turns(records, window.start, window.end)  # every record, sent or not
    contenders = [c.name for c in manifest.contenders]
    contenders += sorted(set(map(str, lg["contender"].unique())) - set(contenders)) if len(lg) else []
    cache = caching_of(records, rows, contenders, manifest)
    details = RecordDetails(records)
    # nothing below reads the records: a caller that passed them on (analyse(read_records(...))) frees them
    del records, rows
    gap_keys = Codes(fin["contender"][gap_of])
    gap_phase = Codes(fin["phase"][gap_of])
    gap_class = Codes(fin["prompt_class"][gap_of])
    del gap_of
    read_keys = Codes(fin["contender"])
    read_phase = Codes(fin["phase"])
    read_class = Codes(fin["prompt_class"])
    del fin

    priced = _priced(manifest)
    if len(lg):  # a cost that was recorded is known, whatever the manifest says
        spent = lg.groupby("contender", sort=False)["cost"].sum()
        priced |= {str(c) for c, v in spent.items() if v > 0}
    # numbers and flags as NumPy arrays; text and nullable flags in their own compact arrays, not as a
    # Python object per request; each converted once (harness.analysis._metrics) for all groups
    cols = RequestColumns({k: _compact_column(lg[k]) for k in _LG_COLS} if len(lg) else {})
    req_rows: list[dict[str, Any]] = []
    lat_rows: list[dict[str, Any]] = []
    for c, scope, grp, idx in _groups(lg, phase_order):
        sub = cols.group(idx)
        gsel = gap_keys.equal(c)
        rsel = read_keys.equal(c)
        if scope == "phase":
            gsel = gsel & gap_phase.equal(grp)
            rsel = rsel & read_phase.equal(grp)
        elif scope == "class":
            gsel = gsel & gap_class.equal(grp)
            rsel = rsel & read_class.equal(grp)
        # a transition group is no span of time: it has counts and percentiles, no rates
        seconds = phases.get(grp, math.nan) if scope == "phase" else window.length
        key = {"contender": c, "scope": scope, "group": grp}
        shares = {f"{k}_met": float(v[idx].mean()) if idx.size else np.nan for k, v in met.items()}
        metrics = request_metrics(
            sub,
            good[idx],
            seconds,
            n_chunk_gaps=int(gsel.sum()),
            n_reads=int(reads[rsel].sum()),
            n_merged_reads=int(merged[rsel].sum()),
        )
        if c not in priced:
            metrics.update(dict.fromkeys(_COST_METRICS, np.nan))
        req_rows.append({**key, **metrics, **shares})
        lat_rows.extend({**key, **r} for r in latency_rows(sub, gaps[gsel]))
    requests = pd.DataFrame(req_rows)
    latency = pd.DataFrame(lat_rows)
    exposure = exposure_table(lg, windows, contenders, chain_of)
    meta = _meta(run, n_judged, skipped, window)
    run_rows = {str(r["contender"]): r for r in req_rows if r["scope"] == "run"}
    impact_rows = records_of(impact)
    search_steps = (run.end.search or {}).get("steps") if run.end is not None else None
    knees = capacity_of(lg, good, manifest.load, slo, contenders, (window.start, window.end), search_steps)
    need_rps = manifest.capacity.need_rps(manifest.monthly_requests)
    meta["capacity_need_rps"] = need_rps
    primaries = {c.name: c.primary for c in manifest.contenders}
    sequential = manifest.load.mode == "sequential" and len(primaries) > 1
    server_raw = by_contender(
        server_metrics, primaries, float(manifest.load.duration) if sequential else None
    )
    series = key_series(server_raw)
    hit: dict[str, set[str]] = {}
    for r in impact_rows:
        if r.get("affected"):
            hit.setdefault(str(r["contender"]), set()).add(str(r["fault_id"]))
    server = server_summary(series, server_raw, primaries, window, windows, hit)
    score = scorecard(
        run_rows,
        impact_rows,
        obs,
        declared,
        probes,
        slo=slo,
        load=manifest.load.model_dump(mode="json"),
        capacity=knees,
        need_rps=need_rps,
        server=server,
    )
    gates_of = manifest.decision.gates
    checks = {c: gate_checks(run_rows.get(c), slo, gates_of) for c in contenders}
    passed = {c: all(x["passed"] for x in checks[c]) for c in contenders}
    decision = decide(
        contenders,
        lg,
        passed,
        manifest.decision,
        impact_rows,
        exposure,
        {c: c in priced for c in contenders},
        window_end=window.end,
        seed=manifest.seed,
    )
    names = {str(w.fault_id): str(w.name) for w in windows}
    failing = [c for c in contenders if not passed[c]]
    attributions = attribute_failures(failing, lg, slo, names, decision["resilience"]["unshared"])
    decision["attributions"] = attributions
    decision["gate_checks"] = checks
    decision["headline"] = headline(decision, checks, slo, attributions, bool(len(lg)))
    verdict = verdict_rows(contenders, run_rows, decision, checks, score, meta, attributions)
    risks = find_risks(
        contenders,
        run_rows,
        impact_rows,
        obs,
        slo,
        meta,
        windows,
        gates=gates_of,
        attributions=attributions,
    )
    _account(counts, run, contenders, meta, verdict, risks)
    return Analysis(
        meta=meta,
        slo=slo,
        window=window,
        faults=windows,
        phases=phases,
        logical=lg,
        requests=requests,
        latency=latency,
        errors=errors,
        fault_impact=impact,
        observability=obs,
        scorecard=score,
        verdict=verdict,
        risks=risks,
        contenders=contenders,
        decision=decision,
        exposure=exposure,
        phase_groups=phase_order,
        capacity=knees,
        server=series,
        server_summary=server,
        server_gaps=scrape_gaps(server_raw),
        caching=cache,
        turns=by_turn(lg, contenders, unsent),
        details=details,
    )


_COST_METRICS = (
    "cost_usd",
    "wasted_cost_usd",
    "cost_per_1k_requests",
    "cost_per_good_request",
    "reasoning_cost_usd",
    "reasoning_cost_share",
)


def _priced(manifest: Manifest) -> set[str]:
    """Contenders whose cost is known. One whose route's endpoints are all listed in the manifest without a
    price (every price 0) has an unknown cost: shown as such ("—"), never as $0."""
    listed = {e.name for e in manifest.endpoints}
    has_price = set()
    for e in manifest.endpoints:
        p = e.price
        values = (p.input_per_mtok, p.output_per_mtok, p.per_request, p.cached_input_per_mtok)
        if any(v for v in values) or p.tiers:
            has_price.add(e.name)
    return {c.name for c in manifest.contenders if set(c.chain) & has_price or not set(c.chain) <= listed}


def _judged(records: RecordFrame, run: RunInfo) -> np.ndarray:
    """Which attempts (a mask) a contender is judged on. ``not_sent`` records (the run ended before
    they were sent) never reached the vendor; ``run_ended`` ones were cut in flight, which is the vendor's
    failure to answer in the time the run gave it (planned end, or a stop, plus grace) — except after an
    abort, which cut them at once. Both stay in the accounting (harness.analysis._accounting), never in the
    metrics."""
    if not len(records):
        return np.zeros(0, dtype=bool)
    cut = ["not_sent", "run_ended"] if run.end is not None and run.end.ended == "aborted" else ["not_sent"]
    keep: np.ndarray = ~records["error_class"].isin(cut).to_numpy(dtype=bool)
    return keep


def _account(
    counts: dict[str, dict[str, Any]],
    run: RunInfo,
    contenders: list[str],
    meta: dict[str, Any],
    verdict: list[dict[str, Any]],
    risks: list[dict[str, Any]],
) -> None:
    """Counts per contender (scheduled, recorded, no record, not sent, run ended) into ``meta``; verdict
    rows flag a contender measured on an unequal share (``unequal_share``, ``share_note``, and a clause in
    ``reason``); missing evidence becomes the first risks."""
    gap = incomplete(counts, run)
    searched = run.end is not None and run.end.search is not None
    notes = share_notes(counts, contenders, own_schedules=searched)
    meta["accounting"] = counts
    meta["incomplete"] = gap
    for v in verdict:
        note = notes.get(v["contender"])
        v["measured_requests"] = counts.get(v["contender"], {}).get("measured")
        v["unequal_share"] = note is not None
        v["share_note"] = note
        if note is not None and "reason" in v:
            v["reason"] += f"; {note}"
    if gap:
        risks.append(
            {
                "severity": 9.0,
                "contender": None,
                "text": f"Incomplete evidence: {gap} See the counts per contender.",
            }
        )
    unequal = [v["contender"] for v in verdict if v["unequal_share"]]
    if unequal and searched:
        risks.append(
            {
                "severity": 8.0,
                "contender": None,
                "text": "Requests of the capacity search have no measurement ("
                + "; ".join(f"{c}: {notes[c]}" for c in unequal)
                + "): its knees rest on less evidence than its steps planned.",
            }
        )
    elif unequal:
        shares = ", ".join(f"{c} {counts[c]['measured']}" for c in contenders if c in counts)
        risks.append(
            {
                "severity": 8.0,
                "contender": None,
                "text": "Contenders were measured on unequal shares of the same schedule "
                f"({shares} of {counts[unequal[0]]['scheduled']}): the ranking compares unequal evidence.",
            }
        )
    risks.sort(key=lambda r: -r["severity"])


def _meta(run: RunInfo, n_records: int, skipped: int, window: Window) -> dict[str, Any]:
    """The run's facts the report and exports show (plain data: it is also written to summary.json)."""
    m, end = run.manifest, run.end
    return {
        "run_id": m.run_id,
        "scenario": m.scenario.name,
        "scenario_description": m.scenario.description,
        "scenario_path": m.scenario.path,
        "seed": m.seed,
        "started_at": m.started_at,
        "ended_at": end.ended_at if end is not None else None,
        "ended": end.ended if end is not None else None,
        "interrupted": run.interrupted,
        "problems": list(end.problems) if end is not None else [],
        "workers": [w.model_dump() for w in end.workers] if end is not None else [],
        "planned_duration_s": window.planned_duration,
        "scenario_duration_s": m.scenario.duration_s,
        "elapsed_s": end.elapsed_s if end is not None else None,
        "versions": dict(m.versions),
        "prompts": m.prompts.model_dump(),
        "endpoints": [e.model_dump(mode="json") for e in m.endpoints],
        "contenders": [c.model_dump(mode="json") for c in m.contenders],
        "load": m.load.model_dump(mode="json"),
        "monthly_requests": m.monthly_requests,
        "schedule": m.schedule.model_dump(),
        "faults_planned": [f.model_dump(mode="json") for f in m.faults],
        "slo": m.slo.model_dump(mode="json"),
        "decision": m.decision.model_dump(mode="json"),
        "attempt_records": n_records,
        "skipped_lines": skipped,
        "window": {
            "start_s": window.start,
            "end_s": window.end,
            "length_s": window.length,
            "warmup_s": window.warmup,
            "cooldown_s": window.cooldown,
        },
        "baseline_phase": BASELINE,
    }
