"""From attempt records to one row per logical request, with every per-request metric of DESIGN.md.

Per-request metrics (seconds; the final attempt unless said otherwise):

    e2e           = t_end − t_dispatch
    user_latency  = t_end − t_intended            (retries, fallbacks and schedule lag included)
    ttft          = t_first_token − t_dispatch
    user_ttft     = t_first_token − t_intended
    ttfot         = t_first_output − t_dispatch  (the first token of the answer itself, after any reasoning)
    user_ttfot    = t_first_output − t_intended
    reasoning_cost = reasoning_tokens × the endpoint's reasoning price (reasoning_per_mtok, else
                    output_per_mtok; price tiers aside) of the final attempt
    tpot          = (t_last_token − t_first_token) / (output_tokens − 1), only when output_tokens ≥ 2 and
                    the output arrived in two or more reads at distinct times (t_last_token > t_first_token):
                    a non-streamed answer, or one read in one go, has no TPOT (NaN, never 0)
    schedule_lag  = t_dispatch(first attempt) − t_intended
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.analysis._rows import factorized
from harness.record import RECORD_FIELDS, Manifest

__all__ = [
    "ANALYSIS_COLUMNS",
    "DETAIL_COLUMNS",
    "LOGICAL_COLUMNS",
    "UNREAD_FIELDS",
    "RecordDetails",
    "RequestKeys",
    "chains",
    "chunk_gaps",
    "logical_requests",
    "logical_requests_indexed",
    "primaries",
    "read_counts",
]

LOGICAL_COLUMNS: tuple[str, ...] = (
    "contender",
    "request_id",
    "prompt_id",
    "prompt_class",
    "endpoint",
    "primary",
    "model_served",
    "t_intended",
    "t_first_dispatch",
    "t_dispatch",
    "t_first_token",
    "t_first_output",
    "t_last_token",
    "t_end",
    "ok",
    "outcome",
    "error_class",
    "error_detail",
    "status",
    "finished",
    "output_tokens",
    "input_tokens",
    "cached_input_tokens",
    "session_id",
    "turn",
    "usage_source",
    "max_tokens_exceeded",
    "check_passed",
    "n_attempts",
    "attempts_429",
    "cost",
    "wasted_cost",
    "fallback",
    "primary_failed",
    "rescued",
    "throttled",
    "e2e",
    "user_latency",
    "ttft",
    "user_ttft",
    "ttfot",
    "user_ttfot",
    "reasoning_tokens",
    "reasoning_cost",
    "tpot",
    "schedule_lag",
    "output_excerpt",
    "vendor_request_id",
    "fault_injected",
)

UNREAD_FIELDS: frozenset[str] = frozenset(
    {
        "run_id",
        "worker",
        "user",
        "t_headers",
        "finish_reason",
        "estimated_output_tokens",
        "max_tokens",
        "retry_after_s",
        "retry_after_source",
        "gateway_api_base",
        "gateway_provider",
    }
)
"""Record fields no analysis (and so no report) reads: the report's read leaves them on disk."""
ANALYSIS_COLUMNS: tuple[str, ...] = tuple(f for f in RECORD_FIELDS if f not in UNREAD_FIELDS)
"""The record columns :func:`harness.analysis.analyse` reads, in record order."""


def primaries(manifest: Manifest) -> dict[str, str]:
    """Contender name → its primary endpoint, from the manifest."""
    return {c.name: c.primary for c in manifest.contenders}


def chains(manifest: Manifest) -> dict[str, tuple[str, ...]]:
    """Contender name → primary followed by its fallbacks."""
    return {c.name: c.chain for c in manifest.contenders}


def _float(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in LOGICAL_COLUMNS})


class _Rows:
    """A read-only view of some rows of a frame: ``view[col]`` is a Series of just those rows."""

    def __init__(self, df: pd.DataFrame, rows: np.ndarray) -> None:
        self.df, self.rows = df, np.asarray(rows)

    def __len__(self) -> int:
        return int(self.rows.size)

    def __getitem__(self, col: str) -> pd.Series:
        return self.df[col].iloc[self.rows].reset_index(drop=True)


