"""Every package's public names exist once; the top level is pinned; importing does not start Locust."""

from __future__ import annotations

import importlib

import pytest

import harness

PACKAGES = [
    "harness.config",
    "harness.dialects",
    "harness.client",
    "harness.sim",
    "harness.faults",
    "harness.load",
    "harness.record",
    "harness.analysis",
    "harness.report",
    "harness.probes",
    "harness.repro",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_public_names_exist_and_are_unique(name: str) -> None:
    module = importlib.import_module(name)
    public = list(module.__all__)
    assert public, name
    assert all(hasattr(module, member) for member in public), name
    assert len(set(public)) == len(public), name


def test_top_level() -> None:
    assert harness.__all__ == ["BakeoffError", "ConfigError", "ReportError", "RunError", "__version__"]
    assert issubclass(harness.ConfigError, harness.BakeoffError) and issubclass(
        harness.ConfigError, ValueError
    )


def test_importing_the_load_package_does_not_import_locust() -> None:
    import subprocess
    import sys

    code = "import harness.load, harness.cli, sys; print('locust' in sys.modules, 'gevent' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False False"


def test_importing_config_loads_no_simulator_and_no_server() -> None:
    """A scenario is validated without starting anything: config needs only the behaviour model."""
    import subprocess
    import sys

    forbidden = ("harness.sim", "harness.faults", "harness._http", "asyncio", "httpx", "http.server")
    code = f"import harness.config, sys; print(sorted(m for m in sys.modules if m.startswith({forbidden!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
    # and the simulator still offers the model under its own name
    import harness.behaviour
    import harness.sim

    assert harness.sim.SimBehaviour is harness.behaviour.SimBehaviour


def test_one_public_name_means_one_thing() -> None:
    """A name exported by two modules is the same object in both: no two Dialects, no two Endpoints."""
    import sys

    for name in [*PACKAGES, "harness.sim.handlers", "harness.faults._toxiproxy_server._link"]:
        importlib.import_module(name)
    owners: dict[str, tuple[str, object]] = {}
    clashes = []
    for modname, module in sorted(sys.modules.items()):
        if not modname.startswith("harness.") or not hasattr(module, "__all__"):
            continue
        for member in module.__all__:
            if member == "main":  # every command module has its own entry point
                continue
            obj = getattr(module, member)
            first = owners.setdefault(member, (modname, obj))
            if first[1] is not obj:
                clashes.append(f"{member}: {first[0]} and {modname}")
    assert clashes == []
