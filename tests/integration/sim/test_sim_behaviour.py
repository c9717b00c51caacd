"""Behaviour model over real sockets: queueing and overload, RPM/TPM limits, determinism, ground truth."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path

import httpx

from harness.sim import (
    GroundTruthRecord,
    SimBehaviour,
    SimConfig,
    SimEndpoint,
    SimThread,
    read_ground_truth,
    serve_in_thread,
)

H = {"authorization": "Bearer k"}


def _cfg(seed: int = 1, **behaviour: object) -> SimConfig:
    return SimConfig(
        seed=seed,
        endpoints=[
            SimEndpoint(
                name="e", dialect="openai-chat", model="m", behaviour=SimBehaviour.model_validate(behaviour)
            )
        ],
    )


async def _stream_ttft(client: httpx.AsyncClient, url: str) -> tuple[int, float | None]:
    body = {"model": "m", "messages": [{"role": "user", "content": "Tell me a story"}], "stream": True}
    t0 = time.monotonic()
    async with client.stream("POST", url, json=body, headers=H) as r:
        if r.status_code != 200:
            await r.aread()
            return r.status_code, None
        ttft = None
        async for line in r.aiter_lines():
            if ttft is None and '"content":"' in line and '"content":""' not in line:
                ttft = time.monotonic() - t0
        return 200, ttft


def test_queueing_raises_ttft_and_overflow_is_refused() -> None:
    cfg = _cfg(
        ttft_ms=40,
        ttft_jitter_ms=0,
        tokens_per_s=100,
        output_tokens_default=40,
        capacity=4,
        queue_limit=4,
        overload_status=503,
    )

    async def burst(url: str, n: int) -> list[tuple[int, float | None]]:
        async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=64)) as c:
            return await asyncio.gather(*[_stream_ttft(c, url) for _ in range(n)])

    with serve_in_thread(cfg) as sim:
        url = sim.base_urls["e"] + "/chat/completions"
        at_cap = asyncio.run(burst(url, 4))
        twice = asyncio.run(burst(url, 8))
        over = asyncio.run(burst(url, 12))
    base = statistics.median(t for _, t in at_cap if t is not None)
    assert all(s == 200 for s, _ in at_cap + twice)
    ttfts = sorted(t for _, t in twice if t is not None)
    # the second half waited for a whole generation (~0.4 s) in the queue
    assert statistics.median(ttfts[4:]) > base + 0.25, (base, ttfts)
    assert statistics.median(ttfts[:4]) < base + 0.15, (base, ttfts)
    statuses = sorted(s for s, _ in over)
    assert statuses.count(503) == 4 and statuses.count(200) == 8, statuses


def _paced(url: str, body: dict[str, object], rate_per_s: float, seconds: float) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=100)) as c:
            t0 = time.monotonic()
            tasks = []
            for i in range(int(rate_per_s * seconds)):
                await asyncio.sleep(max(0.0, t0 + i / rate_per_s - time.monotonic()))
                tasks.append(asyncio.ensure_future(c.post(url, json=body, headers=H)))
            return list(await asyncio.gather(*tasks))

    return asyncio.run(go())


def _expected_ok(gt: Path, per_s: float, bucket: float) -> tuple[int, float]:
    """Accepted requests per the server's own arrival times (a loaded machine may stretch the client's
    schedule, and the buckets refill by the server's clock)."""
    recs = read_ground_truth(gt)
    span = max(r.t_received for r in recs) - min(r.t_received for r in recs)
    return sum(r.status == 200 for r in recs), bucket + per_s * span


def test_rpm_limit_429_at_the_configured_rate(tmp_path: Path) -> None:
    # 1200 RPM = 20/s with a 0.5 s bucket (10 requests); offered 60/s for 3 s.
    cfg = _cfg(ttft_ms=0, ttft_jitter_ms=0, tokens_per_s=1e6, rpm_limit=1200, rate_limit_window_s=0.5)
    gt = tmp_path / "gt.jsonl"
    with serve_in_thread(cfg, ground_truth=gt) as sim:
        rs = _paced(
            sim.base_urls["e"] + "/chat/completions",
            {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
            60,
            3.0,
        )
    statuses = [r.status_code for r in rs]
    assert statuses.count(200) + statuses.count(429) == len(statuses) == 180
    ok, expected = _expected_ok(gt, 20, 10)
    assert ok == statuses.count(200)
    assert abs(ok - expected) <= 0.1 * expected, (ok, expected)


def test_tpm_limit_429_at_the_configured_rate(tmp_path: Path) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "Reply with exactly: ok"}]}
    with serve_in_thread(_cfg(ttft_ms=0, ttft_jitter_ms=0, tokens_per_s=1e6)) as sim:
        cost = httpx.post(sim.base_urls["e"] + "/chat/completions", json=body, headers=H).json()["usage"][
            "total_tokens"
        ]
    # a token budget worth 20 such requests per second, 0.5 s deep
    cfg = _cfg(ttft_ms=0, ttft_jitter_ms=0, tokens_per_s=1e6, tpm_limit=cost * 1200, rate_limit_window_s=0.5)
    gt = tmp_path / "gt.jsonl"
    with serve_in_thread(cfg, ground_truth=gt) as sim:
        rs = _paced(sim.base_urls["e"] + "/chat/completions", body, 60, 3.0)
    r = next(x for x in rs if x.status_code == 429)
    assert r.json()["error"]["type"] == "tokens"
    assert int(r.headers["retry-after-ms"]) > 0 and "x-ratelimit-remaining-tokens" in r.headers
    ok, expected = _expected_ok(gt, 20, 10)
    assert abs(ok - expected) <= 0.1 * expected, (ok, expected)


