"""Each contender's rows of the per-request table as index positions, found once per table.

The charts and the context read a few columns of one contender's requests at a time. A boolean mask
``logical["contender"] == c`` per chart compares every row (as Python strings when the column is not
Categorical) and ``.loc[mask, cols]`` copies those rows of every column asked for; at 10 M requests that
is most of the report's time and several full-size copies. Instead the contender column is factorised
once, each contender's row positions kept (ascending, so row order is the table's), and a chart takes
just the numpy values it needs with them (``harness.analysis._rows.column_at``).
"""

from __future__ import annotations

import weakref

import numpy as np
import pandas as pd

from harness.analysis._rows import positions

__all__ = ["contender_rows"]

# At most one entry: the table the positions belong to (weakly held, so it is freed as usual), its length
# and the positions.
_cache: list[tuple[weakref.ref[pd.DataFrame], int, dict[str, np.ndarray]]] = []


def contender_rows(logical: pd.DataFrame) -> dict[str, np.ndarray]:
    """Contender name → its rows' positions in ``logical`` (ascending). A contender with no rows is
    absent. Computed once per table object and reused by every chart and the context: the table is
    read-only once analysed (a column changed in place after the first call would not be seen)."""
    if _cache and _cache[0][0]() is logical and _cache[0][1] == len(logical):
        return _cache[0][2]
    rows = positions(logical["contender"]) if len(logical) else {}
    _cache[:] = [(weakref.ref(logical), len(logical), rows)]
    weakref.finalize(logical, _forget)  # the positions go with their table, not at the next report
    return rows


def _forget() -> None:
    _cache[:] = [entry for entry in _cache if entry[0]() is not None]
