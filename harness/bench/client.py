"""Measurement accuracy of the client path against the simulator's ground truth, at 1 / 100 / 500 streams.

    python -m harness.bench.client [--streams 1,100,500] [--path full,direct] [--seconds 20] [--workers N]

Two paths, each at every level:

* ``full`` — what ``bakeoff run`` measures: a real ``bakeoff run --ground-truth`` with N closed-model users
  (Locust, the gevent transport, the embedded Toxiproxy between client and simulator). The first-token
  column is taken less the proxy's constant offset (median); each user's first request (which also pays
  its connect) is left out of the TTFT column.
* ``direct`` — the ``make_http_client()`` path (probes use it): the simulator runs as its own process
  (``python -m harness.sim --ground-truth``); N OS threads share one client and call ``run_attempt`` back
  to back with ``time.monotonic`` as the run clock — the clock of the ground-truth log — so every measured
  time compares directly with the simulator's own write time.

Errors:

* first-token error: ``t_first_token`` (client) - first chunk written (simulator)
* TTFT error: measured TTFT (``t_first_token - t_dispatch``) - true TTFT (first chunk - request received),
  on kept-alive connections (each user's first request also pays its TCP connect: left out)
* chunk-gap error: each measured gap between consecutive chunk arrivals - the gap between the writes

Reported as p50 / p99 of the absolute error, in ms. Target: p99 ≤ 2 ms at 100 streams.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from harness._percentile import percentile

__all__ = ["main"]


def _behaviour(tokens: int, tokens_per_s: float, capacity: int) -> dict[str, Any]:
    """The simulated stream both paths measure: TTFT 150 ± 20 ms, one token per chunk, 20 % gap jitter."""
    return {
        "ttft_ms": 150,
        "ttft_jitter_ms": 20,
        "tokens_per_s": tokens_per_s,
        "token_jitter_frac": 0.2,
        "tokens_per_chunk": 1,
        "output_tokens_default": tokens,
        "capacity": capacity,
        "queue_limit": capacity,
    }


def _config(path: Path, tokens: int, tokens_per_s: float = 50.0) -> None:
    import yaml

    path.write_text(
        yaml.safe_dump(
            {
                "seed": 1,
                "endpoints": [
                    {
                        "name": "bench",
                        "dialect": "openai-chat",
                        "model": "sim-bench",
                        "behaviour": _behaviour(tokens, tokens_per_s, 2000),
                    }
                ],
            }
        )
    )


def _start_sim(cfg: Path, gt: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "harness.sim",
            "--config",
            str(cfg),
            "--port",
            "0",
            "--ground-truth",
            str(gt),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if len(line) != 3:
        proc.kill()
        raise SystemExit("simulator did not start")
    return proc, line[2]


def _run_level(base_url: str, gt_path: Path, streams: int, per_stream: int) -> dict[str, Any]:
    from harness.client import Target, make_http_client, run_attempt
    from harness.config import Endpoint, Price, PromptItem
    from harness.sim import read_ground_truth

    ep = Endpoint.model_validate(
        {
            "name": "bench",
            "dialect": "openai-chat",
            "model": "sim-bench",
            "sim": "fast",
            "timeouts": {"connect": 10, "ttft": 30, "idle": 30, "total": 120},
        }
    )
    target = Target(endpoint=ep, base_url=base_url, connect_to=None, api_key="k", price=Price())
    prompt = PromptItem.model_validate(
        {"id": "p", "messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 512}
    )
    client = make_http_client(max_connections=streams + 10)
    records: list[Any] = []
    lock = threading.Lock()
    start = threading.Barrier(streams)

    def user(u: int) -> None:
        start.wait()
        for k in range(per_stream):
            rec = run_attempt(
                client,
                target,
                prompt,
                clock=time.monotonic,
                run_id="bench",
                request_id=f"{streams}-{u}-{k}",
                attempt=1,
                contender="bench",
                t_intended=time.monotonic(),
                seq=k,
                user=u,
            )
            with lock:
                records.append(rec)

    threads = [threading.Thread(target=user, args=(u,), daemon=True) for u in range(streams)]
    t0 = time.monotonic()
    cpu0 = time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    wall = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    client.close()
    time.sleep(0.5)  # the simulator flushes its ground truth every 0.25 s
    truth = {g.request_id: g for g in read_ground_truth(gt_path)}
    n_chunks = sum(len(r.chunk_times) for r in records)
    return {
        "streams": streams,
        "chunks_per_s": n_chunks / wall if wall > 0 else 0.0,
        "cpu_us_per_chunk": cpu / n_chunks * 1e6 if n_chunks else float("nan"),
        **_stats(records, truth, offset=0.0, warm_only=True),
    }


def _stats(
    records: list[Any], truth: dict[str, Any], *, offset: float | None, warm_only: bool = False
) -> dict[str, Any]:
    """Errors of ``records`` against ``truth`` (joined on the vendor request id).

    ``offset`` is (record clock - ground-truth clock); ``None`` estimates it as the median first-token
    difference, so first-token errors become jitter around a constant (e.g. a proxy in the path).
    """
    pairs = []
    ok = errors = 0
    kinds: dict[str, int] = {}
    for r in records:
        if r.outcome != "ok":
            errors += 1
            kinds[r.error_class or "?"] = kinds.get(r.error_class or "?", 0) + 1
            continue
        ok += 1
        g = truth.get(r.vendor_request_id or "")
        if g is not None and g.t_first_token is not None and r.t_first_token is not None:
            pairs.append((r, g))
    if offset is None:
        diffs = sorted(r.t_first_token - g.t_first_token for r, g in pairs)
        offset = diffs[len(diffs) // 2] if diffs else 0.0
    opener: dict[tuple[str, int], float] = {}  # each user's first dispatch: it also pays its TCP connect
    for r in records:
        key = (r.worker, r.user)
        opener[key] = min(opener.get(key, r.t_dispatch), r.t_dispatch)
    first, ttft, gaps = [], [], []
    coalesced = 0
    for r, g in pairs:
        first.append(abs(r.t_first_token - offset - g.t_first_token) * 1e3)
        if not warm_only or r.t_dispatch > opener[(r.worker, r.user)]:  # kept-alive connections only
            ttft.append(abs((r.t_first_token - r.t_dispatch) - (g.t_first_token - g.t_received)) * 1e3)
        if len(r.chunk_times) != len(g.chunk_times):
            coalesced += 1
        else:
            for i in range(1, len(r.chunk_times)):
                measured = r.chunk_times[i] - r.chunk_times[i - 1]
                true = g.chunk_times[i] - g.chunk_times[i - 1]
                gaps.append(abs(measured - true) * 1e3)
    return {
        "error_classes": kinds,
        "requests": len(records),
        "ok": ok,
        "errors": errors,
        "matched": len(pairs),
        "offset_ms": offset * 1e3,
        "first_p50": percentile(first, 50),
        "first_p99": percentile(first, 99),
        "ttft_p50": percentile(ttft, 50),
        "ttft_p99": percentile(ttft, 99),
        "gap_p50": percentile(gaps, 50),
        "gap_p99": percentile(gaps, 99),
        "gaps": len(gaps),
        "coalesced_pct": 100.0 * coalesced / len(pairs) if pairs else float("nan"),
        "gap_mean": statistics.fmean(gaps) if gaps else float("nan"),
    }


def _from_run_dir(run_dir: Path) -> dict[str, Any]:
    """Accuracy of a finished ``bakeoff run --ground-truth`` (Locust + gevent, through the proxy)."""
    import json

    from harness.record import RequestRecord
    from harness.sim import read_ground_truth

    records = [
        RequestRecord.from_dict(json.loads(line))
        for line in (run_dir / "records.jsonl").read_text().splitlines()
        if line.strip()
    ]
    truth = {g.request_id: g for g in read_ground_truth(run_dir / "sim-ground-truth.jsonl")}
    users = len({(r.worker, r.user) for r in records})
    return {
        "streams": users,
        "chunks_per_s": float("nan"),
        "cpu_us_per_chunk": float("nan"),
        **_stats(records, truth, offset=None, warm_only=True),
    }


def _full_run(
    tmp: Path, users: int, tokens: int, tokens_per_s: float, seconds: float, workers: int = 0
) -> dict[str, Any]:
    """Run the real path once — ``bakeoff run --ground-truth`` (Locust, gevent transport, the embedded
    Toxiproxy in front of the simulator) with ``users`` closed-model users — and score its records."""
    import json

    import yaml

    prompts = tmp / "prompts.jsonl"
    prompts.write_text(
        json.dumps(
            {"id": "p", "messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 512}
        )
        + "\n"
    )
    scenario = tmp / "accuracy.yaml"
    scenario.write_text(
        yaml.safe_dump(
            {
                "name": "client-accuracy",
                "seed": 1,
                "prompts": str(prompts),
                "sim_profiles": {"bench": _behaviour(tokens, tokens_per_s, 4 * users + 10)},
                "endpoints": [
                    {"name": "bench", "dialect": "openai-chat", "model": "sim-bench", "sim": "bench"}
                ],
                "contenders": [{"name": "sim", "primary": "bench"}],
                "load": {
                    "model": "closed",
                    "users": users,
                    "spawn_rate": max(10.0, users / 2.0),
                    "duration": f"{seconds:g}s",
                    "grace": "10s",
                },
            }
        )
    )
    out = tmp / "runs"
    cmd = [sys.executable, "-m", "harness.cli", "run", str(scenario), "--ground-truth", "--no-probes"]
    cmd += ["--quiet", "--no-report", "--out", str(out), "--workers", str(workers)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603 - our own CLI
    if done.returncode != 0:
        raise SystemExit(f"bakeoff run failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    run_dirs = [p.parent for p in out.rglob("records.jsonl")]
    if len(run_dirs) != 1:
        raise SystemExit(f"expected one run folder under {out}, found {len(run_dirs)}")
    return _from_run_dir(run_dirs[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.bench.client", description=__doc__.split("\n")[0])
    ap.add_argument("--streams", default="1,100,500", help="comma-separated concurrency levels")
    ap.add_argument(
        "--path",
        default="full,direct",
        help="full (a real `bakeoff run`: Locust, gevent transport, embedded proxy) and/or direct "
        "(threads calling run_attempt on make_http_client, no proxy)",
    )
    ap.add_argument("--requests-per-stream", type=int, default=3, help="direct: requests per thread")
    ap.add_argument("--seconds", type=float, default=20.0, help="full: load duration of each run")
    ap.add_argument("--workers", type=int, default=0, help="full: Locust worker processes (0: in-process)")
    ap.add_argument("--tokens", type=int, default=48, help="output tokens (= chunks) per answer")
    ap.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="instead: score a finished `bakeoff run --ground-truth` folder (Locust records vs sim truth)",
    )
    ap.add_argument(
        "--pin", action="store_true", help="direct: pin the simulator to CPU 0 and the client to the rest"
    )
    ap.add_argument("--tokens-per-s", type=float, default=50.0, help="decode speed of each simulated stream")
    ap.add_argument(
        "--switch-interval-ms",
        type=float,
        default=None,
        help="direct: sys.setswitchinterval for the client threads (CPython default 5 ms)",
    )
    args = ap.parse_args(argv)
    if args.switch_interval_ms is not None:
        sys.setswitchinterval(args.switch_interval_ms / 1000.0)
    levels = [int(x) for x in args.streams.split(",") if x.strip()]
    paths = [p.strip() for p in args.path.split(",") if p.strip()]
    if unknown := set(paths) - {"full", "direct"}:
        ap.error(f"unknown --path {', '.join(sorted(unknown))} (full, direct)")
    rows: list[tuple[str, dict[str, Any]]] = []
    if args.run_dir is not None:
        rows.append(("run-dir", _from_run_dir(args.run_dir)))
        paths = []
    with tempfile.TemporaryDirectory() as tmp:
        if "full" in paths:
            for n in levels:
                sub = Path(tmp) / f"full-{n}"
                sub.mkdir()
                row = _full_run(sub, n, args.tokens, args.tokens_per_s, args.seconds, args.workers)
                rows.append(("full", row))
        if "direct" in paths:
            cfg = Path(tmp) / "sim.yaml"
            _config(cfg, args.tokens, args.tokens_per_s)
            for n in levels:
                gt = Path(tmp) / f"gt-{n}.jsonl"
                proc, base_url = _start_sim(cfg, gt)
                if args.pin and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
                    os.sched_setaffinity(proc.pid, {0})  # simulator on CPU 0, client on the others
                    os.sched_setaffinity(0, set(range(1, os.cpu_count() or 2)))
                per_stream = max(args.requests_per_stream, -(-30 // n))  # at least 30 requests per level
                try:
                    rows.append(("direct", _run_level(base_url, gt, n, per_stream)))
                finally:
                    proc.terminate()
                    proc.wait(10)
    print(
        f"client measurement error vs simulator ground truth (ms, |error|); {args.tokens_per_s:g} tok/s, "
        f"{args.tokens} chunks per answer; cpu={os.cpu_count()}, load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'path':<7} {'streams':>7} {'req':>5} {'ok':>5} "
        f"{'first p50':>9} {'first p99':>9} "
        f"{'TTFT p50':>8} {'TTFT p99':>8} {'gap p50':>8} {'gap p99':>8} {'gaps':>7} {'coal%':>6}"
    )
    for path, r in rows:
        print(
            f"{path:<7} {r['streams']:>7} {r['requests']:>5} {r['ok']:>5} "
            f"{r['first_p50']:>9.3f} {r['first_p99']:>9.3f} {r['ttft_p50']:>8.3f} {r['ttft_p99']:>8.3f} "
            f"{r['gap_p50']:>8.3f} {r['gap_p99']:>8.3f} {r['gaps']:>7} {r['coalesced_pct']:>6.1f}"
            + (f"  errors: {r['error_classes']}" if r["error_classes"] else "")
        )
    print(
        "first: first-token arrival vs the simulator's write (full: less the proxy's median offset); "
        "TTFT: durations, kept-alive connections only; coal%: answers with two chunks in one read "
        "(their gaps are left out)"
    )
    for path, r in rows:
        if r["streams"] == 100:
            worst = max(r["first_p99"], r["ttft_p99"], r["gap_p99"])
            verdict = "PASS" if worst <= 2.0 else "FAIL"
            print(f"({path}) 100 streams: worst p99 |error| {worst:.2f} ms (target ≤ 2 ms) {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
