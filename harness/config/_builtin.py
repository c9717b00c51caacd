"""The scenarios, faults and prompts that ship with bakeoff, found wherever bakeoff is installed.

An installed bakeoff (wheel or sdist) carries them inside the package, ``harness/_builtin/{scenarios,
faults,prompts}`` (pyproject.toml maps the repository's top-level folders there); a source checkout
(editable install, or ``PYTHONPATH``) reads the top-level folders themselves. Either way the layout is
the same, so a built-in scenario's ``prompts: ../prompts/default.jsonl`` resolves in both.

Fault library names (``fault: outage``) are looked up in this order, first match wins::

    <scenario folder>/faults/          a library next to the scenario
    <scenario folder>/../faults/       a project laid out like this repository (scenarios/ beside faults/)
    $BAKEOFF_FAULTS                    the user library: folders separated by ':' (default
                                       $XDG_CONFIG_HOME/bakeoff/faults, i.e. ~/.config/bakeoff/faults)
    the built-in faults                what `bakeoff scenarios` shows as the faults folder

    builtin_dir("scenarios")                   # Path(.../scenarios)
    find_scenario("short/brownout")            # Path(.../scenarios/short/brownout.yaml)
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from harness._errors import ConfigError
from harness.config._yaml import display_path

__all__ = [
    "USER_FAULTS_ENV",
    "BuiltinScenario",
    "builtin_dir",
    "builtin_scenarios",
    "fault_search_dirs",
    "find_scenario",
    "user_fault_dirs",
]

USER_FAULTS_ENV = "BAKEOFF_FAULTS"
"""Environment variable naming the user's fault library folders (``os.pathsep``-separated)."""

BuiltinKind = Literal["scenarios", "faults", "prompts"]

_SUMMARY_MAX = 100
_PACKAGE = Path(__file__).resolve().parents[1]  # .../harness


def builtin_dir(kind: BuiltinKind) -> Path:
    """The folder of the built-in ``kind``: inside the installed package, else the source checkout's."""
    packaged = _PACKAGE / "_builtin" / kind
    if packaged.is_dir():
        return packaged
    checkout = _PACKAGE.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / kind).is_dir():
        return checkout / kind
    raise ConfigError(
        [f"bakeoff is installed without its built-in {kind} (looked in {packaged} and {checkout / kind})"]
    )


@dataclass(frozen=True)
class BuiltinScenario:
    """One built-in scenario as ``bakeoff scenarios`` lists it."""

    name: str  # "default", "short/brownout": what `bakeoff run NAME` takes
    path: Path
    summary: str  # one line
    duration_s: float | None  # the load's planned length (sequential: every contender's slot)


def builtin_scenarios() -> list[BuiltinScenario]:
    """Every built-in scenario (``scenarios/*.yaml`` and one level of sub-folders), by name."""
    root = builtin_dir("scenarios")
    out: list[BuiltinScenario] = []
    for path in sorted([*root.glob("*.yaml"), *root.glob("*/*.yaml")]):
        data = _read_yaml(path)
        if not isinstance(data, dict) or "contenders" not in data:
            continue  # e.g. scenarios/compose/sim.yaml, a simulator file
        name = path.relative_to(root).with_suffix("").as_posix()
        out.append(BuiltinScenario(name, path, _summary(path, data), _duration(data)))
    return out


def find_scenario(arg: str | None) -> Path:
    """A scenario file from what the user typed: a path to a file, or a built-in's name.

    ``None`` is the built-in default. Names may be written as ``brownout``, ``short/brownout``,
    ``scenarios/short/brownout.yaml`` (the repository path) — a file that exists always wins.
    """
    if arg is None:
        return builtin_dir("scenarios") / "default.yaml"
    path = Path(arg)
    if path.is_file():
        return path
    if path.is_dir():
        raise ConfigError([f"{arg}: is a folder; give a scenario file or a built-in scenario's name"])
    name = arg.removeprefix("./").removeprefix("scenarios/")
    for suffix in (".yaml", ".yml"):
        name = name.removesuffix(suffix)
    known = {s.name: s.path for s in builtin_scenarios()}
    if name in known:
        return known[name]
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else "; `bakeoff scenarios` lists them"
    folder = display_path(builtin_dir("scenarios"))
    raise ConfigError([f"{arg}: no such file, and no built-in scenario named {name!r} (in {folder}){hint}"])


def user_fault_dirs(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The user's fault library: ``$BAKEOFF_FAULTS`` (``:``-separated), else ``~/.config/bakeoff/faults``."""
    env = os.environ if environ is None else environ
    listed = env.get(USER_FAULTS_ENV)
    if listed:
        return [Path(p).expanduser() for p in listed.split(os.pathsep) if p]
    config = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return [Path(config) / "bakeoff" / "faults"]


def fault_search_dirs(
    scenario_path: Path, environ: Mapping[str, str] | None = None
) -> list[tuple[Path, str]]:
    """(folder, what it is) in lookup order for a scenario's fault library names."""
    here = scenario_path.resolve().parent
    dirs: list[tuple[Path, str]] = [
        (here / "faults", "next to the scenario"),
        (here.parent / "faults", "beside the scenario's folder"),
        *((d, "user library") for d in user_fault_dirs(environ)),
    ]
    with contextlib.suppress(ConfigError):
        dirs.append((builtin_dir("faults"), "built-in"))
    seen: set[Path] = set()
    out: list[tuple[Path, str]] = []
    for d, label in dirs:
        key = d.resolve()
        if key not in seen:
            seen.add(key)
            out.append((d, label))
    return out


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None


def _summary(path: Path, data: dict[str, Any]) -> str:
    """The file's first comment sentence, else its description's first sentence; one line."""
    lines: list[str] = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        text = ""
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    words = " ".join(x for x in lines if x) or " ".join(str(data.get("description") or "").split())
    sentence = words.split(". ", 1)[0].rstrip(".")
    sentence = sentence.removeprefix("Failure mode: ")
    sentence = re.sub(r"^Short variant of scenarios/[\w.-]+\.yaml \([^)]*\):\s*", "Short variant: ", sentence)
    sentence = sentence[:1].upper() + sentence[1:]
    return sentence if len(sentence) <= _SUMMARY_MAX else sentence[: _SUMMARY_MAX - 1].rstrip() + "…"


def _duration(data: dict[str, Any]) -> float | None:
    from pydantic import ValidationError

    from harness.config._models import LoadProfile

    try:
        load = LoadProfile.model_validate(data.get("load") or {})
    except ValidationError:
        return None
    contenders = data.get("contenders")
    lanes = len(contenders) if load.mode == "sequential" and isinstance(contenders, list) else 1
    return load.duration * max(lanes, 1)
