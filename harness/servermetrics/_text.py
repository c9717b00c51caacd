"""The Prometheus text exposition format (version 0.0.4), sans I/O: a renderer for the simulator's
``/metrics`` and a bounded parser for what a vendor's ``/metrics`` answers.

A vendor's answer is untrusted input: the parser never raises on a malformed line (it skips it and
counts it), keeps at most ``max_samples`` samples, cuts names and label values to ``max_chars``
characters and keeps at most ``max_labels`` labels per sample.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "Family",
    "Histogram",
    "ParsedText",
    "Sample",
    "escape_label_value",
    "format_labels",
    "parse_text",
    "render_text",
]


# ------------------------------------------------------------------------------------------- render
class Histogram:
    """Cumulative buckets (upper bounds ``le``), sum and count, as Prometheus histograms are exposed."""

    __slots__ = ("bounds", "count", "counts", "total")

    def __init__(self, bounds: Iterable[float]) -> None:
        self.bounds = tuple(sorted(bounds))
        self.counts = [0] * len(self.bounds)  # per bucket, not cumulative
        self.count = 0
        self.total = 0.0

    def observe(self, value: float) -> None:
        i = bisect.bisect_left(self.bounds, value)
        if i < len(self.counts):
            self.counts[i] += 1
        self.count += 1
        self.total += value

    def cumulative(self) -> list[tuple[float, int]]:
        """(le, observations ≤ le) for every bound and +Inf."""
        out: list[tuple[float, int]] = []
        acc = 0
        for b, c in zip(self.bounds, self.counts, strict=True):
            acc += c
            out.append((b, acc))
        out.append((math.inf, self.count))
        return out


@dataclass
class Family:
    """One metric family: ``kind`` gauge, counter or histogram; ``samples`` (labels, value or Histogram)."""

    name: str
    kind: str
    help: str
    samples: list[tuple[dict[str, str], float | Histogram]] = field(default_factory=list)


def _value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def escape_label_value(v: str) -> str:
    """A label value as written between double quotes: ``\\``, ``"`` and line feeds escaped."""
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_labels(labels: Mapping[str, str]) -> str:
    """``{a="x",b="y"}`` in the given order (empty string when there are none)."""
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels.items()) + "}"


def render_text(families: Iterable[Family]) -> str:
    """The exposition text of ``families``: HELP and TYPE lines, then the samples; histograms as
    ``_bucket{le=…}`` (``le`` first, as prometheus_client writes it), ``_sum`` and ``_count``."""
    lines: list[str] = []
    for f in families:
        lines.append(
            f"# HELP {f.name} {f.help.replace(chr(92), chr(92) * 2).replace(chr(10), chr(92) + 'n')}"
        )
        lines.append(f"# TYPE {f.name} {f.kind}")
        for labels, v in f.samples:
            if isinstance(v, Histogram):
                for le, n in v.cumulative():
                    lines.append(f"{f.name}_bucket{format_labels({'le': _value(le), **labels})} {_value(n)}")
                lines.append(f"{f.name}_sum{format_labels(labels)} {_value(v.total)}")
                lines.append(f"{f.name}_count{format_labels(labels)} {_value(v.count)}")
            else:
                lines.append(f"{f.name}{format_labels(labels)} {_value(v)}")
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------------------- parse
@dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float


@dataclass
class ParsedText:
    samples: list[Sample]
    types: dict[str, str]  # family name → declared TYPE
    skipped: int = 0  # malformed lines
    truncated: bool = False  # more than max_samples samples


def _name_ok(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c in "_:")


def _parse_labels(s: str, i: int, max_chars: int, max_labels: int) -> tuple[tuple[tuple[str, str], ...], int]:
    """Labels from ``s[i] == '{'``; returns them and the index after ``}``. ValueError when malformed."""
    out: list[tuple[str, str]] = []
    i += 1
    n = len(s)
    while True:
        while i < n and s[i] in " \t,":
            i += 1
        if i < n and s[i] == "}":
            return tuple(out[:max_labels]), i + 1
        j = i
        while j < n and _name_ok(s[j]):
            j += 1
        key = s[i:j]
        while j < n and s[j] in " \t":
            j += 1
        if not key or j + 1 >= n or s[j] != "=" or s[j + 1] != '"':
            raise ValueError("label")
        j += 2
        buf: list[str] = []
        while True:
            if j >= n:
                raise ValueError("unterminated label value")
            c = s[j]
            if c == "\\" and j + 1 < n:
                nxt = s[j + 1]
                buf.append("\n" if nxt == "n" else nxt)
                j += 2
                continue
            if c == '"':
                j += 1
                break
            buf.append(c)
            j += 1
        out.append((key[:max_chars], "".join(buf)[:max_chars]))
        i = j


def _parse_value(s: str) -> float:
    t = s.strip()
    if t in ("+Inf", "Inf"):
        return math.inf
    if t == "-Inf":
        return -math.inf
    if t == "NaN":
        return math.nan
    return float(t)


def parse_text(
    text: str, *, max_samples: int = 20_000, max_chars: int = 200, max_labels: int = 16
) -> ParsedText:
    """The samples of an exposition text (the Prometheus text format; OpenMetrics' ``# EOF`` and
    ``_created``/exemplar suffixes are tolerated). Timestamps after the value are ignored."""
    out = ParsedText(samples=[], types={})
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 4 and parts[1] == "TYPE":
                out.types[parts[2][:max_chars]] = parts[3].strip()[:20]
            continue
        if len(out.samples) >= max_samples:
            out.truncated = True
            break
        try:
            i = 0
            n = len(line)
            while i < n and _name_ok(line[i]):
                i += 1
            name = line[:i]
            if not name or name[0].isdigit():
                raise ValueError("name")
            labels: tuple[tuple[str, str], ...] = ()
            if i < n and line[i] == "{":
                labels, i = _parse_labels(line, i, max_chars, max_labels)
            rest = line[i:].split("#", 1)[0].split()  # an OpenMetrics exemplar follows '#'
            if not rest:
                raise ValueError("no value")
            value = _parse_value(rest[0])
        except ValueError:
            out.skipped += 1
            continue
        out.samples.append(Sample(name[:max_chars], labels, value))
    return out