def _obj(series: pd.Series, idx: np.ndarray) -> np.ndarray:
    """Column values at positions ``idx`` as an object array (None for missing): only those rows are
    converted (a column of unique strings costs a Python object per converted row)."""
    if len(idx) < len(series):
        series = series.take(idx)
        return np.asarray(obj_values(series, None), dtype=object)
    return np.asarray(obj_values(series, None)[idx], dtype=object)


def obj_values(series: pd.Series, fill: Any = None) -> np.ndarray:
    """Values as an object array with ``fill`` for missing ones (None by default).

    Low-cardinality columns (contender, endpoint, classes) go through factorize and a lookup table,
    which is much faster than converting Arrow-backed strings one by one.
    """
    if series.dtype == object and len(series) < 50_000:
        return np.asarray(series.to_numpy(dtype=object, na_value=fill), dtype=object)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    if len(uniques) * 20 > max(len(series), 1):
        return np.asarray(series.to_numpy(dtype=object, na_value=fill), dtype=object)
    lut = np.empty(len(uniques) + 1, dtype=object)
    lut[: len(uniques)] = np.asarray(uniques, dtype=object)
    lut[-1] = fill
    return lut[codes]


def _column(series: pd.Series, idx: np.ndarray, fill: Any = None) -> Any:
    """A frame column of the values at positions ``idx`` (``fill`` for missing ones). A categorical or
    Arrow string column is taken as such: no Python string per row, and nothing for pandas to convert
    back when the frame is built; any other column goes through an object array."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()[idx]
        out = pd.Categorical.from_codes(codes, dtype=series.dtype)
        if fill is not None and (codes < 0).any():
            if fill not in out.categories:
                out = out.add_categories([fill])
            out = out.fillna(fill)
        return out
    if fill is None and isinstance(series.dtype, pd.StringDtype) and series.dtype.storage == "pyarrow":
        return series.array.take(idx)
    return np.asarray(obj_values(series, fill), dtype=object)[idx] if fill is not None else _obj(series, idx)


def _categories(values: np.ndarray) -> pd.Categorical:
    """An object column of few distinct values as a categorical (one small integer per row)."""
    return pd.Categorical(values)


def _bool(series: pd.Series) -> np.ndarray:
    if series.dtype == bool:
        return series.to_numpy(dtype=bool)
    if isinstance(series.dtype, pd.BooleanDtype):
        return series.to_numpy(dtype=bool, na_value=False)
    return obj_values(series, False).astype(bool)


def logical_requests(
    records: pd.DataFrame, manifest: Manifest, rows: np.ndarray | None = None
) -> pd.DataFrame:
    """One row per (contender, request_id): the final attempt's result plus aggregates over all attempts.

    The final attempt is the highest ``attempt``; when a run was interrupted it may not be marked
    ``is_final_attempt`` (``finished`` is False then) and still counts with its recorded outcome.
    ``rows`` limits the attempts considered (positions). Works on column arrays and index vectors,
    never reordering the whole frame, so a million rows stay fast.
    """
    return logical_requests_indexed(records, manifest, rows)[0]


class RequestKeys:
    """Which logical request each attempt belongs to, as integer codes in order of first appearance (−1
    for a missing value): ``contender`` and ``request``, with ``contender_names``, the number of request
    ids and which of them is "" (``blank_request``, −1 when none is). Computed once and shared by the
    accounting and the per-request table: factorizing ten million request ids costs seconds."""

    def __init__(self, records: Any) -> None:
        contender, names = pd.factorize(records["contender"], use_na_sentinel=True)
        self.contender: np.ndarray = np.asarray(contender, dtype=np.int32)
        self.contender_names: list[Any] = list(np.asarray(names, dtype=object))
        request, uniques = pd.factorize(records["request_id"], use_na_sentinel=True)
        self.n_requests = len(uniques)
        self.request: np.ndarray = np.asarray(request, dtype=np.int32 if len(uniques) < 2**31 else np.int64)
        del request
        blank = np.flatnonzero(np.asarray(pd.Series(uniques).isin([""]), dtype=bool))
        self.blank_request = int(blank[0]) if blank.size else -1  # the ids themselves are not kept


def _appearance(codes: np.ndarray) -> np.ndarray:
    """Codes renumbered in order of first appearance in ``codes`` (−1 kept), as factorizing the values of
    just these rows would number them."""
    out, uniques = pd.factorize(codes)
    out = np.asarray(out)
    na = np.flatnonzero(np.asarray(uniques) == -1)
    if na.size:
        out[out == na[0]] = -1
    return out


def equals(series: pd.Series, value: Any) -> np.ndarray:
    """``series == value`` as a bool array, missing values False; on a categorical's codes."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        cats = series.cat.categories
        at = cats.get_indexer(pd.Index([value]))[0] if len(cats) else -1
        if at < 0:
            return np.zeros(len(series), dtype=bool)
        return np.asarray(series.cat.codes.to_numpy() == at)
    return np.asarray(obj_values(series, None) == value, dtype=bool)


