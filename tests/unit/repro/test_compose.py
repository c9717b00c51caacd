"""docker-compose.yml wiring, checked by parsing (this machine has no Docker engine): the real Toxiproxy
image, the simulated vendors, the harness as Locust master and scalable workers, and a compose scenario
whose every endpoint goes to the `sim` service through the Toxiproxy URL the harness is given."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from harness.config import load_scenario
from harness.run import upstream_of
from harness.sim import SimConfig

ROOT = Path(__file__).resolve().parents[3]
_VAR = re.compile(r"\$\{(\w+):-([^}]*)\}")


def _defaults(value: Any) -> Any:
    """What compose substitutes with no variables set: ``${NAME:-default}`` → ``default``."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: m.group(2), value)
    if isinstance(value, list):
        return [_defaults(v) for v in value]
    if isinstance(value, dict):
        return {k: _defaults(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))  # merges `<<:` keys
    return _defaults(data)


def _flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_services_and_images(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"toxiproxy", "sim", "harness", "worker"}
    assert services["toxiproxy"]["image"].startswith("ghcr.io/shopify/toxiproxy:")
    for name in ("sim", "harness", "worker"):
        assert services[name]["image"] == "bakeoff:local"
        assert "pip install" in services[name]["build"]["dockerfile_inline"]


def test_harness_drives_the_real_toxiproxy_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    tox = services["toxiproxy"]["command"]
    assert "-host=0.0.0.0" in tox
    api_port = int(next(a for a in tox if a.startswith("-port=")).split("=")[1])
    assert services["toxiproxy"]["ports"] == [f"127.0.0.1:{api_port}:{api_port}"]
    cmd = services["harness"]["command"]
    assert cmd[:2] == ["bakeoff", "run"]
    url = urlsplit(_flag(cmd, "--toxiproxy"))
    assert (url.scheme, url.hostname, url.port) == ("http", "toxiproxy", api_port)
    # not loopback: the harness makes its proxies listen on 0.0.0.0 inside that container and dials
    # toxiproxy:<port>, which the workers on the same network can reach too
    assert url.hostname not in ("127.0.0.1", "localhost", "::1")
    assert services["harness"]["depends_on"]["toxiproxy"]["condition"] == "service_healthy"
    assert services["harness"]["depends_on"]["sim"]["condition"] == "service_healthy"
    assert "./reports:/app/reports" in services["harness"]["volumes"]
    assert _flag(cmd, "--out") == "/app/reports"


def test_workers_scale_and_find_the_master(compose: dict[str, Any]) -> None:
    services = compose["services"]
    cmd = services["harness"]["command"]
    assert _flag(cmd, "--master-bind") == "0.0.0.0"
    port = _flag(cmd, "--master-port")
    worker = services["worker"]
    assert worker["command"] == ["bakeoff", "worker", "--master", f"harness:{port}"]
    assert port in services["harness"]["expose"]
    # scalable: no fixed name, no host port; the master waits for as many as compose starts by default
    assert "container_name" not in worker and "ports" not in worker
    assert int(_flag(cmd, "--expect-workers")) == int(worker["deploy"]["replicas"])
    raw = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "--scale worker=" in raw


def test_sim_service_serves_the_compose_scenario(compose: dict[str, Any]) -> None:
    services = compose["services"]
    sim_cmd = services["sim"]["command"]
    assert sim_cmd[:2] == ["bakeoff", "sim"]
    assert _flag(sim_cmd, "--host") == "0.0.0.0"
    sim_port = int(_flag(sim_cmd, "--port"))
    config_path = ROOT / _flag(sim_cmd, "--config").removeprefix("/app/")
    sim = SimConfig.model_validate(yaml.safe_load(config_path.read_text(encoding="utf-8")))
    sims = {ep.name: ep for ep in sim.endpoints}

    scenario_path = ROOT / _flag(services["harness"]["command"], "run")
    assert scenario_path == ROOT / "scenarios" / "compose.yaml"
    env = {k: str(v) for k, v in services["harness"]["environment"].items()}
    resolved = load_scenario(scenario_path, environ=env)  # validates, keys from the compose environment
    for ep in resolved.scenario.endpoints:
        assert ep.base_url is not None
        assert upstream_of(ep.base_url) == ("sim", sim_port)
        path = urlsplit(ep.base_url).path.strip("/").split("/")
        served = sims[path[0]]
        assert (served.dialect, served.model) == (ep.dialect, ep.model)
        assert path[1:] == (["v1"] if ep.dialect == "openai-chat" else [])
        assert ep.api_key_env in services["harness"]["environment"]
        assert ep.api_key_env in services["worker"]["environment"]  # workers read keys themselves
    assert resolved.faults and all(f.spec.kind == "outage" for f in resolved.faults)


def test_real_vendor_keys_are_passed_by_name_only() -> None:
    raw = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    for line in raw.splitlines():
        m = re.match(r"\s*#?\s*(\w+_API_KEY):\s*(.+)", line)
        if m and m.group(1) != "SIM_API_KEY":
            assert m.group(2).strip() == f"${{{m.group(1)}:-}}", line