def test_same_seed_same_answer_across_servers_and_modes() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "Describe a cache."}]}
    answers = []
    for seed in (3, 3, 4):
        with serve_in_thread(_cfg(seed=seed, ttft_ms=0, tokens_per_s=1e6, output_tokens_default=30)) as sim:
            url = sim.base_urls["e"] + "/chat/completions"
            r = httpx.post(url, json=body, headers=H).json()
            with httpx.stream("POST", url, json={**body, "stream": True}, headers=H) as s:
                streamed = "".join(
                    json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
                    for line in s.iter_lines()
                    if line.startswith("data: {")
                )
        answers.append((r["choices"][0]["message"]["content"], r["usage"], streamed))
    assert answers[0] == answers[1]
    assert answers[0][0] == answers[0][2]
    assert answers[0][1]["completion_tokens"] == 30
    assert answers[2][0] != answers[0][0]


def _ground_truth_of(gt_path: Path, rid: str, timeout: float = 10.0) -> GroundTruthRecord:
    """The simulator's ground-truth line for ``rid``, once it is written (polled, never a fixed sleep)."""
    end = time.monotonic() + timeout
    while True:
        found = [x for x in read_ground_truth(gt_path) if x.request_id == rid]
        if found:
            return found[0]
        assert time.monotonic() < end, f"no ground truth for {rid} within {timeout:g} s"
        time.sleep(0.02)


def test_ground_truth_matches_what_the_client_sees(sim: SimThread, gt_path: Path) -> None:
    body = {"model": "gpt-sim", "messages": [{"role": "user", "content": "Tell me a story"}], "stream": True}
    arrivals = []
    t0 = time.monotonic()
    with httpx.stream(
        "POST", sim.base_urls["oagt"] + "/chat/completions", json=body, headers=H, timeout=10
    ) as r:
        rid = r.headers["x-request-id"]
        for line in r.iter_lines():
            if '"content":"' in line and '"content":""' not in line:
                arrivals.append(time.monotonic())
    rec = _ground_truth_of(gt_path, rid)
    assert rec.status == 200 and rec.outcome == "ok" and rec.stream
    assert len(rec.chunk_times) == len(arrivals) == 10 == rec.output_tokens
    assert t0 <= rec.t_received <= rec.t_admitted <= rec.t_headers <= rec.t_first_token  # type: ignore[operator]
    assert rec.t_first_token == rec.chunk_times[0] <= arrivals[0]
    gaps = [b - a for a, b in zip(rec.chunk_times, rec.chunk_times[1:], strict=False)]
    # 100 tokens/s, no jitter: 10 ms apart, never early; late only as a busy machine's timers are
    assert all(0.006 <= g <= 0.01 + 0.1 for g in gaps), gaps
    assert 0.006 <= statistics.median(gaps) <= 0.02, gaps
    # the client sees each chunk shortly after its write (typically within a few ms)
    assert statistics.median(a - w for a, w in zip(arrivals, rec.chunk_times, strict=True)) < 0.05


def test_stall_after_first_token(sim: SimThread, gt_path: Path) -> None:
    body = {"model": "gpt-sim", "messages": [{"role": "user", "content": "Tell me a story"}], "stream": True}
    with httpx.stream(
        "POST", sim.base_urls["oastall"] + "/chat/completions", json=body, headers=H, timeout=10
    ) as r:
        rid = r.headers["x-request-id"]
        r.read()
    rec = _ground_truth_of(gt_path, rid)
    gaps = [b - a for a, b in zip(rec.chunk_times, rec.chunk_times[1:], strict=False)]
    assert gaps[0] >= 0.3 and max(gaps[1:]) < 0.1


def test_reset_is_recorded(sim: SimThread, gt_path: Path) -> None:
    body = {"model": "gpt-sim", "messages": [{"role": "user", "content": "Tell me a story"}], "stream": True}
    try:
        with httpx.stream("POST", sim.base_urls["oacut"] + "/chat/completions", json=body, headers=H) as r:
            rid = r.headers["x-request-id"]
            r.read()
    except httpx.HTTPError:
        pass
    rec = _ground_truth_of(gt_path, rid)
    assert rec.outcome == "reset" and rec.output_tokens < 24
