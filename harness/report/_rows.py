"""Each contender's rows of the per-request table as index positions, found once per table.

The charts and the context read a few columns of one contender's requests at a time. A boolean mask
``logical["contender"] == c`` per chart compares every row (as Python strings when the column is not
Categorical) and ``.loc[mask, cols]`` copies those rows of every column asked for; at 10 M requests that
is most of the report's time and several full-size copies. Instead the contender column is factorised
once, each contender's row positions kept (ascending, so row order is the table's), and a chart takes
just the numpy values it needs with them (:func:`column`).
"""

from __future__ import annotations

import weakref

import numpy as np
import pandas as pd

__all__ = ["column", "contender_rows"]

# At most one entry: the table the positions belong to (weakly held, so it is freed as usual), its length
# and the positions.
_cache: list[tuple[weakref.ref[pd.DataFrame], int, dict[str, np.ndarray]]] = []


def contender_rows(logical: pd.DataFrame) -> dict[str, np.ndarray]:
    """Contender name → its rows' positions in ``logical`` (ascending). A contender with no rows is
    absent. Computed once per table object and reused by every chart and the context: the table is
    read-only once analysed (a column changed in place after the first call would not be seen)."""
    if _cache and _cache[0][0]() is logical and _cache[0][1] == len(logical):
        return _cache[0][2]
    rows = _positions(logical)
    _cache[:] = [(weakref.ref(logical), len(logical), rows)]
    weakref.finalize(logical, _forget)  # the positions go with their table, not at the next report
    return rows


def _forget() -> None:
    _cache[:] = [entry for entry in _cache if entry[0]() is not None]


_FEW = 12  # contenders up to which one pass each over the codes beats one stable sort of them


def _positions(logical: pd.DataFrame) -> dict[str, np.ndarray]:
    if logical.empty:
        return {}
    ser = logical["contender"]
    if isinstance(ser.dtype, pd.CategoricalDtype):  # its codes already are a factorisation
        codes, names = np.asarray(ser.cat.codes), list(ser.cat.categories)
    else:
        raw, uniques = pd.factorize(ser)
        codes, names = np.asarray(raw), list(uniques)
    counts = np.bincount(codes[codes >= 0], minlength=len(names))
    present = [k for k in range(len(names)) if counts[k]]  # an unused category has no rows
    if len(present) <= _FEW:  # one pass per contender beats a sort of every row
        return {names[k]: np.flatnonzero(codes == k) for k in present}
    order = np.argsort(codes, kind="stable")  # stable: each contender's positions stay ascending
    start = int(np.count_nonzero(codes < 0))  # rows without a contender sort first (code -1)
    out: dict[str, np.ndarray] = {}
    for k, name in enumerate(names):
        if counts[k]:
            out[name] = order[start : start + counts[k]]
        start += counts[k]
    return out


def column(logical: pd.DataFrame, name: str, rows: np.ndarray, dtype: type = float) -> np.ndarray:
    """Column ``name`` at positions ``rows`` as a numpy array of ``dtype`` (NaN for a missing float): the
    rows are taken first, so only they are converted, whatever the column's dtype."""
    taken = logical[name].array.take(rows)
    if dtype is float:
        return np.asarray(taken.to_numpy(dtype=float, na_value=np.nan))
    return np.asarray(taken.to_numpy(dtype=dtype))
