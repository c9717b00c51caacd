"""A small metrics registry and its Prometheus text exposition (format 0.0.4), without I/O.

Counters, gauges (set, or read from a function at render time) and histograms with fixed buckets, each
with a fixed tuple of label names. Label values come from the user's scenario (contender, endpoint and
fault names) and from vendors (error classes are bakeoff's own): every value is cut to
``MAX_LABEL_CHARS`` and every metric keeps at most ``MAX_SERIES`` label sets (later ones are counted in
``dropped_series``, never kept), so a scrape stays small whatever the inputs.

Reference: https://prometheus.io/docs/instrumenting/exposition_formats/ — in a label value a backslash,
a double quote and a line feed are written ``\\\\``, ``\\"`` and ``\\n``; in HELP text a backslash and a
line feed are escaped.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence

from harness.servermetrics import escape_label_value as _escape

__all__ = [
    "CONTENT_TYPE",
    "MAX_LABEL_CHARS",
    "MAX_SERIES",
    "Counter",
    "Gauge",
    "HistogramSeries",
    "Registry",
    "bounded_label_value",
    "format_value",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_LABEL_CHARS = 120
MAX_SERIES = 2000

Labels = tuple[str, ...]


def bounded_label_value(value: str) -> str:
    """A label value as written between double quotes: cut to ``MAX_LABEL_CHARS``, then ``\\``, ``"`` and
    line feeds escaped (the format's escaping: :func:`harness.servermetrics.escape_label_value`)."""
    return _escape(value[:MAX_LABEL_CHARS])


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value: integers without a fraction, ``+Inf``/``-Inf``/``NaN`` as the format spells them."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _label_text(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    pairs = (f'{n}="{bounded_label_value(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + ",".join(pairs) + "}"


class _Metric:
    kind = ""

    def __init__(self, name: str, help_text: str, labels: Sequence[str], lock: threading.Lock) -> None:
        self.name = name
        self.help = help_text
        self.labels: Labels = tuple(labels)
        self._lock = lock
        self.dropped_series = 0

    def _key(self, values: Sequence[str]) -> Labels:
        if len(values) != len(self.labels):
            raise ValueError(f"{self.name}: {len(self.labels)} label values expected, got {len(values)}")
        return tuple(str(v)[:MAX_LABEL_CHARS] for v in values)

    def _room(self, series: Mapping[Labels, object], key: Labels) -> bool:
        """``key`` is kept: already there, or there is room for one more series."""
        if key in series:
            return True
        if len(series) >= MAX_SERIES:
            self.dropped_series += 1
            return False
        return True

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {_escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str], lock: threading.Lock) -> None:
        if not name.endswith("_total"):
            raise ValueError(f"counter {name}: its name ends in _total")
        super().__init__(name, help_text, labels, lock)
        self._values: dict[Labels, float] = {}

    def inc(self, *values: str, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError(f"{self.name}: a counter only goes up")
        key = self._key(values)
        with self._lock:
            if self._room(self._values, key):
                self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, *values: str) -> float:
        with self._lock:
            return self._values.get(self._key(values), 0.0)

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_label_text(self.labels, k)} {format_value(v)}" for k, v in items]


class Gauge(_Metric):
    """A value per label set, set by the caller; or, with ``read``, one function called at render time
    for each label set it names (``read()`` returns ``{label values: value}``)."""

    kind = "gauge"

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str],
        lock: threading.Lock,
        read: Callable[[], dict[Labels, float]] | None = None,
    ) -> None:
        super().__init__(name, help_text, labels, lock)
        self._values: dict[Labels, float] = {}
        self._read = read

    def set(self, *values: str, value: float) -> None:
        key = self._key(values)
        with self._lock:
            if self._room(self._values, key):
                self._values[key] = float(value)

    def lines(self) -> list[str]:
        if self._read is not None:
            read = {self._key(k): float(v) for k, v in self._read().items()}
            items = sorted(read.items())[:MAX_SERIES]
        else:
            with self._lock:
                items = sorted(self._values.items())
        return [f"{self.name}{_label_text(self.labels, k)} {format_value(v)}" for k, v in items]


class HistogramSeries(_Metric):
    """Fixed upper bounds (``le``); ``+Inf`` is added. Renders cumulative ``_bucket`` counts, ``_sum`` and
    ``_count`` per label set."""

    kind = "histogram"

    def __init__(
        self, name: str, help_text: str, labels: Sequence[str], lock: threading.Lock, buckets: Sequence[float]
    ) -> None:
        if "le" in labels:
            raise ValueError(f"{name}: 'le' is the bucket label")
        bounds = [float(b) for b in buckets if not math.isinf(b)]
        if not bounds or bounds != sorted(set(bounds)):
            raise ValueError(f"{name}: buckets must be increasing and distinct")
        super().__init__(name, help_text, labels, lock)
        self.buckets = tuple(bounds)
        self._series: dict[Labels, list[float]] = {}  # per-bucket counts (not cumulative), +Inf, sum

    def observe(self, *values: str, value: float) -> None:
        if math.isnan(value):
            return
        key = self._key(values)
        n = len(self.buckets)
        with self._lock:
            if not self._room(self._series, key):
                return
            row = self._series.setdefault(key, [0.0] * (n + 2))
            row[bisect_left(self.buckets, value)] += 1  # le is inclusive: value == bound counts in it
            row[n + 1] += value

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted((k, list(v)) for k, v in self._series.items())
        out: list[str] = []
        n = len(self.buckets)
        for key, row in items:
            running = 0.0
            for i, bound in enumerate((*self.buckets, math.inf)):
                running += row[i]
                labels = _label_text((*self.labels, "le"), (*key, format_value(bound)))
                out.append(f"{self.name}_bucket{labels} {format_value(running)}")
            out.append(f"{self.name}_sum{_label_text(self.labels, key)} {format_value(row[n + 1])}")
            out.append(f"{self.name}_count{_label_text(self.labels, key)} {format_value(running)}")
        return out


class Registry:
    """The metrics of one process; ``render()`` is the body of a ``/metrics`` answer. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._metrics: list[_Metric] = []

    def _add(self, metric: _Metric) -> None:
        if any(m.name == metric.name for m in self._metrics):
            raise ValueError(f"metric {metric.name} is already registered")
        self._metrics.append(metric)

    def counter(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Counter:
        metric = Counter(name, help_text, labels, self._lock)
        self._add(metric)
        return metric

    def gauge(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        read: Callable[[], dict[Labels, float]] | None = None,
    ) -> Gauge:
        metric = Gauge(name, help_text, labels, self._lock, read)
        self._add(metric)
        return metric

    def histogram(
        self, name: str, help_text: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> HistogramSeries:
        metric = HistogramSeries(name, help_text, labels, self._lock, buckets)
        self._add(metric)
        return metric

    def render(self) -> str:
        lines: list[str] = []
        for metric in self._metrics:
            lines.extend(metric.header())
            lines.extend(metric.lines())
        return "\n".join(lines) + "\n"