def _check(series: pd.Series, idx: np.ndarray) -> Any:
    """Check results at positions ``idx`` as a nullable boolean column (True, False, or missing when no
    check ran)."""
    if series.dtype == bool:
        return pd.array(series.to_numpy(dtype=bool)[idx], dtype="boolean")
    if isinstance(series.dtype, pd.BooleanDtype):
        return series.array.take(idx)
    values = obj_values(series.take(idx), None)
    present = np.asarray(pd.notna(values), dtype=bool)
    data = np.zeros(len(values), dtype=bool)
    data[present] = values[present].astype(bool)
    return pd.arrays.BooleanArray(data, ~present)


DETAIL_COLUMNS = ("request_id", "vendor_request_id", "output_excerpt", "error_detail")
"""Text of each request that only the report's few sample rows show: a ``lean`` table has a ``record``
column (the final attempt's position in the records) instead, and :class:`RecordDetails` fetches them."""
LEAN_OMITS = (
    "t_first_dispatch",
    "t_dispatch",
    "t_first_token",
    "t_first_output",
    "t_last_token",
    *DETAIL_COLUMNS,
)
"""Columns ``lean`` tables leave out: times that only feed the metrics derived from them (ttft, e2e,
tpot...), 8 bytes per request each, and :data:`DETAIL_COLUMNS` (tens of bytes per request, or a whole
answer excerpt: held for ten million requests, they would be the largest part of the table)."""


class RecordDetails:
    """:data:`DETAIL_COLUMNS` of some records, by position: read from ``records.parquet`` (a
    :class:`~harness.record.ParquetRecords`) when asked, or kept from a frame (those columns only)."""

    def __init__(self, records: Any) -> None:
        from harness.record import ParquetRecords

        if isinstance(records, ParquetRecords):
            self._source: Any = records
        else:
            self._source = {c: records[c] for c in DETAIL_COLUMNS if c in records.columns}

    def __call__(self, positions: np.ndarray) -> pd.DataFrame:
        """The detail columns of the records at ``positions``, in that order (None where missing)."""
        from harness.record import ParquetRecords

        positions = np.asarray(positions, dtype=np.int64)
        if isinstance(self._source, ParquetRecords):
            return self._source.rows(positions, DETAIL_COLUMNS)
        out = {}
        for c in DETAIL_COLUMNS:
            series = self._source.get(c)
            values = obj_values(series.take(positions), None) if series is not None else None
            out[c] = values if values is not None else np.full(positions.size, None, dtype=object)
        return pd.DataFrame(out)


