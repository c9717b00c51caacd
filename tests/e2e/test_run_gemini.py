"""A scenario with a simulated Gemini endpoint validates, and a four-second ``bakeoff run`` against it
records successful, measured attempts and the conformance probes (one subprocess, ~10 s)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirun import bakeoff

from harness.record import read_records

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = """\
name: gemini-short
seed: 7
prompts: {prompts}
endpoints:
  - name: gem-flash
    dialect: gemini
    sim: fast
    model: gemini-sim-flash
    price: {{input_per_mtok: 0.3, output_per_mtok: 2.5}}
    timeouts: {{connect: 1s, ttft: 5s, idle: 5s, total: 10s}}
contenders:
  - name: gem
    primary: gem-flash
load:
  model: open
  arrival: poisson
  rate: 4/s
  users: 8
  duration: 4s
  grace: 3s
"""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gemini") / "gemini.yaml"
    path.write_text(SCENARIO.format(prompts=ROOT / "prompts" / "default.jsonl"), encoding="utf-8")
    return path


def test_gemini_sim_scenario_validates(scenario: Path) -> None:
    proc = bakeoff("validate", str(scenario))
    assert proc.returncode == 0, proc.stderr
    assert "ok (1 endpoint, 1 contender," in proc.stdout


def test_short_run_against_simulated_gemini(scenario: Path, tmp_path: Path) -> None:
    proc = bakeoff("run", str(scenario), "--out", str(tmp_path), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = Path(proc.stdout.strip().splitlines()[-1]).parent
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert "/gem-flash/v1beta" in json.dumps(manifest)  # the simulator announced the v1beta root
    df = read_records(run_dir)
    assert len(df) >= 5
    assert (df.outcome == "ok").all(), df[["error_class", "error_detail"]].drop_duplicates().to_string()
    assert set(df.model_served) == {"gemini-sim-flash"}
    assert set(df.finish_reason) <= {"STOP", "MAX_TOKENS"}
    assert (df.usage_source == "reported").all() and (df.output_tokens > 0).all()
    assert df.vendor_request_id.str.startswith("req_").all()  # responseId: Gemini has no id header
    probes = {
        r["probe"]: r
        for r in map(json.loads, (run_dir / "probes.jsonl").read_text(encoding="utf-8").splitlines())
    }
    assert probes["bad_key"]["passed"] is True and probes["stream_terminal"]["passed"] is True
    failed = {p for p, r in probes.items() if r["passed"] is False}
    assert failed >= {"request_id", "ratelimit_headers"}  # what the Gemini API does not send
    # anything else may only fail for being slow (a busy machine), never for what was answered
    others = {p: probes[p]["observed"] for p in failed - {"request_id", "ratelimit_headers"}}
    assert all(o.startswith("slow: ") for o in others.values()), others
