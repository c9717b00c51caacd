"""A hostile vendor beside a well-behaved one (issue 14): every scheduled request ends as a record, each
misbehaviour ends its own attempts with its own class, the control contender is unharmed, and the run's
memory and time stay bounded.

The hostile vendor is our own (``harness.bench.hostile_vendor``), a real loopback server in its own
process, so it never shares the load process's event loop. Each case is one ``bakeoff run`` (2 req/s per
contender, 4 s + 2 s grace, probes off) whose process measures its own peak RSS
(``harness.bench.hostile.run_case``). ``python -m harness.bench.hostile`` prints the same cases with the
default limits, and the control's TTFT beside a flood.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.bench.hostile import KEY, KEY_ENV, CaseResult, run_case, start_vendor, write_case
from harness.record import read_run

DURATION, GRACE = 4.0, 2.0


@pytest.fixture(scope="module")
def vendor() -> Iterator[str]:
    with start_vendor() as url:
        yield url


@pytest.fixture(scope="module")
def baseline(vendor: str, tmp_path_factory: pytest.TempPathFactory) -> CaseResult:
    """The same run against a well-behaved vendor: what memory and time the hostile cases compare with."""
    res = run_case("ok", vendor, tmp_path_factory.mktemp("ok"), args=["--no-report"])
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.peak_rss_mb > 0
    return res


def assert_every_request_is_a_record(res: CaseResult) -> None:
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    assert res.scheduled == DURATION * 2
    for contender in ("control", "hostile"):
        finals = res.finals(contender)
        assert res.logical(contender) == len(finals) == res.scheduled, contender
    control = res.finals("control")
    assert all(r["outcome"] == "ok" for r in control), [r["error_detail"] for r in control]
    assert res.load_end <= DURATION + GRACE + 1.0  # the load ended at its deadline, whatever the vendor did


def hostile_classes(res: CaseResult) -> Counter[str | None]:
    return Counter(r["error_class"] for r in res.finals("hostile"))


_TOO_LARGE_OR_CUT = {"response_too_large", "run_ended", "not_sent"}
# mode, scenario limits of the hostile endpoint, final classes allowed, one that must appear, MB over baseline
CASES = [
    ("silent", "{}", {"run_ended", "not_sent"}, "run_ended", 40),
    ("endless", "{}", {"run_ended", "not_sent"}, "run_ended", 40),
    ("json_2gb", "{body_bytes: 16MiB}", _TOO_LARGE_OR_CUT, "response_too_large", 4 * 16 * 2 + 40),
    ("gzip_bomb", "{}", {"unrequested_encoding"}, "unrequested_encoding", 40),
    ("endless_head", "{}", {"response_too_large"}, "response_too_large", 40),
    ("big_id", "{}", {"response_too_large"}, "response_too_large", 40),
    ("long_id", "{}", {None}, None, 40),
    ("flood", "{chunks: 20000}", _TOO_LARGE_OR_CUT, "response_too_large", 80),
    ("long_line", "{}", {"response_too_large"}, "response_too_large", 40),
]


@pytest.mark.parametrize(("mode", "limits", "allowed", "seen", "extra_mb"), CASES, ids=[c[0] for c in CASES])
def test_a_hostile_vendor_cannot_hurt_the_run_the_control_or_the_records(
    vendor: str,
    baseline: CaseResult,
    tmp_path: Path,
    mode: str,
    limits: str,
    allowed: set[str | None],
    seen: str | None,
    extra_mb: float,
) -> None:
    res = run_case(mode, vendor, tmp_path, limits=limits, args=["--no-report"])
    print(
        f"{mode}: peak RSS {res.peak_rss_mb:.0f} MB (baseline {baseline.peak_rss_mb:.0f}), {res.wall_s:.1f} s"
    )
    assert_every_request_is_a_record(res)
    classes = hostile_classes(res)
    assert set(classes) <= allowed and seen in classes, classes
    assert res.peak_rss_mb <= baseline.peak_rss_mb + extra_mb
    assert res.wall_s <= baseline.wall_s + GRACE + 15
    for r in res.finals("hostile"):
        if r["error_class"] == "run_ended":  # cut in flight: the timings it reached are kept
            assert r["t_headers"] is not None and r["t_end"] >= r["t_headers"], r
            assert r["t_end"] >= DURATION + GRACE - 0.5 and "deadline" in r["error_detail"], r
        elif r["error_class"] == "not_sent":  # scheduled, never dispatched: given up at the end
            assert r["t_dispatch"] == r["t_end"] >= DURATION + GRACE - 0.5 and r["t_headers"] is None, r
        elif r["error_class"] is not None:
            # the bound ended it (its class says so), not the run's deadline: by then, or within the
            # moment a busy machine takes to act on the deadline
            assert r["t_end"] < DURATION + GRACE + 2, r
    if mode == "endless":
        assert all(r["chunk_times"] for r in res.finals("hostile") if r["error_class"] == "run_ended")
    if mode == "long_id":
        assert {len(r["vendor_request_id"]) for r in res.finals("hostile")} == {256}


def test_cut_and_unsent_requests_are_records_with_distributed_workers(vendor: str, tmp_path: Path) -> None:
    res = run_case("silent", vendor, tmp_path, args=["--workers", "2"])
    assert_every_request_is_a_record(res)
    assert set(hostile_classes(res)) == {"run_ended", "not_sent"}
    assert {r["worker"] for r in res.records} == {"w0", "w1"}
    assert res.run_dir is not None and (res.run_dir / "report.html").is_file()  # the report reads them
    end = read_run(res.run_dir).end
    assert end is not None and [w.lost for w in end.workers] == [0, 0]


def test_closed_model_every_started_request_is_a_record(vendor: str, tmp_path: Path) -> None:
    load = "{model: closed, users: 2, spawn_rate: 100, duration: 3s, grace: 1s}"
    res = run_case("silent", vendor, tmp_path, load=load, args=["--no-report"])
    assert res.returncode == 0, res.stderr[-3000:]
    hostile = res.finals("hostile")
    assert [r["error_class"] for r in hostile] == ["run_ended", "run_ended"]  # one per user, cut in flight
    assert res.logical("hostile") == 2 and all(r["t_headers"] is not None for r in hostile)
    assert res.finals("control") and all(r["outcome"] == "ok" for r in res.finals("control"))


def _start(vendor: str, folder: Path) -> subprocess.Popen[str]:
    """A 30 s run in the background, so a test can stop it part-way."""
    load = "{model: open, arrival: constant, rate: 2/s, users: 4, duration: 30s, grace: 2s}"
    scenario = write_case("silent", vendor, folder, load=load)
    cmd = ["run", str(scenario), "--quiet", "--no-probes", "--no-report", "--out", str(folder / "stopped")]
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, KEY_ENV: KEY},
    )


def _wait_for_control_records(folder: Path, n: int, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for path in folder.glob("*/records.jsonl"):
            if path.read_text().count('"contender":"control"') >= n:
                return
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} control records within {timeout:.0f} s")


def _records_of(folder: Path) -> tuple[list[dict], int]:
    import json

    [run_dir] = [p for p in folder.glob("*/") if (p / "manifest.json").is_file()]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    rows = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines() if line]
    return rows, int(manifest["schedule"]["logical_requests_per_contender"])


@pytest.mark.parametrize("signals", [1, 2], ids=["stop", "stop-then-abort"])
def test_a_stop_keeps_cut_attempts_and_records_unsent_ones(vendor: str, tmp_path: Path, signals: int) -> None:
    proc = _start(vendor, tmp_path)
    _wait_for_control_records(tmp_path / "stopped", 6)  # 3 s into the load: four hostile requests hang
    t0 = time.monotonic()
    for _ in range(signals):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 130), err[-3000:]
    assert time.monotonic() - t0 < GRACE + 10
    rows, scheduled = _records_of(tmp_path / "stopped")
    assert scheduled == 60
    for contender in ("control", "hostile"):
        finals = [r for r in rows if r["contender"] == contender and r["is_final_attempt"]]
        assert len({r["request_id"] for r in rows if r["contender"] == contender}) == len(finals) == scheduled
    hostile = Counter(r["error_class"] for r in rows if r["contender"] == "hostile")
    assert set(hostile) == {"run_ended", "not_sent"} and hostile["run_ended"] == 4, hostile
    why = "the run was aborted" if signals == 2 else "the run was stopped and its grace passed"
    assert all(why in r["error_detail"] for r in rows if r["error_class"] == "run_ended")