def logical_requests_indexed(
    records: Any,
    manifest: Manifest,
    rows: np.ndarray | None = None,
    *,
    keys: RequestKeys | None = None,
    lean: bool = False,
) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`logical_requests` and, for every attempt considered (in ``rows`` order), the position of its
    logical request in the result: per-attempt tables then use the logical request's phase.

    ``keys`` (of all the records, not just ``rows``) saves factorizing the request ids again; ``lean``
    leaves out :data:`LEAN_OMITS` and adds ``record``, each request's final attempt's position in
    ``records`` (for :class:`RecordDetails`)."""
    if keys is None:
        keys = RequestKeys(records)
    ccode_all, rcode_all = keys.contender, keys.request
    if rows is not None:  # numbered within these rows, as factorizing their values would
        records = _Rows(records, rows)
        ccode_all, rcode_all = _appearance(ccode_all[rows]), _appearance(rcode_all[rows])
    if len(records) == 0:
        return _empty(), np.empty(0, dtype=np.int64)
    attempt = pd.to_numeric(records["attempt"], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    # one stable sort on (contender, request, attempt) packed in an integer: the order np.lexsort gives
    width_r = keys.n_requests + 1
    a_min = int(attempt.min())
    a_span = int(attempt.max()) - a_min + 1
    if (len(keys.contender_names) + 2) * width_r * a_span < 2**62:
        packed = ccode_all.astype(np.int64) + 1
        packed *= width_r
        packed += rcode_all
        packed += 1
        packed *= a_span
        packed += attempt - a_min
        order = np.argsort(packed, kind="stable")
        del packed
    else:
        order = np.lexsort((attempt, rcode_all, ccode_all))
    cs, rs = ccode_all[order], rcode_all[order]
    change = np.ones(order.size, dtype=bool)
    change[1:] = (cs[1:] != cs[:-1]) | (rs[1:] != rs[:-1])
    del cs, rs
    last = np.ones(order.size, dtype=bool)
    last[:-1] = change[1:]
    gid = np.cumsum(change) - 1
    n = int(change.sum())
    i_first, i_last = order[change], order[last]
    del change, last

    att_ok = equals(records["outcome"], "ok")
    cost_all = np.nan_to_num(_float(records["cost_usd"]))[order]
    cost = np.bincount(gid, weights=cost_all, minlength=n)
    wasted = np.bincount(gid, weights=np.where(att_ok[order], 0.0, cost_all), minlength=n)
    del cost_all
    n_att = np.bincount(gid, minlength=n).astype(np.int32)
    is_429 = equals(records["error_class"], "http_429")
    n429 = np.bincount(gid, weights=is_429[order].astype(float), minlength=n).astype(np.int32)
    over = (
        np.bincount(gid, weights=_bool(records["max_tokens_exceeded"])[order].astype(float), minlength=n) > 0
    )
    owner = np.empty(order.size, dtype=np.int64)
    owner[order] = gid
    del gid, order

    del attempt
    # a request's times; the ones only its derived metrics need are dropped as soon as those are computed
    # (a lean table of ten million requests must not hold every intermediate array at once)
    t_intended = _float(records["t_intended"])[i_first]
    t_first_dispatch = _float(records["t_dispatch"])[i_first]
    t = {
        c: _float(records[c])[i_last]
        for c in ("t_dispatch", "t_first_token", "t_first_output", "t_last_token")
    }
    t_end = _float(records["t_end"])[i_last]
    out_tok = _float(records["output_tokens"])[i_last]
    reasoning_tokens = _float(records["reasoning_tokens"])[i_last]
    ok = att_ok[i_last]
    throttled = ~ok & is_429[i_last]
    del att_ok, is_429
    spread = t["t_last_token"] - t["t_first_token"]  # > 0 only when two reads arrived at distinct times
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where((out_tok >= 2) & (spread > 0), spread / (out_tok - 1), np.nan)
    del spread
    timing = {
        "e2e": t_end - t["t_dispatch"],
        "user_latency": t_end - t_intended,
        "ttft": t["t_first_token"] - t["t_dispatch"],
        "user_ttft": t["t_first_token"] - t_intended,
        "ttfot": t["t_first_output"] - t["t_dispatch"],
        "user_ttfot": t["t_first_output"] - t_intended,
        "tpot": tpot,
        "schedule_lag": t_first_dispatch - t_intended,
    }
    if np.array_equal(t["t_first_output"], t["t_first_token"], equal_nan=True):
        # no reasoning: time to first output is time to first token, one array for both columns
        timing["ttfot"], timing["user_ttfot"] = timing["ttft"], timing["user_ttft"]
    if lean:
        t.clear()
        del t_first_dispatch
    endpoint_code, primary_code, table = _endpoint_codes(records, manifest, i_first, i_last)
    del i_first
    fallback = endpoint_code != primary_code
    price_of = np.zeros(len(table))
    where = {name: k for k, name in enumerate(table)}
    for ep in manifest.endpoints:
        p = ep.price.reasoning_per_mtok
        if ep.name in where:
            price_of[where[ep.name]] = (p if p is not None else ep.price.output_per_mtok) / 1e6
    reasoning_cost = np.nan_to_num(reasoning_tokens) * price_of[endpoint_code]
    del endpoint_code
    error_column = _column(records["error_class"], i_last)
    if isinstance(error_column, pd.Categorical):  # a succeeded request has no error class
        codes = error_column.codes.copy()
        codes[ok] = -1
        error_column = pd.Categorical.from_codes(codes, dtype=error_column.dtype)
    else:
        error_column = np.asarray(error_column, dtype=object).copy()
        error_column[ok] = None
    turn, session_id, cached = _session_columns(records, i_last)
    columns = {
        "contender": _column(records["contender"], i_last, ""),
        "request_id": None if lean else _column(records["request_id"], i_last),
        "prompt_id": _column(records["prompt_id"], i_last),
        "prompt_class": _column(records["prompt_class"], i_last, ""),
        "endpoint": _column(records["endpoint"], i_last, ""),
        "primary": _sorted_categorical(primary_code, table),
        "model_served": _column(records["model_served"], i_last),
        "t_intended": t_intended,
        "t_first_dispatch": None if lean else t_first_dispatch,
        "t_dispatch": t.get("t_dispatch"),
        "t_first_token": t.get("t_first_token"),
        "t_first_output": t.get("t_first_output"),
        "t_last_token": t.get("t_last_token"),
        "t_end": t_end,
        "ok": ok,
        "outcome": _column(records["outcome"], i_last),
        "error_class": error_column,
        "error_detail": None if lean else _column(records["error_detail"], i_last),
        "status": _float(records["status"])[i_last].astype(np.float32),  # NaN: no answer; codes exact
        "finished": _bool(records["is_final_attempt"])[i_last],
        "output_tokens": out_tok,
        "input_tokens": _float(records["input_tokens"])[i_last],
        "cached_input_tokens": cached,
        "session_id": session_id,
        "turn": turn,
        "usage_source": _column(records["usage_source"], i_last, "none"),
        "max_tokens_exceeded": over,
        "check_passed": _check(records["check_passed"], i_last),
        "n_attempts": n_att,
        "attempts_429": n429,
        "cost": cost,
        "wasted_cost": wasted,
        "fallback": fallback,
        "primary_failed": ~(ok & ~fallback),
        "rescued": ok & fallback,
        "throttled": throttled,
        "e2e": timing["e2e"],
        "user_latency": timing["user_latency"],
        "ttft": timing["ttft"],
        "user_ttft": timing["user_ttft"],
        "ttfot": timing["ttfot"],
        "user_ttfot": timing["user_ttfot"],
        "reasoning_tokens": reasoning_tokens,
        "reasoning_cost": reasoning_cost,
        "tpot": timing["tpot"],
        "schedule_lag": timing["schedule_lag"],
        "output_excerpt": None if lean else _column(records["output_excerpt"], i_last),
        "vendor_request_id": None if lean else _column(records["vendor_request_id"], i_last),
        "fault_injected": _column(records["fault_injected"], i_last),
    }
    if lean:
        for name in LEAN_OMITS:
            del columns[name]
        record = rows[i_last] if rows is not None else i_last
        columns["record"] = record.astype(np.int32 if len(records) < 2**31 else np.int64)
    return pd.DataFrame(columns, copy=False), owner


def _endpoint_codes(
    records: Any, manifest: Manifest, i_first: np.ndarray, i_last: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Each request's final endpoint and its primary (the contender's, from the manifest, else the first
    attempt's endpoint) as codes into one table of names (a missing endpoint is ""): no string per
    request."""
    ep_codes, ep_names = factorized(records["endpoint"])
    table = [str(e) for e in ep_names]
    where: dict[str, int] = {}
    for k, name in enumerate(table):
        where.setdefault(name, k)

    def code(name: str) -> int:
        if name not in where:
            where[name] = len(table)
            table.append(name)
        return where[name]

    # the same name under two codes (only "" and a missing value can be) is one endpoint
    canon = np.asarray([where[name] for name in table] + [code("")], dtype=np.int32)  # −1 reads the last
    last = canon[ep_codes[i_last]]
    primary = canon[ep_codes[i_first]]
    prim_map = primaries(manifest)
    c_codes, c_names = factorized(records["contender"])
    contender = c_codes[i_last]
    for i, c in enumerate(c_names):
        if prim_map.get(str(c)):
            primary[contender == i] = code(prim_map[str(c)])
    return last, primary, table


