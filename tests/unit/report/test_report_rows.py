"""The report's fast paths pick exactly what the pandas/numpy one-liners they replace pick: the same
quantiles bit for bit, the same slowest and first-failed rows (ties and missing values included)."""

from __future__ import annotations

import gc

import numpy as np
import pandas as pd
import pytest

from harness.analysis._rows import column_at
from harness.report import _rows
from harness.report._charts import _CDF_P, quantiles_of_sorted
from harness.report._context import _first_per_class, _slowest
from harness.report._rows import contender_rows


@pytest.mark.parametrize("n", [1, 2, 3, 7, 200, 201, 202, 1001, 54_321])
def test_quantiles_of_sorted_equal_np_quantile_bit_for_bit(n: int) -> None:
    rng = np.random.default_rng(n)
    for vals in (
        rng.lognormal(size=n),
        rng.integers(0, 5, size=n).astype(float),  # many ties
        np.round(rng.normal(size=n), 2) * 1e-3,
        np.full(n, 0.1),
    ):
        want = np.quantile(vals, _CDF_P)
        got = quantiles_of_sorted(np.sort(vals), _CDF_P)
        assert got.dtype == want.dtype
        assert got.tobytes() == want.tobytes()


def _table(n: int, seed: int, kind: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = np.array(["alpha", "beta", "gamma"])[rng.integers(0, 3, size=n)]
    lat = np.round(rng.exponential(size=n), 1)  # coarse: ties at the boundary
    lat[rng.random(n) < 0.2] = np.nan
    classes = np.array(["http_429", "read_timeout", "conn_reset", None], dtype=object)
    classes = classes[rng.integers(0, 4, size=n)]
    df = pd.DataFrame(
        {
            "contender": names,
            "ok": rng.random(n) < 0.6,
            "user_latency": lat,
            "t_intended": np.round(rng.uniform(0, 5, size=n), 0),  # many equal start times
            "error_class": classes,
        }
    )
    if kind == "category":
        df = df.astype({"contender": "category", "error_class": "category"})
    elif kind == "arrow":
        df = df.astype({"contender": "string[pyarrow]", "error_class": "string[pyarrow]"})
    return df


@pytest.mark.parametrize("kind", ["object", "category", "arrow"])
@pytest.mark.parametrize("n", [0, 1, 5, 12, 40, 3000])
def test_worst_rows_are_the_ones_pandas_picks(kind: str, n: int) -> None:
    df = _table(n, n, kind)
    rows = contender_rows(df)
    assert sorted(rows) == sorted(set(df["contender"].astype(str))) if n else rows == {}
    for c in ("alpha", "beta", "gamma", "nobody"):
        mine = rows.get(c, np.empty(0, dtype=np.intp))
        g = df.loc[(df["contender"] == c).to_numpy(dtype=bool)]
        assert mine.tolist() == np.flatnonzero((df["contender"] == c).to_numpy(dtype=bool)).tolist()
        ok = column_at(df, "ok", mine, bool)
        for k in (0, 1, 3, 10):
            slow = mine[ok][_slowest(column_at(df, "user_latency", mine[ok], float), k)]
            want = g.loc[g["ok"]].nlargest(k, "user_latency") if k else g.iloc[:0]
            assert slow.tolist() == want.index.tolist(), (c, k)
            failed = mine[~ok][_first_per_class(df, mine[~ok], k)]
            want = g.loc[~g["ok"]].sort_values("t_intended").drop_duplicates("error_class").head(k)
            assert failed.tolist() == want.index.tolist(), (c, k)


def test_contender_rows_are_found_once_per_table() -> None:
    df = _table(100, 1, "category")
    assert contender_rows(df) is contender_rows(df)
    other = df.copy()
    assert contender_rows(other) is not contender_rows(df)
    assert {k: v.tolist() for k, v in contender_rows(other).items()} == {
        k: v.tolist() for k, v in contender_rows(df).items()
    }
    del df, other
    gc.collect()
    assert not _rows._cache  # the positions were freed with their table


@pytest.mark.parametrize("kind", ["object", "category", "arrow"])
@pytest.mark.parametrize("k", [1, 3, 20])
def test_contender_rows_with_few_and_many_contenders(kind: str, k: int) -> None:
    rng = np.random.default_rng(k)
    names = pd.Series(
        np.array([f"c{i}" for i in range(k)] + [None], dtype=object)[rng.integers(0, k + 1, 500)]
    )
    df = pd.DataFrame(
        {"contender": names.astype({"object": object, "category": "category"}.get(kind, "string[pyarrow]"))}
    )
    got = {c: v.tolist() for c, v in contender_rows(df).items()}
    want = {c: np.flatnonzero((names == c).to_numpy()).tolist() for c in set(names.dropna())}
    assert got == want


def test_an_unused_category_has_no_rows() -> None:
    col = pd.Categorical(["b", "a", None, "b"], categories=["a", "b", "unused"])
    rows = contender_rows(pd.DataFrame({"contender": col}))
    assert {c: v.tolist() for c, v in rows.items()} == {"a": [1], "b": [0, 3]}
