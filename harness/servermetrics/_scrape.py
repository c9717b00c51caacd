"""The scraper a run uses: each endpoint's metrics URL fetched every ``interval`` seconds of the run
clock, parsed, and kept as rows for ``server_metrics.parquet``.

A vendor's metrics endpoint is untrusted input: one scrape reads at most ``max_bytes`` (decoded), takes
at most ``timeout_s`` (connect, every read, and the whole body), keeps at most ``max_samples`` samples,
and follows no redirect; no credential is sent. A scrape that fails (refused, timed out, not 200, too
large) is one row with ``error`` set and no value: a gap in the series, never a failed run.

Rows (the columns of ``server_metrics.parquet``): ``t`` (run-clock seconds when the scrape started),
``endpoint``, ``metric`` (the vendor's name), ``labels`` (text, ``{a="x",b="y"}``), ``value``,
``series`` (the key series the name maps to, :mod:`harness.servermetrics._series`, else null) and
``error`` (null for a sample).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.servermetrics._series import series_of
from harness.servermetrics._text import format_labels, parse_text

__all__ = ["SERVER_METRICS_FILE", "ScrapeTarget", "Scraper"]

SERVER_METRICS_FILE = "server_metrics.parquet"
COLUMNS = ("t", "endpoint", "metric", "labels", "value", "series", "error")


@dataclass(frozen=True)
class ScrapeTarget:
    endpoint: str
    url: str


class _TooLarge(Exception):
    pass


class Scraper:
    """Scrape ``targets`` until ``stopping()``; ``rows`` holds what was seen, ``write()`` saves it.

    ``clock`` is the run clock (seconds since the load started); ``sleep`` the runtime's sleep, so the
    loop is a cooperative task of the run process (:mod:`harness.load._runtime`).
    """

    def __init__(
        self,
        targets: list[ScrapeTarget],
        *,
        interval: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        timeout_s: float | None = None,
        max_bytes: int = 4 * 1024 * 1024,
        max_samples: int = 20_000,
    ) -> None:
        self.targets = targets
        self.interval = interval
        self.clock = clock
        self.sleep = sleep
        self.timeout_s = timeout_s if timeout_s is not None else max(1.0, min(5.0, interval))
        self.max_bytes = max_bytes
        self.max_samples = max_samples
        self.rows: list[dict[str, Any]] = []
        self.scrapes: dict[str, int] = {}  # endpoint → scrapes tried
        self.failures: dict[str, int] = {}  # endpoint → scrapes failed

    # ------------------------------------------------------------------------------------------ one
    def _fetch(self, client: httpx.Client, url: str) -> str:
        deadline = time.monotonic() + self.timeout_s
        with client.stream("GET", url) as resp:
            if resp.status_code != 200:
                raise httpx.HTTPStatusError(f"HTTP {resp.status_code}", request=resp.request, response=resp)
            buf = bytearray()
            for chunk in resp.iter_bytes():
                buf += chunk
                if len(buf) > self.max_bytes:
                    raise _TooLarge(f"answer larger than {self.max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout(f"scrape took longer than {self.timeout_s:g} s")
        return buf.decode("utf-8", errors="replace")

    def scrape_once(self, client: httpx.Client, target: ScrapeTarget) -> None:
        t = round(self.clock(), 3)
        ep = target.endpoint
        self.scrapes[ep] = self.scrapes.get(ep, 0) + 1
        try:
            text = self._fetch(client, target.url)
        except Exception as exc:  # any failure is a gap, never the run's failure
            self.failures[ep] = self.failures.get(ep, 0) + 1
            self.rows.append(
                {
                    "t": t,
                    "endpoint": target.endpoint,
                    "metric": None,
                    "labels": None,
                    "value": None,
                    "series": None,
                    "error": _describe(exc),
                }
            )
            return
        parsed = parse_text(text, max_samples=self.max_samples)
        for s in parsed.samples:
            hit = series_of(s.name)
            self.rows.append(
                {
                    "t": t,
                    "endpoint": target.endpoint,
                    "metric": s.name,
                    "labels": format_labels(dict(s.labels)),
                    "value": s.value,
                    "series": hit[0] if hit else None,
                    "error": None,
                }
            )

    # ----------------------------------------------------------------------------------------- loop
    def run_target(self, target: ScrapeTarget, stopping: Callable[[], bool]) -> None:
        """Scrape one target every ``interval`` until ``stopping()`` (checked at least every 0.1 s)."""
        with httpx.Client(
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(self.timeout_s),
            headers={"accept": "text/plain", "accept-encoding": "identity", "user-agent": "bakeoff"},
        ) as client:
            next_at = self.clock()
            while not stopping():
                self.scrape_once(client, target)
                next_at = max(next_at + self.interval, self.clock())  # missed ticks are not made up
                while not stopping():
                    left = next_at - self.clock()
                    if left <= 0:
                        break
                    self.sleep(min(0.1, left))

    def all_failed(self) -> list[str]:
        """Endpoints whose every scrape failed."""
        return [ep for ep, n in self.scrapes.items() if n and self.failures.get(ep, 0) == n]

    def write(self, run_dir: Path) -> Path:
        """``server_metrics.parquet`` in ``run_dir`` (empty, with its columns, when nothing was seen)."""
        import pandas as pd

        df = pd.DataFrame(self.rows, columns=list(COLUMNS))
        df["value"] = df["value"].astype("float64")
        df["t"] = df["t"].astype("float64")
        path = run_dir / SERVER_METRICS_FILE
        df.to_parquet(path, index=False)
        return path


def _describe(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return str(exc)[:40]
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, _TooLarge):
        return str(exc)
    if isinstance(exc, httpx.ConnectError):
        return "connect failed"
    return type(exc).__name__
