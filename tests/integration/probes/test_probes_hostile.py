"""A vendor that answers the probes with endless ``100 Continue`` heads, or one head byte a second, or a
flood, cannot hold the probe phase: every probe request ends within its own time limit (issue 14).

The vendor is ``harness.bench.hostile_vendor`` in its own process; the probes run here on the client's
own transport (httpcore), as ``bakeoff run`` and ``bakeoff probe`` run them, and under gevent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

from harness.bench.hostile import start_vendor
from harness.client import Target, make_http_client
from harness.config import Endpoint, Price
from harness.probes import REQUESTS, ProbeOptions, run_probes

KEY = "hostile-probe-key-0123456789"
# every request of the probe set but the 4 MB over-long prompt, each with a limit of 1 to 1.5 s
OPTS = ProbeOptions(overlong_tokens=0, timeout_s=1.0, answer_timeout_s=1.5, prompt_error_s=0.5)
LIMITS_S = 1.5 + 1.0 * (len(REQUESTS) - 2)
BOUND_S = 2 * LIMITS_S + 10
"""The probes' own limits, with room for a busy machine: a wait that restarts on every byte never ends."""


@pytest.fixture(scope="module")
def vendor() -> Iterator[str]:
    with start_vendor() as url:
        yield url


def target(url: str) -> Target:
    ep = Endpoint(name="v", dialect="openai-chat", model="m", base_url=url, api_key_env="K")
    return Target(ep, url, None, KEY, Price())


@pytest.mark.parametrize("mode", ["endless_1xx", "slow_head", "flood", "endless_head"])
def test_probes_end_within_their_limits_whatever_the_vendor_sends(vendor: str, mode: str) -> None:
    with make_http_client(max_connections=4) as client:
        t0 = time.monotonic()
        res = {r.probe: r for r in run_probes({"v": target(f"{vendor}/{mode}/v1")}, client, options=OPTS)}
        elapsed = time.monotonic() - t0
    assert elapsed < BOUND_S, elapsed  # a read timeout restarted per byte would never end
    assert res["bad_key"].passed is not True  # nothing usable came back
    if mode in ("endless_1xx", "slow_head"):
        assert "timed out" in res["bad_key"].observed or "no answer" in res["bad_key"].observed, res[
            "bad_key"
        ]


SCRIPT = """
from gevent import monkey; monkey.patch_all()
import json, sys, time
sys.modules.setdefault("trio", None)  # as harness.load._runner does in the load process
from harness.client import Target, make_http_client
from harness.config import Endpoint, Price
from harness.probes import ProbeOptions, run_probes
url = sys.argv[1]
ep = Endpoint(name="v", dialect="openai-chat", model="m", base_url=url, api_key_env="K")
opts = ProbeOptions(overlong_tokens=0, timeout_s=1.0, answer_timeout_s=1.5, prompt_error_s=0.5)
t0 = time.monotonic()
with make_http_client(max_connections=4) as client:
    res = run_probes({"v": Target(ep, url, None, "k" * 20, Price())}, client, options=opts)
print(json.dumps({"elapsed": time.monotonic() - t0, "probes": len(res)}))
"""


def test_endless_interim_heads_cannot_hold_the_probes_under_gevent(vendor: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), f"{vendor}/endless_1xx/v1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["elapsed"] < BOUND_S and result["probes"] > 0, result