def _sorted_categorical(codes: np.ndarray, table: list[str]) -> pd.Categorical[str]:
    """Codes into ``table`` as the categorical ``pd.Categorical`` of their names would be: categories the
    names present, sorted."""
    present = np.flatnonzero(np.bincount(codes, minlength=len(table)))
    names = sorted({table[k] for k in present.tolist()})
    at = {name: k for k, name in enumerate(names)}
    lookup = np.full(len(table), -1, dtype=np.int32)
    for k in present.tolist():
        lookup[k] = at[table[k]]
    return pd.Categorical.from_codes(lookup[codes], categories=pd.Index(names))


def _session_columns(records: Any, idx: np.ndarray) -> tuple[np.ndarray, Any, np.ndarray]:
    """(turn, session_id, cached_input_tokens) at positions ``idx``: NaN / None for a request that is no
    session turn, or for a frame without those fields (written before sessions, or built by hand)."""
    columns = set(records.df.columns if isinstance(records, _Rows) else records.columns)

    def num(col: str) -> np.ndarray:
        return _float(records[col])[idx] if col in columns else np.full(len(idx), np.nan)

    session = (
        _categories(_obj(records["session_id"], idx)) if "session_id" in columns else np.full(len(idx), None)
    )
    return num("turn"), session, num("cached_input_tokens")


