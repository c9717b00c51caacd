"""The run's probes never send the over-long prompt (~2.1M tokens, which a real vendor may bill) to a
real endpoint unless asked with --billable-overlong-probe; simulated endpoints always get it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from clirun import ROOT, bakeoff_run

from harness.load import SIM_API_KEY  # the key the simulator accepts (importing it patches nothing)
from harness.sim import SimConfig, SimEndpoint, serve_in_thread


@pytest.fixture(scope="module")
def real_vendor() -> Iterator[str]:
    """A vendor bakeoff treats as real (a base_url, a key variable): the simulator, served by the test."""
    cfg = SimConfig(seed=3, endpoints=[SimEndpoint(name="vendor", dialect="openai-chat", model="m")])
    with serve_in_thread(cfg) as sim:
        yield sim.base_urls["vendor"]


def _overlong(tmp_path: Path, real_vendor: str, *extra: str) -> dict[str, int | None]:
    """The HTTP status each endpoint's over-long prompt got (None: never sent)."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        f"""\
name: overlong
prompts: {ROOT / "prompts" / "default.jsonl"}
endpoints:
  - {{name: real, dialect: openai-chat, base_url: "{real_vendor}", api_key_env: VENDOR_KEY, model: m}}
  - {{name: simulated, dialect: openai-chat, sim: fast, model: m}}
contenders:
  - {{name: a, primary: real}}
  - {{name: b, primary: simulated}}
load: {{model: open, arrival: constant, rate: 2/s, users: 2, duration: 1s, grace: 1s}}
""",
        encoding="utf-8",
    )
    run_dir = bakeoff_run(scenario, tmp_path / "out", "--no-report", *extra, env={"VENDOR_KEY": SIM_API_KEY})
    rows = [json.loads(line) for line in (run_dir / "probes.jsonl").open(encoding="utf-8")]
    return {r["endpoint"]: r["status"] for r in rows if r["probe"] == "overlong_context"}


def test_a_real_endpoint_gets_no_over_long_prompt_by_default(tmp_path: Path, real_vendor: str) -> None:
    got = _overlong(tmp_path, real_vendor)
    assert got == {"real": None, "simulated": 400}  # never sent to the real one; the simulator refuses it


def test_billable_overlong_probe_sends_it_to_real_endpoints_too(tmp_path: Path, real_vendor: str) -> None:
    got = _overlong(tmp_path, real_vendor, "--billable-overlong-probe")
    assert got == {"real": 400, "simulated": 400}
