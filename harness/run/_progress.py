"""Live progress in the terminal: per contender requests/s, in flight, p95 TTFT, errors, fallbacks;
active faults; elapsed and remaining time. Plain lines when stdout is not a terminal; nothing when quiet."""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from harness._percentile import percentile
from harness._text import terminal_safe
from harness.record import RequestRecord

__all__ = ["Progress"]

_WINDOW_S = 10.0


class Progress:
    """Fed with final-attempt records; renders every ``tick()``."""

    def __init__(
        self,
        contenders: Sequence[str],
        *,
        duration: float,
        clock: Callable[[], float],
        active_faults: Callable[[], list[str]],
        in_flight: Callable[[str], int],
        quiet: bool = False,
        stream: TextIO | None = None,
    ) -> None:
        self.contenders = list(contenders)
        self.duration = duration
        self.clock = clock
        self.active_faults = active_faults
        self.in_flight = in_flight
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.console = Console(file=self.stream, highlight=False, soft_wrap=True)
        self.is_tty = self.console.is_terminal
        self._recent: dict[str, deque[RequestRecord]] = {c: deque() for c in self.contenders}
        self._totals: dict[str, list[int]] = {
            c: [0, 0, 0] for c in self.contenders
        }  # done, errors, fallbacks
        self._primary: dict[str, str] = {}
        self._live: Live | None = None
        self._last_line = 0.0

    def set_primaries(self, primaries: dict[str, str]) -> None:
        self._primary = dict(primaries)

    def add(self, record: RequestRecord) -> None:
        if not record.is_final_attempt:
            return
        tot = self._totals.setdefault(record.contender, [0, 0, 0])
        tot[0] += 1
        if record.outcome != "ok":
            tot[1] += 1
        if record.endpoint != self._primary.get(record.contender, record.endpoint):
            tot[2] += 1
        recent = self._recent.setdefault(record.contender, deque())
        recent.append(record)
        # pruned here too, not only when the table is drawn: a quiet run (or one without a terminal) must
        # not keep every record of a soak in the master
        while recent and recent[0].t_end < record.t_end - _WINDOW_S:
            recent.popleft()

    def _table(self) -> Table:
        now = self.clock()
        table = Table(title=self._title(now), title_justify="left", expand=False)
        for col in ("contender", "req/s", "in flight", "p95 TTFT", "done", "errors", "fallbacks"):
            table.add_column(col, justify="right" if col != "contender" else "left")
        for c in self.contenders:
            recent = self._recent[c]
            while recent and recent[0].t_end < now - _WINDOW_S:
                recent.popleft()
            window = min(_WINDOW_S, max(now, 1e-9))
            ttfts = [r.t_first_token - r.t_dispatch for r in recent if r.t_first_token is not None]
            p95 = percentile(ttfts, 95) if ttfts else None
            done, errors, fallbacks = self._totals[c]
            table.add_row(
                Text(c),
                f"{len(recent) / window:.1f}",
                str(self.in_flight(c)),
                "-" if p95 is None else f"{p95 * 1000:.0f} ms",
                str(done),
                str(errors),
                str(fallbacks),
            )
        return table

    def _title(self, now: float) -> str:
        faults = self.active_faults()
        left = max(0.0, self.duration - now)
        text = f"bakeoff  elapsed {now:5.1f} s  remaining {left:5.1f} s"
        return text + (f"  active faults: {', '.join(faults)}" if faults else "")

    def tick(self) -> None:
        if self.quiet:
            return
        if self.is_tty:
            if self._live is None:
                self._live = Live(self._table(), console=self.console, refresh_per_second=4, transient=False)
                self._live.start()
            else:
                self._live.update(self._table())
            return
        mono = time.monotonic()
        if mono - self._last_line >= 10.0:
            self._last_line = mono
            now = self.clock()
            parts = [f"{c}: {t[0]} done, {t[1]} errors, {t[2]} fallbacks" for c, t in self._totals.items()]
            faults = self.active_faults()
            self.stream.write(
                f"[{now:6.1f} s] "
                + "; ".join(parts)
                + (f"; faults: {', '.join(faults)}" if faults else "")
                + "\n"
            )
            self.stream.flush()

    def close(self) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.stop()
            self._live = None

    def message(self, text: str, *, always: bool = False) -> None:
        """A line above the live table; ``always`` prints it in quiet mode too (stops, warnings)."""
        if always or not self.quiet:
            self.console.print(terminal_safe(text), markup=False, highlight=False)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
