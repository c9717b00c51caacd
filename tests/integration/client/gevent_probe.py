"""Run the client path inside a gevent-monkey-patched process (as Locust does); run by test_client_gevent."""

from gevent import monkey

monkey.patch_all()
__import__("sys").modules.setdefault("trio", None)  # as harness/load does: trio breaks under gevent

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402

from harness.client import HttpFaultLayer, Router, Target, make_http_client  # noqa: E402
from harness.config import Contender, Endpoint, FaultSpec, Price, PromptItem  # noqa: E402

tmp = Path(tempfile.mkdtemp())
cfg = tmp / "sim.json"
cfg.write_text(
    json.dumps(
        {
            "seed": 1,
            "endpoints": [
                {
                    "name": "slow",
                    "dialect": "openai-chat",
                    "model": "m",
                    "behaviour": {"ttft_ms": 3000, "ttft_jitter_ms": 0},
                },
                {
                    "name": "ok",
                    "dialect": "anthropic-messages",
                    "model": "m",
                    "behaviour": {
                        "ttft_ms": 50,
                        "ttft_jitter_ms": 0,
                        "tokens_per_s": 200,
                        "output_tokens_default": 20,
                    },
                },
            ],
        }
    )
)
proc = subprocess.Popen(
    [sys.executable, "-m", "harness.sim", "--config", str(cfg), "--port", "0"],
    stdout=subprocess.PIPE,
    text=True,
)
urls = {}
for _ in range(2):
    name, _d, url = proc.stdout.readline().split()
    urls[name] = url
try:
    t0 = time.perf_counter()
    clock = lambda: time.perf_counter() - t0  # noqa: E731
    client = make_http_client(max_connections=200)
    eps = {
        n: Endpoint.model_validate(
            {
                "name": n,
                "dialect": d,
                "model": "m",
                "sim": "fast",
                # the primary's 0.3 s TTFT limit is what the test checks; the fallback (50 ms TTFT plus a
                # 0.2 s stall) gets room to answer on a busy machine
                "timeouts": {"ttft": 0.3 if n == "slow" else 5, "idle": 1, "total": 5},
            }
        )
        for n, d in (("slow", "openai-chat"), ("ok", "anthropic-messages"))
    }
    targets = {
        n: Target(endpoint=e, base_url=urls[n], connect_to=None, api_key="k", price=Price())
        for n, e in eps.items()
    }
    layer = HttpFaultLayer(1)
    layer.activate("st", ["ok"], FaultSpec(kind="stall", stall_for=0.2))
    router = Router(
        Contender(name="c", primary="slow", fallbacks=["ok"], cooldown_after=1000),
        targets,
        client,
        clock=clock,
        run_id="r",
        faults=layer,
        sleep=gevent.sleep,
    )
    prompt = PromptItem.model_validate({"id": "p", "messages": [{"role": "user", "content": "hi"}]})
    records = []
    jobs = [
        gevent.spawn(router.route, f"c-{i}", prompt, t_intended=clock(), seq=i, emit=records.append)
        for i in range(60)
    ]
    gevent.joinall(jobs, timeout=20)
    wall = clock()
    finals = [j.value for j in jobs]
    classes = sorted({(r.endpoint, r.error_class) for r in records}, key=str)
    print(
        json.dumps(
            {
                "wall": wall,
                "n_records": len(records),
                "finals_ok": sum(f.outcome == "ok" for f in finals),
                "classes": classes,
                "ttft_err": [round(r.t_end - r.t_dispatch, 3) for r in records if r.endpoint == "slow"],
            }
        )
    )
finally:
    proc.terminate()
    proc.wait(5)