_BATCH = 1 << 20  # list cells flattened at a time: bounds the transient arrays of a 10M-record run


def _flat_lists(cells: pd.Series, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """The lists of ``cells`` flattened into one array, and each cell's length (a missing list: 0).

    Cells are Python lists or NumPy arrays (a frame from JSONL, or a plain Parquet read), or an Arrow list
    column (``pd.ArrowDtype``, the report's lean read), which is flattened without a Python object per
    cell."""
    if isinstance(cells.dtype, pd.ArrowDtype):
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.array(cells)
        lengths = pc.list_value_length(arr).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        flat = pc.list_flatten(arr).to_numpy(zero_copy_only=False)
        return np.asarray(flat, dtype=dtype), lengths
    lists: list[np.ndarray] = [
        np.asarray(x, dtype=dtype) if x is not None and not isinstance(x, float) else np.empty(0, dtype)
        for x in cells.tolist()
    ]
    lengths = np.fromiter((a.size for a in lists), dtype=np.int64, count=len(lists))
    flat = np.concatenate(lists) if lists else np.empty(0, dtype)
    return flat, lengths


def chunk_gaps(chunk_times: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Every gap between consecutive reads that carried deltas, pooled, and the position (in
    ``chunk_times``) each came from. Only reads at distinct times make a gap: two chunks stamped with the
    same time arrived together (a gap of 0 is no gap), and one read has none."""
    gaps: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    for start in range(0, len(chunk_times), _BATCH):
        flat, lengths = _flat_lists(chunk_times.iloc[start : start + _BATCH], float)
        if lengths.sum() < 2:
            continue
        owner = np.repeat(np.arange(start, start + lengths.size), lengths)
        diff = np.diff(flat)
        keep = (owner[1:] == owner[:-1]) & (diff > 0)
        gaps.append(diff[keep])
        owners.append(owner[1:][keep])
    if not gaps:
        return np.empty(0), np.empty(0, dtype=int)
    return np.concatenate(gaps), np.concatenate(owners)


def read_counts(chunk_deltas: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Per record: reads that carried deltas, and those of them that carried more than one (merged
    deltas: the vendor or the network sent them together). Records written before ``chunk_deltas``
    existed count 0 and 0."""
    reads: list[np.ndarray] = []
    merged: list[np.ndarray] = []
    for start in range(0, len(chunk_deltas), _BATCH):
        flat, lengths = _flat_lists(chunk_deltas.iloc[start : start + _BATCH], np.int64)
        n = lengths.size
        reads.append(lengths)
        if not lengths.sum():
            merged.append(np.zeros(n, dtype=np.int64))
            continue
        owner = np.repeat(np.arange(n), lengths)
        merged.append(np.bincount(owner, weights=flat > 1, minlength=n).astype(np.int64))
    if not reads:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(reads), np.concatenate(merged)
