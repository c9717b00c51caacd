"""The load side of ``python -m harness.bench.load`` and ``python -m harness.bench.hostile``: one benchmark
load process per invocation.

Run by the benchmark driver as ``python -m harness.load._bench_child SPEC_JSON``; it lives in
harness/load because it imports Locust, which monkey-patches the process with gevent at import.
"""

from __future__ import annotations

# isort: off
from harness.load import _runner  # Locust patches the process (gevent) before anything else is imported
# isort: on

import json
import sys
import time
from pathlib import Path
from typing import Any

from harness.bench.load import _PROMPT, _endpoint

__all__ = ["main"]

_ = _runner


def main(argv: list[str] | None = None) -> int:
    spec: dict[str, Any] = json.loads((argv if argv is not None else sys.argv[1:])[0])
    if spec["kind"] in ("bare", "transport"):
        result = _child_bare(spec)
    elif spec["kind"] == "fair":
        result = _child_fair(spec)
    else:
        result = _child_bakeoff(spec)
    Path(spec["out"]).write_text(json.dumps(result))
    return 0


def _child_bare(spec: dict[str, Any]) -> dict[str, Any]:
    import gevent
    import gevent.event
    from locust import task
    from locust.contrib.fasthttp import FastHttpUser
    from locust.env import Environment

    from harness.config import Endpoint, PromptItem
    from harness.dialects import get_dialect
    from harness.load._compat import ghc_response

    url: str = spec["url"]
    users: int = spec["users"]
    # the very request bakeoff sends (same body and headers), so the simulator does the same work
    endpoint = Endpoint.model_validate(_endpoint(url))
    req = get_dialect("openai-chat").build_request(
        endpoint, PromptItem.model_validate(_PROMPT), base_url=url, api_key="k", stream=True
    )
    body = req.body
    headers = dict(req.headers)
    path = "/" + req.url.split("/", 3)[3]
    host = "/".join(url.split("/", 3)[:3])
    go = gevent.event.Event()
    state = {"done": 0, "stop": False}
    client: Any = None
    if spec["kind"] == "transport":  # the gevent transport alone: raw bytes as they arrive, no parsing
        from harness.load._gevent_transport import make_gevent_client

        client = make_gevent_client(max_connections=users * 2 + 16)

    class Bare(FastHttpUser):
        wait_time = staticmethod(lambda: 0.0)
        concurrency = 1
        max_retries = 0
        network_timeout = 60.0
        connection_timeout = 60.0

        @task
        def work(self) -> None:
            go.wait()
            while client is not None and not state["stop"]:
                with client.stream("POST", req.url, content=body, headers=headers) as r:
                    for _ in r.iter_raw():
                        pass
                state["done"] += 1
            while not state["stop"]:
                resp = self.client.post(path, data=body, headers=headers, stream=True)  # type: ignore[arg-type]
                raw = ghc_response(resp)
                if raw is None:
                    continue
                while raw.readline(b"\n"):  # each SSE line as it arrives; "" at the end of the body
                    pass
                state["done"] += 1
            gevent.sleep(3600)

    Bare.host = host
    env = Environment(user_classes=[Bare], catch_exceptions=True)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=100, wait=False)
    while runner.user_count < users:
        gevent.sleep(0.02)
    gevent.sleep(0.1)
    t_go = time.monotonic()
    print(f"go {t_go}", flush=True)
    go.set()
    gevent.sleep(max(0.0, t_go + spec["warm"] - time.monotonic()))
    n0 = state["done"]
    gevent.sleep(max(0.0, t_go + spec["seconds"] - time.monotonic()))
    n1 = state["done"]
    state["stop"] = True
    runner.quit()
    fails = sum(e.occurrences for e in env.stats.errors.values())
    return {"rps": (n1 - n0) / (spec["seconds"] - spec["warm"]), "errors": fails}


def _apply_tweaks(tweaks: list[str], execution: Any) -> None:
    """Changes measured by wrapping (``--transport gevent+noparse``; see the benchmark's docstring)."""

    for tweak in tweaks:
        if tweak == "noparse":  # bound: the attempt path with a free SSE/JSON parser (not a proposal)
            from harness.dialects import Delta, Done
            from harness.dialects._openai import OpenAIStreamParser

            def feed(self: Any, data: bytes) -> list[Any]:
                return [Delta("x", "output"), Done()] if b"[DONE]" in data else [Delta("x", "output")]

            OpenAIStreamParser.feed = feed  # type: ignore[method-assign]
        elif tweak == "nostamp":  # chunk times from the reading greenlet's clock, not the kernel's stamps
            execution.http_client.gevent_transport._stamp = False
        else:
            raise SystemExit(f"unknown tweak {tweak!r}")


