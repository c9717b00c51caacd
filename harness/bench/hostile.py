"""Hostile vendors against bakeoff (issue 14): a flood beside a control, and what each misbehaviour costs.

    python -m harness.bench.hostile [--phases fc] [--rate 4] [--seconds 20] [--cases all] [--rt 0]

(f) fairness: one load process on bakeoff's load path (``LocalExecution``, no proxy) sends a Poisson
    schedule to a control contender on the simulator (TTFT 100 ms, 32 tokens 20 ms apart) twice: alone,
    then beside a contender whose vendor streams deltas as fast as loopback allows
    (``python -m harness.bench.hostile_vendor``, mode ``flood``). The control's TTFT p95 with and without
    the flood, side by side. Target: with − without ≤ 50 ms. The simulator and the hostile vendor run on
    CPU 0, the load process on CPU 1.
(c) cases: every misbehaviour of the hostile vendor (one row of the issue's table each, plus ``ok`` as
    the baseline) through ``bakeoff run`` beside a control contender (2 req/s, 4 s + 2 s grace, default
    limits, embedded simulator and proxy): the run process's peak RSS, its wall time, when the load's
    last record ended, the records per contender against the schedule, and the hostile contender's
    final error classes.

``run_case`` and ``start_vendor`` are what tests/integration/load/test_hostile_vendor.py runs too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness._percentile import percentile

__all__ = ["CASES", "KEY", "KEY_ENV", "CaseResult", "main", "run_case", "start_vendor", "write_case"]

CASES: dict[str, str] = {
    "ok": "a well-behaved stream (the baseline)",
    "silent": "sends headers, then nothing",
    "endless": "an endless SSE stream",
    "json_2gb": "a 2 GB JSON body",
    "gzip_bomb": "a gzip bomb (1 MB on the wire, Content-Encoding: gzip)",
    "endless_head": "response headers that never end",
    "big_id": "a 1 MB x-request-id",
    "long_id": "a 40 KB x-request-id (inside the head bound)",
    "flood": "deltas as fast as loopback allows",
    "long_line": "one 200 MB SSE line without a newline",
}
"""Hostile vendor modes run by ``--cases``, with the row of the issue's table each one plays."""

KEY_ENV = "HOSTILE_VENDOR_KEY"
KEY = "hostile-vendor-key-0123456789"
_PROMPTS = [
    {"id": f"p{i}", "messages": [{"role": "user", "content": f"Say hello {i}."}], "max_tokens": 16}
    for i in range(4)
]
# the run process measures its own peak RSS (children, the simulator and the proxy, excluded)
_RUN = (
    "import resource, sys\n"
    "from harness.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print(f'peak_rss_kb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}', file=sys.stderr)\n"
    "sys.exit(code)\n"
)


@contextlib.contextmanager
def start_vendor() -> Iterator[str]:
    """The hostile vendor as its own process; yields its root URL (``{url}/{mode}/v1`` is an endpoint)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.bench.hostile_vendor"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError("the hostile vendor did not start")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@dataclass
class CaseResult:
    """One ``bakeoff run`` beside a hostile vendor: what it cost and what it recorded."""

    mode: str
    returncode: int
    wall_s: float
    peak_rss_mb: float
    run_dir: Path | None
    stderr: str
    records: list[dict[str, Any]] = field(default_factory=list)
    scheduled: int = 0

    def finals(self, contender: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["contender"] == contender and r["is_final_attempt"]]

    def logical(self, contender: str) -> int:
        return len({r["request_id"] for r in self.records if r["contender"] == contender})

    @property
    def load_end(self) -> float:
        return max((r["t_end"] for r in self.records), default=0.0)


def write_case(
    mode: str,
    vendor_url: str,
    folder: Path,
    *,
    load: str = "{model: open, arrival: constant, rate: 2/s, users: 4, duration: 4s, grace: 2s}",
    limits: str = "{}",
) -> Path:
    """A scenario in ``folder``: a ``control`` contender on a simulated vendor beside a ``hostile`` one on
    the hostile vendor's ``mode`` (its key in ``KEY_ENV``); returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "prompts.jsonl").write_text("".join(json.dumps(p) + "\n" for p in _PROMPTS))
    scenario = folder / "scenario.yaml"
    scenario.write_text(
        f"name: hostile-{mode.replace('_', '-')}\n"
        "prompts: prompts.jsonl\n"
        "endpoints:\n"
        "  - {name: control-ep, dialect: openai-chat, sim: fast, model: control}\n"
        f"  - {{name: vendor-ep, dialect: openai-chat, base_url: '{vendor_url}/{mode}/v1', model: hostile,\n"
        f"     api_key_env: {KEY_ENV}, limits: {limits}}}\n"
        "contenders:\n"
        "  - {name: control, primary: control-ep}\n"
        "  - {name: hostile, primary: vendor-ep}\n"
        f"load: {load}\n"
    )
    return scenario


