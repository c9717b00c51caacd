"""Row positions and small-integer codes of a column, computed once instead of per contender.

Comparing an object or string column with each contender's name (``lg["contender"].to_numpy() == c``)
converts and scans the whole column once per contender, and ``lg.loc[mask, cols]`` copies a frame; at ten
million requests both cost seconds. These helpers factorize the column once (cheap for a Categorical, an
Arrow string or an object column alike) and hand out integer positions, through which any column's numpy
array is taken without copying the frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Codes", "column_at", "factorized", "few_names", "is_in", "positions"]


_FEW = 12  # distinct values up to which one pass each over the codes beats one stable sort of them


def factorized(values: Any) -> tuple[np.ndarray, list[Any]]:
    """Codes (-1 for a missing value) and the values they stand for: a Categorical's own codes, else
    ``pd.factorize``."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), list(values.cat.categories)
    if isinstance(values, pd.Categorical):
        return np.asarray(values.codes), list(values.categories)
    codes, uniques = pd.factorize(values)
    return np.asarray(codes), list(uniques)


def positions(values: Any) -> dict[str, np.ndarray]:
    """Each distinct value (as ``str``), in order of first appearance → the ascending positions holding
    it; missing values and unused categories are left out.

    The positions are those of ``values == name`` (the same rows in the same order)."""
    codes, names = factorized(values)
    if not codes.size:
        return {}
    counts = np.bincount(codes[codes >= 0], minlength=len(names))
    present = [k for k in range(len(names)) if counts[k]]
    out: dict[str, np.ndarray] = {}
    if len(present) <= _FEW:  # one pass per value beats a sort of every row
        out = {str(names[k]): np.flatnonzero(codes == k) for k in present}
    else:
        order = np.argsort(codes, kind="stable")  # stable: each value's positions stay ascending
        start = int(np.count_nonzero(codes < 0))  # rows without a value sort first (code -1)
        for k, name in enumerate(names):
            if counts[k]:
                out[str(name)] = order[start : start + counts[k]]
            start += counts[k]
    # in order of first appearance, as factorizing gives them (a categorical's codes follow its categories)
    return dict(sorted(out.items(), key=lambda item: int(item[1][0])))


def few_names(values: Any, most: int = 4) -> tuple[np.ndarray, list[Any]] | None:
    """``pd.factorize`` of an object array of at most ``most`` distinct strings, one of which names most
    values (the models a contender asks for), by comparisons name by name: cheaper than hashing each value.
    None when it is no object array, a value is not a string, no name holds 7/8 of the values, or there are
    more names."""
    if not isinstance(values, np.ndarray) or values.dtype != object:
        return None
    codes = np.full(values.size, -1, dtype=np.intp)
    names: list[Any] = []
    rest = np.arange(values.size)  # positions not named yet, ascending: the next name is the earliest
    while rest.size:
        name = values[rest[0]]
        if not isinstance(name, str) or len(names) == most:
            return None
        try:
            same = np.asarray((values if len(names) == 0 else values[rest]) == name, dtype=bool)
        except TypeError:  # pd.NA among them
            return None
        codes[rest[same]] = len(names)
        names.append(name)
        rest = rest[~same]
        if len(names) == 1 and rest.size * 8 > values.size:  # no name dominates: hashing is cheaper
            return None
    return codes, names


class Codes:
    """A column as integer codes (-1 for a missing value) and its distinct values, so that equality with a
    name and membership in a set of names are integer comparisons. A Categorical's own codes are used as
    they are; ``names`` holds the values present."""

    def __init__(self, values: Any) -> None:
        codes, names = factorized(values)  # (contenders share rows about evenly: hashing pays)
        self.codes: np.ndarray = codes
        self._index = {u: i for i, u in enumerate(names)}
        if len(names) and isinstance(values.dtype, pd.CategoricalDtype):
            used = np.bincount(codes[codes >= 0], minlength=len(names))
            names = [u for u, n in zip(names, used.tolist(), strict=True) if n]
        self.names: list[Any] = names

    def code(self, name: Any) -> int:
        """The code of ``name`` (-2, which no row holds, when no row holds it)."""
        return self._index.get(name, -2)

    def equal(self, name: Any) -> np.ndarray:
        """``column == name`` as a bool array."""
        return np.asarray(self.codes == self.code(name))

    def codes_of(self, names: Iterable[Any]) -> np.ndarray:
        return np.array([self._index[n] for n in names if n in self._index], dtype=np.int64)


def column_at(frame: pd.DataFrame, name: str, rows: np.ndarray, dtype: Any) -> np.ndarray:
    """``frame[name].to_numpy(dtype=dtype)[rows]`` without converting the whole column: a numpy column is
    read in place and only ``rows`` are taken (then cast); any other (nullable, Arrow, Categorical) is
    taken first and only those values converted (a missing value as NaN when ``dtype`` is float)."""
    col = frame[name]
    if isinstance(col.dtype, np.dtype):
        return np.asarray(col.to_numpy()[rows], dtype=dtype)
    taken = col.array.take(rows)
    if dtype is float:
        return np.asarray(taken.to_numpy(dtype=float, na_value=np.nan))
    return np.asarray(taken.to_numpy(dtype=dtype))


def is_in(values: Any, names: list[Any]) -> np.ndarray:
    """``np.isin(values, names)`` of names (a missing value is in no list of names); a Categorical through
    its codes, without a string per value."""
    if isinstance(values, pd.Categorical):
        return np.asarray(values.isin(names), dtype=bool)
    return np.isin(values, names)
