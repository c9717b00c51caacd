"""The scraper against hostile metrics endpoints on loopback: a flood, a trickle that never ends, an
error status, a redirect. Each scrape ends within its bounds as a gap row; a good one yields samples."""

from __future__ import annotations

import http.server
import time
from collections.abc import Iterator

import httpx
import pytest
from vendors import http_vendor

from harness.servermetrics import Scraper, ScrapeTarget

GOOD = b'# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name="m"} 3\n'


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/good":
            self._head(200, len(GOOD))
            self.wfile.write(GOOD)
        elif self.path == "/flood":  # 8 MiB of valid-looking samples, no length
            self._head(200, None)
            line = b'm{a="b"} 1\n' * 1000
            try:
                for _ in range(800):
                    self.wfile.write(line)
            except OSError:
                pass
        elif self.path == "/trickle":  # one byte every 0.2 s, forever
            self._head(200, None)
            try:
                for _ in range(200):
                    self.wfile.write(b"#")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("location", "/good")
            self.send_header("content-length", "0")
            self.end_headers()
        else:
            self._head(503, 0)

    def _head(self, status: int, length: int | None) -> None:
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        if length is not None:
            self.send_header("content-length", str(length))
        else:
            self.send_header("connection", "close")
        self.end_headers()


@pytest.fixture
def base() -> Iterator[str]:
    with http_vendor(_Handler) as port:
        yield f"http://127.0.0.1:{port}"


def _scrape(base: str, path: str) -> tuple[list[dict[str, object]], float]:
    s = Scraper([], interval=1.0, clock=lambda: 7.5, sleep=time.sleep, timeout_s=1.0, max_bytes=1024 * 1024)
    t0 = time.monotonic()
    with httpx.Client(trust_env=False, timeout=httpx.Timeout(1.0)) as c:
        s.scrape_once(c, ScrapeTarget("e", base + path))
    return s.rows, time.monotonic() - t0


def test_a_good_scrape_gives_samples_with_their_series(base: str) -> None:
    rows, _ = _scrape(base, "/good")
    assert rows == [
        {
            "t": 7.5,
            "endpoint": "e",
            "metric": "vllm:num_requests_waiting",
            "labels": '{model_name="m"}',
            "value": 3.0,
            "series": "waiting",
            "error": None,
        }
    ]


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/flood", "answer larger than 1048576 bytes"),
        ("/trickle", "timeout"),
        ("/status", "HTTP 503"),
        ("/redirect", "HTTP 302"),
    ],
)
def test_hostile_answers_are_gaps_within_bounds(base: str, path: str, error: str) -> None:
    rows, took = _scrape(base, path)
    assert rows == [
        {
            "t": 7.5,
            "endpoint": "e",
            "metric": None,
            "labels": None,
            "value": None,
            "series": None,
            "error": error,
        }
    ]
    assert took < 5.0  # bounded by the 1 s deadline (plus one read timeout), not by the server


def test_run_target_scrapes_on_the_interval_until_stopped(base: str) -> None:
    now = [0.0]

    def sleep(s: float) -> None:  # the run's clock, advanced by the sleeps alone
        now[0] += s

    s = Scraper([], interval=0.5, clock=lambda: now[0], sleep=sleep, timeout_s=1.0)
    s.run_target(ScrapeTarget("e", base + "/good"), stopping=lambda: now[0] >= 1.9)
    assert [r["t"] for r in s.rows] == [0.0, 0.5, 1.0, 1.5]
    assert s.scrapes == {"e": 4} and s.failures == {} and s.all_failed() == []