def run_case(
    mode: str,
    vendor_url: str,
    folder: Path,
    *,
    load: str = "{model: open, arrival: constant, rate: 2/s, users: 4, duration: 4s, grace: 2s}",
    limits: str = "{}",
    args: Sequence[str] = (),
    timeout_s: float = 180.0,
) -> CaseResult:
    """``bakeoff run`` (probes off) of :func:`write_case`'s scenario; the run process measures its own
    peak RSS (its children, the simulator and the proxy, excluded)."""
    scenario = write_case(mode, vendor_url, folder, load=load, limits=limits)
    out = folder / "out"
    cmd = [
        sys.executable,
        "-c",
        _RUN,
        "run",
        str(scenario),
        "--quiet",
        "--no-probes",
        "--out",
        str(out),
        *args,
    ]
    env = {**os.environ, KEY_ENV: KEY}
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env, check=False)  # noqa: S603
    wall = time.monotonic() - t0
    peak = 0.0
    for line in proc.stderr.splitlines():
        if line.startswith("peak_rss_kb "):
            peak = int(line.split()[1]) / 1024
    runs = sorted(p for p in out.glob("*/") if (p / "manifest.json").is_file())
    res = CaseResult(mode, proc.returncode, wall, peak, runs[-1] if runs else None, proc.stderr)
    if res.run_dir is not None:
        path = res.run_dir / "records.jsonl"
        if path.is_file():
            res.records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        manifest = json.loads((res.run_dir / "manifest.json").read_text())
        res.scheduled = int(manifest["schedule"]["logical_requests_per_contender"])
    return res


