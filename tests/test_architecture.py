"""Dependencies point down (DESIGN.md): cli → run → {load, probes, report, repro} → {client, faults,
analysis} → {dialects, config, record}. Checked on the import statements of every module of harness/."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[1] / "harness"


def _part(module: str) -> str | None:
    """The part of harness a module belongs to: its subpackage, or its top-level module without '_'."""
    parts = module.split(".")
    if parts[0] != "harness" or len(parts) < 2:
        return None
    return parts[1] if (HARNESS / parts[1]).is_dir() else parts[1].lstrip("_")


def _imports() -> dict[str, dict[str, list[str]]]:
    """part → imported part → the modules (file:line) that import it."""
    out: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in HARNESS.rglob("*.py"):
        rel = path.relative_to(HARNESS)
        src = rel.parts[0] if len(rel.parts) > 1 else rel.stem.lstrip("_")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                target = _part(name)
                if target is not None and target != src:
                    out[src][target].append(f"harness/{rel}:{node.lineno}")
    return out


FORBIDDEN = {
    # load executes a plan; it never owns a run, analyses or reports
    "load": {"run", "report", "analysis", "probes", "repro", "cli"},
    # analysis is pure: no I/O parts, no load, no report
    "analysis": {"load", "run", "client", "sim", "faults", "probes", "report", "repro", "cli"},
    # the bottom layer imports nothing above it
    "record": {"load", "run", "client", "sim", "faults", "probes", "report", "repro", "analysis", "cli"},
    "dialects": {"load", "run", "client", "sim", "faults", "probes", "report", "repro", "analysis", "cli"},
    # config never loads the simulator or a server (the behaviour model lives in harness.behaviour)
    "config": {"load", "run", "client", "sim", "faults", "probes", "report", "repro", "analysis", "cli"},
    # vendor server metrics: the text format, the series map, the scraper; the simulator, the run and the
    # analysis use it, it uses none of them
    "servermetrics": {
        "load",
        "run",
        "client",
        "sim",
        "faults",
        "probes",
        "report",
        "repro",
        "analysis",
        "cli",
    },
    # the middle layer never reaches up to the run or the CLI
    "client": {"load", "run", "report", "repro", "cli"},
    "faults": {"load", "run", "report", "repro", "cli"},
    "report": {"load", "run", "client", "sim", "faults", "cli"},
    "run": {"cli", "report", "analysis"},
}


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_dependencies_point_down(part: str) -> None:
    imports = _imports()[part]
    wrong = {t: where for t, where in imports.items() if t in FORBIDDEN[part]}
    assert wrong == {}, f"harness/{part} imports parts above it: {wrong}"


def test_one_way_to_patch_the_process() -> None:
    """Outside harness/load, a process that runs load calls ``ensure_patched()``; nothing imports the Locust
    runner (which patches at import) directly."""
    offenders = [
        f"{path.relative_to(HARNESS.parent)}:{no}"
        for path in HARNESS.rglob("*.py")
        if not path.is_relative_to(HARNESS / "load")
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "load._runner" in line or "load import _runner" in line
    ]
    assert offenders == []
