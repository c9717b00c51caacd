"""Row positions, codes and per-row column reads: what the analysis reads a contender's requests through
must equal comparing and converting the whole column, whatever dtype the per-request table holds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis._rows import Codes, column_at, few_names, is_in, positions

NAMES = ["beta", "alpha", None, "alpha", "gamma", "beta", "alpha"]


@pytest.mark.parametrize("dtype", [object, "category", "string", "str"])
def test_positions_are_the_rows_equal_to_each_name(dtype: object) -> None:
    col = pd.Series(NAMES, dtype=dtype)
    got = positions(col)
    assert list(got) == ["beta", "alpha", "gamma"]
    for name, rows in got.items():
        assert rows.tolist() == np.flatnonzero(col.eq(name).fillna(False).to_numpy(dtype=bool)).tolist()
    codes = Codes(col.to_numpy(dtype=object))
    assert codes.codes[2] == -1 and codes.code("delta") == -2
    assert codes.codes_of(["gamma", "delta", "beta"]).tolist() == [codes.code("gamma"), codes.code("beta")]


@pytest.mark.parametrize(
    ("values", "dtype", "want"),
    [
        ([1.5, np.nan, 3.0, 4.0], "float64", float),
        ([1.5, np.nan, 3.0, 4.0], "float32", float),
        ([1.5, None, 3.0, 4.0], "Float64", float),
        ([1, 2, 3, 4], "int32", float),
        ([True, False, True, True], "bool", bool),
        ([True, False, True, True], "boolean", bool),
        ([200, None, 503, 429], object, float),
    ],
)
def test_a_column_read_at_rows_equals_the_whole_column_converted(
    values: list, dtype: object, want: type
) -> None:
    frame = pd.DataFrame({"x": pd.Series(values, dtype=dtype)})
    rows = np.array([3, 0, 1])
    got = column_at(frame, "x", rows, want)
    expected = frame["x"].to_numpy(dtype=want, na_value=np.nan if want is float else None)[rows]
    assert got.dtype == expected.dtype
    assert np.array_equal(got, expected, equal_nan=want is float)


def test_a_few_names_are_coded_as_a_factorize_codes_them() -> None:
    rng = np.random.default_rng(3)
    pool = np.array(["a", "b", "c", "d", "e", "f", None, np.nan], dtype=object)
    coded = 0
    for _ in range(1000):
        n = int(rng.integers(0, 60))
        values = pool[rng.integers(0, int(rng.integers(1, len(pool) + 1)), n)]
        values[rng.random(n) < rng.choice([0.0, 0.9, 1.0])] = "z"  # mostly one name, or not
        want_codes, want_names = pd.factorize(values)
        few = few_names(values)
        if few is not None:
            coded += 1
            assert few[0].tolist() == want_codes.tolist() and few[1] == list(want_names)
        got = Codes(values)
        assert got.codes.tolist() == want_codes.tolist() and got.names == list(want_names)
    assert coded > 100


def test_membership_of_a_categorical_is_that_of_its_values() -> None:
    values = np.array(["a", None, "b", "a", np.nan, "c"], dtype=object)
    for names in (["a", "zz"], [], ["c", "b"]):
        want = np.isin(values, names)
        assert is_in(values, names).tolist() == want.tolist()
        assert is_in(pd.Categorical(values), names).tolist() == want.tolist()
