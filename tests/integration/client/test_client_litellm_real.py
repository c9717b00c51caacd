"""Against a real LiteLLM proxy (issue 17, part 5): the real counterpart of the gateway conventions and of
the simulated ``litellm`` persona. LiteLLM runs from its own virtualenv (it is no dependency of bakeoff):

    python -m venv /tmp/litellm-venv && /tmp/litellm-venv/bin/pip install 'litellm[proxy]'
    export LITELLM_BIN=/tmp/litellm-venv/bin/litellm
    pytest -m slow tests/integration/client/test_client_litellm_real.py

Skipped where no ``litellm`` executable is found. The proxy (master key, no database) routes to this
simulator: model group ``primary`` (always 500) falls back to ``backup`` (another model), ``limited``
always answers 429 with a 2 s retry hint, ``alias`` serves without trouble. Written against 1.108.7.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_client_attempt import attempt

from harness.analysis._gateway import same_model
from harness.client import Router, Target, make_http_client
from harness.config import Contender, Endpoint, Price, PromptItem
from harness.probes import ProbeOptions, run_probes
from harness.record import RequestRecord
from harness.sim import SimBehaviour, SimConfig, SimEndpoint, serve_in_thread

pytestmark = pytest.mark.slow  # the proxy takes ~20 s to start on this machine

MASTER = "sk-bakeoff-master-123"
FAST = SimBehaviour(ttft_ms=5, ttft_jitter_ms=0, tokens_per_s=4000, rpm_limit=100_000)
PROMPT = PromptItem.model_validate(
    {"id": "p1", "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 20}
)


def _litellm() -> str | None:
    return os.environ.get("LITELLM_BIN") or shutil.which("litellm")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exe = _litellm()
    if exe is None or not Path(exe).exists():
        pytest.skip("no LiteLLM proxy here: pip install 'litellm[proxy]' in a virtualenv, set LITELLM_BIN")
    cfg = SimConfig(
        endpoints=[
            SimEndpoint(
                name="bad",
                dialect="openai-chat",
                model="gpt-sim",
                behaviour=FAST.model_copy(update={"error_rates": {500: 1.0}}),
            ),
            SimEndpoint(name="good", dialect="openai-chat", model="claude-sim", behaviour=FAST),
            SimEndpoint(
                name="lim",
                dialect="openai-chat",
                model="gpt-sim",
                behaviour=FAST.model_copy(update={"error_rates": {429: 1.0}, "error_retry_after_ms": 2000}),
            ),
            SimEndpoint(name="plain", dialect="openai-chat", model="gpt-sim", behaviour=FAST),
        ]
    )
    with serve_in_thread(cfg) as sim:
        u = sim.base_urls
        folder = tmp_path_factory.mktemp("litellm")
        (folder / "config.yaml").write_text(
            "model_list:\n"
            + "".join(
                f"  - model_name: {group}\n"
                f"    litellm_params: {{model: openai/{model}, api_base: '{u[name]}', api_key: sk-backend}}\n"
                for group, model, name in (
                    ("primary", "gpt-sim", "bad"),
                    ("backup", "claude-sim", "good"),
                    ("limited", "gpt-sim", "lim"),
                    ("alias", "gpt-sim", "plain"),
                )
            )
            + "router_settings:\n  num_retries: 0\n  fallbacks: [{primary: [backup]}]\n"
            + "litellm_settings:\n  num_retries: 0\n"
            + f"general_settings:\n  master_key: {MASTER}\n",
            encoding="utf-8",
        )
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        log = (folder / "litellm.log").open("wb")
        proc = subprocess.Popen(
            [exe, "--config", str(folder / "config.yaml"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=folder,
            env=env,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None, (folder / "litellm.log").read_text(errors="replace")[-2000:]
                try:
                    if httpx.get(base + "/health/liveliness", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "LiteLLM did not start within 120 s"
                time.sleep(0.5)
            yield base + "/v1"
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
            log.close()


def _target(base: str, model: str, *, stream: bool = True, key: str | None = MASTER) -> Target:
    ep = Endpoint.model_validate(
        {
            "name": f"ll-{model}",
            "dialect": "openai-chat",
            "model": model,
            "base_url": "http://127.0.0.1/v1",
            "api_key_env": "LITELLM_KEY",
            "stream": stream,
            "timeouts": {"connect": 2.0, "ttft": 10.0, "idle": 10.0, "total": 20.0},
        }
    )
    return Target(endpoint=ep, base_url=base, connect_to=None, api_key=key, price=Price())


@pytest.fixture(scope="module")
def http() -> Iterator[object]:
    c = make_http_client(max_connections=4)
    yield c
    c.close()


def test_a_streamed_gateway_fallback_is_in_the_record(proxy: str, http: object) -> None:
    rec = attempt(http, _target(proxy, "primary"), PROMPT)
    assert rec.outcome == "ok", rec.error_detail
    assert rec.gateway_fallbacks == 1 and rec.gateway_retries == 0
    # a stream names the model group that served (the fallback's), a full body the backend's model
    assert rec.model_requested == "primary" and rec.model_served == "backup"
    assert not same_model(rec.model_requested, rec.model_served)  # what the risk sentence keys on
    assert rec.gateway_api_base is not None and rec.gateway_api_base.endswith("/good/v1")
    assert rec.vendor_request_id and rec.vendor_request_id.startswith("req_")  # the backend's, renamed


def test_a_non_streamed_fallback_shows_only_in_the_served_model(proxy: str, http: object) -> None:
    # LiteLLM 1.108.7 sends x-litellm-attempted-fallbacks on streams only; the model tells anyway
    rec = attempt(http, _target(proxy, "primary", stream=False), PROMPT)
    assert rec.outcome == "ok", rec.error_detail
    assert rec.model_served == "claude-sim" and not same_model(rec.model_requested, rec.model_served)


def test_an_alias_without_fallback_is_the_model_requested(proxy: str, http: object) -> None:
    for stream in (True, False):
        rec = attempt(http, _target(proxy, "alias", stream=stream), PROMPT)
        assert rec.outcome == "ok", rec.error_detail
        assert rec.model_served == "alias" and same_model(rec.model_requested, rec.model_served)
        assert not rec.gateway_fallbacks


def test_a_429_through_litellm_has_its_retry_hint_and_an_id(proxy: str, http: object) -> None:
    rec = attempt(http, _target(proxy, "limited"), PROMPT)
    assert rec.error_class == "http_429"
    assert (rec.retry_after_s, rec.retry_after_source) == (2.0, "llm_provider-retry-after-ms")
    assert rec.vendor_request_id


def test_the_router_waits_what_litellm_passed_on(proxy: str, http: object) -> None:
    sleeps: list[float] = []
    records: list[RequestRecord] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        time.sleep(s)

    contender = Contender.model_validate(
        {"name": "c", "primary": "ll-limited", "retries": 1, "backoff_base": 0.05, "backoff_cap": 5}
    )
    router = Router(
        contender,
        {"ll-limited": _target(proxy, "limited")},
        http,  # type: ignore[arg-type]
        clock=time.monotonic,
        run_id="r",
        sleep=sleep,
    )
    router.route("c-1", PROMPT, t_intended=time.monotonic(), seq=1, emit=records.append)
    assert sleeps == [2.0]  # not the 0.05 s backoff
    assert [r.error_class for r in records] == ["http_429", "http_429"]


def test_keys_as_litellm_without_a_database_answers_them(proxy: str, http: object) -> None:
    wrong = attempt(http, _target(proxy, "alias", key="sk-wrong-key-456"), PROMPT)
    assert (wrong.status, wrong.error_class) == (400, "http_4xx") and "No connected db" in wrong.error_detail
    assert wrong.vendor_request_id is None
    missing = attempt(http, _target(proxy, "alias", key=None), PROMPT)
    assert (missing.status, missing.error_class) == (500, "http_5xx") and missing.vendor_request_id is None


def test_the_probes_fail_where_they_fail_on_the_simulated_persona(proxy: str, http: object) -> None:
    """The same probes as tests/integration/probes/test_probes_sim.py runs on the ``litellm`` persona
    (there: {"bad_key", "request_id"} fail): the persona is honest when the real proxy fails the same."""
    opts = ProbeOptions(overlong_tokens=0, timeout_s=10)
    results = run_probes({"alias": _target(proxy, "alias")}, http, options=opts)  # type: ignore[arg-type]
    assert {r.probe for r in results if r.passed is False} == {"bad_key", "request_id"}, [
        (r.probe, r.observed) for r in results if r.passed is False
    ]