# --------------------------------------------------------------------------------------------------
# (f) fairness
# --------------------------------------------------------------------------------------------------
def _fair_child(tmp: Path, spec: dict[str, Any], cpu: int) -> list[dict[str, Any]]:
    from harness.bench.load import _pin

    records = tmp / f"fair-{time.monotonic_ns()}.jsonl"
    spec = {**spec, "kind": "fair", "out": str(tmp / "fair.json"), "records": str(records)}
    proc = subprocess.Popen(  # noqa: S603 - our own module
        [sys.executable, "-m", "harness.load._bench_child", json.dumps(spec)],
        stdout=subprocess.PIPE,
        text=True,
    )
    _pin(proc.pid, cpu)
    try:
        proc.wait(spec["seconds"] + spec["grace"] + 90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return [json.loads(line) for line in records.read_text().splitlines() if line.strip()]


def _control_stats(records: list[dict[str, Any]], warm: float) -> dict[str, Any]:
    ctl = [r for r in records if r["contender"] == "control" and r["is_final_attempt"]]
    ok = [r for r in ctl if r["outcome"] == "ok" and r["t_dispatch"] >= warm]
    ttft = [(r["t_first_token"] - r["t_dispatch"]) * 1e3 for r in ok if r["t_first_token"] is not None]
    lag = [(r["t_dispatch"] - r["t_intended"]) * 1e3 for r in ctl if r["t_dispatch"] >= warm]
    hostile = Counter(
        r["error_class"] or "ok" for r in records if r["contender"] == "hostile" and r["is_final_attempt"]
    )
    return {
        "requests": len(ctl),
        "errors": sum(r["outcome"] != "ok" for r in ctl),
        "ttft_p50": percentile(ttft, 50),
        "ttft_p95": percentile(ttft, 95),
        "ttft_p99": percentile(ttft, 99),
        "lag_p99": percentile(lag, 99),
        "hostile": dict(hostile),
    }


def _fairness(args: argparse.Namespace, tmp: Path, vendor_url: str) -> list[str]:
    from harness.bench.load import _Sim

    sim = _Sim(tmp, uvloop=False)
    try:
        base = {
            "control_url": sim.urls["paced"],
            "rate": args.rate,
            "seconds": args.seconds,
            "grace": 3.0,
            "users": args.users,
        }
        alone = _control_stats(_fair_child(tmp, base, 1), args.warm)
        beside = _control_stats(
            _fair_child(tmp, {**base, "hostile_url": f"{vendor_url}/flood/v1"}, 1), args.warm
        )
    finally:
        sim.close()
    print()
    print(
        f"(f) control TTFT beside a flooding vendor ({args.rate:g} req/s per contender, {args.seconds:g} s)"
    )
    print(
        f"{'run':<22}{'requests':>9}{'errors':>7}{'TTFT p50':>10}{'TTFT p95':>10}{'TTFT p99':>10}"
        f"{'lag p99':>9}  hostile"
    )
    for name, st in (("control alone", alone), ("control + flood", beside)):
        print(
            f"{name:<22}{st['requests']:>9}{st['errors']:>7}{st['ttft_p50']:>10.1f}{st['ttft_p95']:>10.1f}"
            f"{st['ttft_p99']:>10.1f}{st['lag_p99']:>9.1f}  {st['hostile'] or '-'}"
        )
    delta = beside["ttft_p95"] - alone["ttft_p95"]
    ok = delta <= 50 and beside["errors"] == 0
    return [
        f"(f) control TTFT p95 {alone['ttft_p95']:.1f} ms alone, {beside['ttft_p95']:.1f} ms beside the "
        f"flood: {delta:+.1f} ms (target ≤ +50 ms) {'PASS' if ok else 'FAIL'}"
    ]


# --------------------------------------------------------------------------------------------------
# (c) cases
# --------------------------------------------------------------------------------------------------
def _cases(modes: list[str], tmp: Path, vendor_url: str) -> list[str]:
    rows = [run_case(m, vendor_url, tmp / f"case-{m}") for m in modes]
    print()
    print(
        "(c) each misbehaviour through `bakeoff run` beside a control "
        "(2 req/s, 4 s + 2 s grace, default limits)"
    )
    print(
        f"{'mode':<14}{'exit':>5}{'peak RSS MB':>12}{'wall s':>8}{'load end s':>11}{'records/sched':>15}  "
        "hostile final classes"
    )
    verdicts = []
    for r in rows:
        counts = f"{r.logical('control')}+{r.logical('hostile')}/{r.scheduled}"
        classes = dict(Counter(f["error_class"] or "ok" for f in r.finals("hostile")))
        print(
            f"{r.mode:<14}{r.returncode:>5}{r.peak_rss_mb:>12.0f}{r.wall_s:>8.1f}{r.load_end:>11.2f}"
            f"{counts:>15}  {classes}"
        )
        whole = r.logical("control") == r.logical("hostile") == r.scheduled > 0
        calm = all(f["outcome"] == "ok" for f in r.finals("control"))
        verdicts.append(
            f"(c) {r.mode}: {CASES.get(r.mode, '')}: every scheduled request a record "
            f"{'PASS' if whole else 'FAIL'}, control unharmed {'PASS' if calm else 'FAIL'}, load ended at "
            f"{r.load_end:.1f} s (planned 4 s + 2 s grace) {'PASS' if r.load_end <= 7.0 else 'FAIL'}"
        )
    return verdicts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.bench.hostile", description=__doc__.split("\n")[0])
    ap.add_argument("--phases", default="fc", help="f: fairness beside a flood; c: every hostile case")
    ap.add_argument("--rate", type=float, default=4.0, help="(f) requests/s per contender")
    ap.add_argument("--seconds", type=float, default=20.0, help="(f) length of each run")
    ap.add_argument("--warm", type=float, default=1.0, help="(f) excluded start of each run, s")
    ap.add_argument("--users", type=int, default=64, help="(f) users per contender")
    ap.add_argument("--cases", default="all", help="(c) modes to run, comma-separated, or all")
    ap.add_argument("--nice", type=int, default=0, help="(f) nice value of the simulator and load (root)")
    ap.add_argument("--rt", type=int, default=0, help="(f) SCHED_RR priority (root); 0 = use --nice")
    args = ap.parse_args(argv)
    from harness.bench.load import _PRIORITY

    _PRIORITY.update(nice=args.nice, rt=args.rt)
    modes = list(CASES) if args.cases == "all" else [m.strip() for m in args.cases.split(",") if m.strip()]
    verdicts: list[str] = []
    with tempfile.TemporaryDirectory() as td, start_vendor() as url:
        tmp = Path(td)
        if "f" in args.phases:
            verdicts += _fairness(args, tmp, url)
        if "c" in args.phases:
            verdicts += _cases(modes, tmp, url)
    print()
    for v in verdicts:
        print(v)
    return 0


if __name__ == "__main__":
    sys.exit(main())
