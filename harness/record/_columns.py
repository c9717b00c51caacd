"""The records of a run read column by column: the report's way to analyse millions of records in bounded
memory.

``read_records`` builds one frame of every column asked for; at ten million records that frame alone is
several gigabytes. :class:`ParquetRecords` answers ``records[col]`` with just that column, read from
``records.parquet`` when it is asked for and converted the way ``read_records(..., lean=True)`` converts
it (the same values; text of few distinct values as a categorical of Python strings), so the analysis
runs on either unchanged. A column of few distinct values
(a categorical: one small integer per record) is kept once read; any other is read again when asked again,
and freed as soon as its caller drops it. List columns (``chunk_times``) are read one row group at a time
(:meth:`ParquetRecords.list_batches`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["ParquetRecords", "RecordFrame", "list_batches"]

# string fields that hold (nearly) one value per record: read as plain strings, never as dictionaries
_UNIQUE_STRINGS = frozenset({"request_id", "vendor_request_id"})


class RecordFrame(Protocol):
    """What the analysis reads of the records: a pandas DataFrame, or a :class:`ParquetRecords`."""

    attrs: dict[Hashable, Any]

    @property
    def columns(self) -> Any: ...

    def __len__(self) -> int: ...

    def __getitem__(self, key: str) -> pd.Series: ...

    def __setitem__(self, key: str, value: Any) -> None: ...


class ParquetRecords:
    """Columns of ``records.parquet`` on demand, as a read-only stand-in for the records frame.

    Supports what the analysis uses of a frame: ``len()``, ``columns``, ``attrs``, ``frame[col]`` (a
    Series), ``copy(deep=False)`` and assigning a whole column (kept in memory, over the file's)."""

    def __init__(self, path: Path, names: Sequence[str], *, skipped: int = 0) -> None:
        import pyarrow.parquet as pq

        self.path = path
        self._file = pq.ParquetFile(path)
        self._have = set(self._file.schema_arrow.names)
        self._names = list(names)
        self._rows = int(self._file.metadata.num_rows)
        self._kept: dict[str, pd.Series] = {}
        self._set: dict[str, Any] = {}
        self.attrs: dict[Hashable, Any] = {"skipped_lines": skipped}

    @property
    def columns(self) -> list[str]:
        return list(self._names)

    def __len__(self) -> int:
        return self._rows

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def copy(self, deep: bool = False) -> ParquetRecords:
        out = ParquetRecords.__new__(ParquetRecords)
        out.__dict__.update(self.__dict__)
        out._set = dict(self._set)
        out.attrs = dict(self.attrs)
        return out

    def __setitem__(self, name: str, values: Any) -> None:
        import pandas as pd

        if name not in self._names:
            self._names.append(name)
        self._set[name] = pd.Series(values)

    def __getitem__(self, name: str) -> pd.Series:
        if name in self._set:
            series: pd.Series = self._set[name]
            return series
        if name in self._kept:
            return self._kept[name]
        if name not in self._names:
            raise KeyError(name)
        import pandas as pd

        series = self._read(name)
        if isinstance(series.dtype, pd.CategoricalDtype) or series.dtype == bool:
            self._kept[name] = series
        return series

    def _table(self, name: str, row_group: int | None = None) -> Any:
        """One column as an Arrow table (all row groups, or one), the way ``read_records`` reads it."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from harness.record._rundir import _project, record_schema

        if name not in self._have:  # a file from before the field existed: its default
            n = self._rows if row_group is None else self._file.metadata.row_group(row_group).num_rows
            return _project(pa.table({"__rows": pa.nulls(n)}), [name])
        typ = record_schema().field(name).type
        strings = pa.types.is_string(typ) and name not in _UNIQUE_STRINGS
        f = pq.ParquetFile(self.path, read_dictionary=[name] if strings else None)
        try:
            if row_group is None:
                return f.read(columns=[name])
            return f.read_row_group(row_group, columns=[name])
        finally:
            f.close()

    def _read(self, name: str) -> pd.Series:
        import pandas as pd

        from harness.record._rundir import _to_frame

        table = self._table(name)
        if name in _UNIQUE_STRINGS and table.column(name).null_count < table.num_rows:
            # what the frame reader's dictionary test decides for such a column, without its cost
            plain: pd.Series = table.to_pandas(split_blocks=True, self_destruct=True)[name]
            return plain
        held = [table]
        del table
        series: pd.Series = _to_frame(held, lean=True)[name]
        if isinstance(series.dtype, pd.CategoricalDtype):
            # categories as Python strings: turning codes into values is then one NumPy take, where Arrow
            # string categories convert value by value
            cats = pd.Index(series.cat.categories.to_numpy(dtype=object), dtype=object)
            codes = series.cat.codes.to_numpy()
            series = pd.Series(pd.Categorical.from_codes(codes, categories=cats), name=name)
        return series

    def rows(self, positions: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
        """Columns ``names`` of the records at ``positions`` (a few, any order), each row group that
        holds one read once: Python objects, None where missing."""
        import numpy as np
        import pandas as pd

        positions = np.asarray(positions, dtype=np.int64)
        out = {n: np.full(positions.size, None, dtype=object) for n in names}
        meta = self._file.metadata
        starts = np.cumsum([0] + [meta.row_group(g).num_rows for g in range(meta.num_row_groups)])
        groups = np.searchsorted(starts, positions, side="right") - 1
        for g in np.unique(groups).tolist():
            at = np.flatnonzero(groups == g)
            for n in names:
                if n in self._set:
                    values = self._set[n].take(positions[at]).to_numpy(dtype=object).tolist()
                elif n not in self._have:
                    continue
                else:
                    column = self._file.read_row_group(g, columns=[n]).column(n)
                    values = column.take(positions[at] - starts[g]).to_pylist()
                out[n][at] = [None if v is None or pd.isna(v) else v for v in values]
        return pd.DataFrame(out)

    def list_batches(self, name: str, positions: np.ndarray) -> Iterator[tuple[int, pd.Series]]:
        """The cells of list column ``name`` at ``positions`` (ascending), one row group at a time: pairs
        of (index in ``positions`` of the batch's first cell, the cells as an Arrow-backed Series)."""
        import numpy as np
        import pandas as pd
        import pyarrow as pa

        if name in self._set:
            yield 0, self._set[name].take(positions).reset_index(drop=True)
            return
        meta = self._file.metadata
        start = 0
        for g in range(meta.num_row_groups):
            n = meta.row_group(g).num_rows
            lo, hi = np.searchsorted(positions, [start, start + n])
            if hi > lo:
                column = self._table(name, g).column(name).combine_chunks()
                cells = column.take(pa.array(positions[lo:hi] - start))
                yield int(lo), pd.Series(pd.arrays.ArrowExtensionArray(cells))
            start += n


def list_batches(records: RecordFrame, name: str, positions: np.ndarray) -> Iterator[tuple[int, pd.Series]]:
    """:meth:`ParquetRecords.list_batches` for either kind of records (a frame: one batch)."""
    if isinstance(records, ParquetRecords):
        yield from records.list_batches(name, positions)
    else:
        yield 0, records[name].take(positions).reset_index(drop=True)
