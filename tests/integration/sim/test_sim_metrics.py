"""The simulator's /metrics over a real socket: vLLM's names, driven by the behaviour model (capacity
and queue), checked against what the client itself sent and received."""

from __future__ import annotations

import asyncio
import time

import httpx

from harness.servermetrics import parse_text
from harness.sim import SimBehaviour, SimConfig, SimEndpoint, serve_in_thread

H = {"authorization": "Bearer k"}


def _values(text: str, model: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for s in parse_text(text).samples:
        labels = dict(s.labels)
        assert labels.get("model_name") == model, s
        key = s.name + ("" if "le" not in labels else f"@{labels['le']}")
        if "finished_reason" in labels:
            key += f"@{labels['finished_reason']}"
        out[key] = s.value
    return out


def test_metrics_follow_capacity_queue_and_token_counts() -> None:
    behaviour = SimBehaviour.model_validate(
        {
            "ttft_ms": 50,
            "ttft_jitter_ms": 0,
            "tokens_per_s": 40,
            "output_tokens_default": 20,
            "capacity": 2,
            "queue_limit": 20,
        }
    )
    other = SimBehaviour.model_validate({"ttft_ms": 1, "ttft_jitter_ms": 0})
    cfg = SimConfig(
        seed=3,
        endpoints=[
            SimEndpoint(name="e", dialect="openai-chat", model="llama-sim", behaviour=behaviour),
            SimEndpoint(name="o", dialect="openai-chat", model="other-sim", behaviour=other),
        ],
    )
    body = {"model": "llama-sim", "messages": [{"role": "user", "content": "Tell me about queues"}]}

    async def go(base: str, metrics_url: str) -> tuple[list[httpx.Response], list[dict[str, float]]]:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=20)) as c:
            tasks = [
                asyncio.ensure_future(c.post(base + "/chat/completions", json=body, headers=H))
                for _ in range(6)
            ]
            seen: list[dict[str, float]] = []
            t_end = time.monotonic() + 20
            while not all(t.done() for t in tasks) and time.monotonic() < t_end:
                r = await c.get(metrics_url)
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
                seen.append(_values(r.text, "llama-sim"))
                await asyncio.sleep(0.05)
            return list(await asyncio.gather(*tasks)), seen

    with serve_in_thread(cfg) as sim:
        root = sim.base_urls["e"].rsplit("/", 2)[0]  # http://127.0.0.1:PORT
        resps, seen = asyncio.run(go(sim.base_urls["e"], f"{root}/e/metrics"))
        final = _values(httpx.get(f"{root}/e/metrics").text, "llama-sim")
        everything = parse_text(httpx.get(f"{root}/metrics").text)
    assert all(r.status_code == 200 for r in resps)
    # each request takes ~0.55 s of a slot; 6 on 2 slots: at some scrape 2 ran and 4 waited
    assert max(s["vllm:num_requests_running"] for s in seen) == 2.0
    assert all(s["vllm:num_requests_running"] <= 2.0 for s in seen)
    assert max(s["vllm:num_requests_waiting"] for s in seen) >= 3.0
    full = [s for s in seen if s["vllm:num_requests_running"] == 2.0]
    assert all(s["vllm:gpu_cache_usage_perc"] == 1.0 for s in full)
    # at the end: idle, and the counters equal what the client was told in each answer's usage
    assert final["vllm:num_requests_running"] == 0.0 and final["vllm:num_requests_waiting"] == 0.0
    assert final["vllm:gpu_cache_usage_perc"] == 0.0
    assert final["vllm:prompt_tokens_total"] == sum(r.json()["usage"]["prompt_tokens"] for r in resps)
    assert final["vllm:generation_tokens_total"] == sum(r.json()["usage"]["completion_tokens"] for r in resps)
    assert final["vllm:request_success_total@stop"] + final.get("vllm:request_success_total@length", 0) == 6
    assert final["vllm:time_to_first_token_seconds_count"] == 6
    assert final["vllm:e2e_request_latency_seconds_count"] == 6
    # the later four queued behind a whole answer: end-to-end ≥ 0.5 s + 0.5 s for them
    assert final["vllm:e2e_request_latency_seconds_bucket@0.8"] <= 2
    assert final["vllm:time_to_first_token_seconds_bucket@0.001"] == 0
    # /metrics carries every endpoint, each with its own model_name
    models = {dict(s.labels).get("model_name") for s in everything.samples}
    assert models == {"llama-sim", "other-sim"}