def _child_bakeoff(spec: dict[str, Any]) -> dict[str, Any]:
    import gevent

    from harness.config import Price, PromptItem, Scenario
    from harness.load._local import LocalExecution
    from harness.load._plan import RunPlan
    from harness.load._schedule import build_schedule
    from harness.record import JsonlWriter, RequestRecord

    url: str = spec["url"]
    users: int = spec["users"]
    seconds: float = spec["seconds"]
    load: dict[str, Any] = {"model": spec["model"], "users": users, "duration": seconds, "grace": 5}
    if spec["model"] == "closed":
        # stagger the starts over one stream's length, so the closed loops stay spread out in time
        load["spawn_rate"] = users / spec.get("cycle_s", 0.5)
    else:
        load.update(arrival="poisson", rate=spec["rate"])
    endpoint = _endpoint(url)
    scenario = {
        "name": "bench",
        "seed": 1,
        "prompts": "inline.jsonl",
        "endpoints": [endpoint],
        "contenders": [{"name": "bench", "primary": "sim"}],
        "load": load,
    }
    sc = Scenario.model_validate(scenario)
    plan = RunPlan(
        run_id="bench",
        scenario=sc,
        prompts=[PromptItem.model_validate(_PROMPT)],
        prices={"sim": Price()},
        base_urls={"sim": url},
        connect_to={},
        schedule=build_schedule(sc.load, 1, sc.seed) if sc.load.model == "open" else (),
    )
    writer = JsonlWriter(Path(spec["records"]))

    def emit(rec: RequestRecord) -> None:
        writer.write(rec.to_dict())

    execution = LocalExecution(plan, emit=emit, api_keys={"sim": "k"}, max_connections=users * 2 + 16)
    transport, *tweaks = spec.get("transport", "gevent").split("+")
    if transport == "httpx":  # the load default is the gevent transport; measure httpcore instead
        from harness.client import make_http_client

        execution.http_client.close()
        execution.http_client = make_http_client(max_connections=users * 2 + 16)
    elif transport == "gevent-std":
        from harness.load._gevent_transport import GeventTransport

        execution.http_client.close()
        import httpx  # the transport under a stock httpx.Client (for comparison)

        execution.http_client = httpx.Client(
            transport=GeventTransport(True, users * 2 + 16),
            trust_env=False,
            timeout=None,  # noqa: S113 - every request passes its own per-phase timeouts
            headers={"accept-encoding": "identity", "user-agent": "bakeoff"},
        )
    _apply_tweaks(tweaks, execution)
    execution.start()

    def announce() -> None:
        print(f"go {time.monotonic()}", flush=True)

    assert execution.executor is not None
    orig_ready = execution._reset_clock

    def on_ready() -> None:
        orig_ready()
        announce()

    execution._reset_clock = on_ready  # type: ignore[method-assign]
    prof: Any = None
    if spec.get("profile"):
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    ended = execution.run(deadline=lambda: seconds + 5.0, aborted=lambda: False)
    if prof is not None:
        prof.disable()
        prof.dump_stats(spec["profile"])
    execution.close()
    writer.close()
    gevent.sleep(0)
    return {"ended": ended, "records": spec["records"]}


def _child_fair(spec: dict[str, Any]) -> dict[str, Any]:
    """A control contender, alone or beside a hostile one, on bakeoff's load path (no proxy): records out."""
    import gevent

    from harness.config import Price, PromptItem, Scenario
    from harness.load._local import LocalExecution
    from harness.load._plan import RunPlan
    from harness.load._schedule import build_schedule
    from harness.record import JsonlWriter, RequestRecord

    urls: dict[str, str] = {"control": spec["control_url"]}
    if spec.get("hostile_url"):
        urls["hostile"] = spec["hostile_url"]
    seconds: float = spec["seconds"]
    endpoints = [{**_endpoint(url), "name": f"{name}-ep"} for name, url in urls.items()]
    scenario = {
        "name": "fair",
        "seed": 1,
        "prompts": "inline.jsonl",
        "endpoints": endpoints,
        "contenders": [{"name": name, "primary": f"{name}-ep"} for name in urls],
        "load": {
            "model": "open",
            "arrival": "poisson",
            "rate": spec["rate"],
            "users": spec["users"],
            "duration": seconds,
            "grace": spec["grace"],
        },
    }
    sc = Scenario.model_validate(scenario)
    plan = RunPlan(
        run_id="fair",
        scenario=sc,
        prompts=[PromptItem.model_validate(_PROMPT)],
        prices={f"{name}-ep": Price() for name in urls},
        base_urls={f"{name}-ep": url for name, url in urls.items()},
        connect_to={},
        schedule=build_schedule(sc.load, 1, sc.seed),
    )
    writer = JsonlWriter(Path(spec["records"]))

    def emit(rec: RequestRecord) -> None:
        writer.write(rec.to_dict())

    keys = {f"{name}-ep": "k" for name in urls}
    execution = LocalExecution(plan, emit=emit, api_keys=keys, max_connections=spec["users"] * 4 + 16)
    execution.start()
    print(f"go {time.monotonic()}", flush=True)
    ended = execution.run(deadline=lambda: seconds + spec["grace"], aborted=lambda: False)
    execution.close()
    writer.close()
    gevent.sleep(0)
    return {"ended": ended, "records": spec["records"]}


if __name__ == "__main__":
    sys.exit(main())
