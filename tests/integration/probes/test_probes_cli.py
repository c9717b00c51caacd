"""`bakeoff probe SCENARIO`: simulated endpoints served in-process, real ones with their env keys;
table or JSON output, probes.jsonl with --out, exit codes for bad input and --strict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from probe_vendor import Behaviour, serve_vendor

from harness.cli._probe import probe
from harness.probes import PROBES, read_probes

KEY = "cli-vendor-key-987654"


def scenario(tmp: Path, vendor_port: int | None = None) -> Path:
    (tmp / "p.jsonl").write_text(
        json.dumps({"id": "p", "messages": [{"role": "user", "content": "hi"}]}) + "\n", encoding="utf-8"
    )
    endpoints = [{"name": "sim-a", "dialect": "anthropic-messages", "model": "claude-sim", "sim": "fast"}]
    if vendor_port is not None:
        endpoints.append(
            {
                "name": "real",
                "dialect": "openai-chat",
                "model": "m",
                "base_url": f"http://127.0.0.1:{vendor_port}/v1",
                "api_key_env": "PROBE_CLI_KEY",
            }
        )
    doc = {
        "name": "cli",
        "prompts": "p.jsonl",
        "endpoints": endpoints,
        "contenders": [{"name": "c", "primary": "sim-a"}],
    }
    path = tmp / "s.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_table_json_and_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBE_CLI_KEY", KEY)
    hostile = Behaviour(key=KEY, error_message_extra=" \x1b]0;pwned\x07\x1b[2J")
    with serve_vendor(hostile) as port:
        path = scenario(tmp_path, port)
        runner = CliRunner()
        res = runner.invoke(probe, [str(path), "--overlong-tokens", "6000", "--out", str(tmp_path / "run")])
        assert res.exit_code == 0, res.output
        assert "\x1b" not in res.output and KEY not in res.output
        lines = res.output.splitlines()
        assert lines[0].split()[:4] == ["endpoint", "probe", "verdict", "layer"]
        assert any(line.startswith("sim-a") and " bad_key " in line and " pass " in line for line in lines)
        results = read_probes(tmp_path / "run")
        assert {r.endpoint for r in results} == {"sim-a", "real"}
        assert len(results) == 2 * len(PROBES)
        by = {(r.endpoint, r.probe): r for r in results}
        assert by[("sim-a", "bad_key")].passed is True  # the in-process sim checks its placeholder key
        assert by[("real", "bad_key")].passed is True
        assert by[("real", "overlong_context")].passed is True
        js = runner.invoke(probe, [str(path), "--json", "-e", "real", "--skip", "overlong_context"])
        assert js.exit_code == 0, js.output
        rows = [json.loads(line) for line in js.output.splitlines() if line.startswith("{")]
        assert {r["endpoint"] for r in rows} == {"real"}
        assert next(r for r in rows if r["probe"] == "overlong_context")["passed"] is None


def test_strict_exits_3_on_a_failed_probe(tmp_path: Path) -> None:
    # a sim profile that sends no rate-limit headers (a vendor with poor observability): that probe fails
    path = scenario(tmp_path)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["sim_profiles"] = {"quiet": {"send_ratelimit_headers": False}}
    doc["endpoints"][0]["sim"] = "quiet"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    res = CliRunner().invoke(probe, [str(path), "--overlong-tokens", "0", "--strict"])
    assert res.exit_code == 3, res.output
    assert "ratelimit_headers" in res.output


def test_bad_input_is_exit_2_with_one_line(tmp_path: Path) -> None:
    path = scenario(tmp_path)
    res = CliRunner().invoke(probe, [str(path), "-e", "nope"])
    assert res.exit_code == 2 and "unknown endpoint 'nope'" in res.output
    with serve_vendor(Behaviour(key=KEY)) as port:
        res = CliRunner().invoke(probe, [str(scenario(tmp_path, port))])  # PROBE_CLI_KEY not set
    assert res.exit_code == 2 and "PROBE_CLI_KEY is not set" in res.output
    assert "Traceback" not in res.output
