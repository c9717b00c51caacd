"""Load a scenario and everything it references, collecting every problem as ``file:line: field: message``."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness._errors import ConfigError
from harness.behaviour import PRESETS, SimBehaviour
from harness.config._models import Endpoint, FaultEntry, FaultFile, FaultSpec, Price, Scenario
from harness.config._paths import EACH_CONTENDER, FaultScope, target_paths
from harness.config._prompts import PromptSet, load_prompts
from harness.config._yaml import (
    Located,
    display_path,
    load_yaml_located,
    validate_located,
)

__all__ = [
    "ResolvedFault",
    "ResolvedScenario",
    "api_key_problem",
    "load_fault_file",
    "load_scenario",
    "resolve_price",
]


@dataclass(frozen=True)
class ResolvedFault:
    """A timeline entry with its fault spec resolved (library name looked up) and a stable id.

    ``paths`` are the network paths the fault acts on (``alpha@alpha-fast``, see harness.config._paths);
    empty means one path per endpoint, keyed by the endpoint's name. ``scope`` says what the target named:
    ``endpoint`` (the vendor itself: every path to it; HTTP faults count rate limits per endpoint),
    ``contender`` (its own paths) or ``each-contender`` (every contender's path to its primary).
    """

    fault_id: str
    name: str
    entry: FaultEntry
    spec: FaultSpec
    description: str
    endpoints: tuple[str, ...]  # endpoints the target stands for
    paths: tuple[str, ...] = ()
    scope: FaultScope = "endpoint"

    @property
    def path_keys(self) -> tuple[str, ...]:
        """The proxies (by path key) a TCP fault acts on."""
        return self.paths or self.endpoints

    @property
    def http_keys(self) -> tuple[str, ...]:
        """What the HTTP fault layer matches: endpoint names (any contender) for a fault on the vendor
        itself, path keys (that contender only) otherwise."""
        return self.endpoints if self.scope == "endpoint" else self.path_keys


@dataclass(frozen=True)
class ResolvedScenario:
    """A validated scenario with its prompts, faults, prices and secrets resolved. Secrets stay in memory."""

    path: Path
    scenario: Scenario
    prompts: PromptSet  # parsed when used: a million prompts do not need a million objects
    prompts_path: Path
    prompts_sha256: str
    faults: list[ResolvedFault]
    prices: dict[str, Price]
    sim_behaviours: dict[str, SimBehaviour]
    api_keys: Mapping[str, str] = field(repr=False, default_factory=dict)

    def endpoint(self, name: str) -> Endpoint:
        for ep in self.scenario.endpoints:
            if ep.name == name:
                return ep
        raise KeyError(name)


def api_key_problem(value: str) -> str | None:
    """Why ``value`` cannot be sent as an API key in an HTTP header, or None. Never quotes the key.

    Keys travel in a header (``Authorization: Bearer …``, ``x-api-key``): printable ASCII without spaces.
    A newline would end the header early (a key ending in ``\n`` got into error messages whole, and one
    holding ``\r\nX-Injected: yes`` added a header to every request); a non-ASCII character cannot be
    encoded at all (every attempt failed with UnicodeEncodeError).
    """
    n = len(value)
    for i, ch in enumerate(value):
        code = ord(ch)
        if 0x21 <= code <= 0x7E:
            continue
        where = "at the end" if i == n - 1 else "at the start" if i == 0 else f"at character {i + 1} of {n}"
        if ch in "\r\n":
            what, hint = "a line break", " (a value read with `echo` or from a file often ends in one)"
        elif ch.isspace():
            what, hint = "whitespace", ""
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            what, hint = "a control character", ""
        else:
            what, hint = "a non-ASCII character", ""
        return f"the key has {what} {where}{hint}; keys must be printable ASCII without spaces"
    return None


def load_fault_file(path: Path) -> tuple[FaultFile | None, list[str]]:
    located = load_yaml_located(path)
    item, problems = validate_located(FaultFile, located)
    return item, problems


def _faults_dirs(scenario_path: Path) -> list[Path]:
    here = scenario_path.resolve().parent
    return [here / "faults", here.parent / "faults", Path.cwd() / "faults"]


def resolve_price(price: Price, base_dir: Path) -> tuple[Price, str | None]:
    """Apply a ``litellm: {file, model}`` import (per-token USD → per-million). Returns (price, problem)."""
    if price.litellm is None:
        return price, None
    spec = price.litellm
    if set(spec) - {"file", "model"} or "file" not in spec or "model" not in spec:
        return price, "litellm: expected exactly {file, model}"
    file = (base_dir / spec["file"]).resolve()
    try:
        table = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return price, f"litellm.file: file not found: {display_path(file)}"
    except (OSError, json.JSONDecodeError) as exc:
        return price, f"litellm.file: cannot read {display_path(file)}: {exc}"
    entry = table.get(spec["model"]) if isinstance(table, dict) else None
    if not isinstance(entry, dict):
        return price, f"litellm.model: {spec['model']!r} not found in {display_path(file)}"

    def per_m(key: str) -> float | None:
        value = entry.get(key)
        return float(value) * 1e6 if isinstance(value, int | float) else None

    tiers: list[dict[str, Any]] = []
    for key, value in entry.items():
        if (
            key.startswith("input_cost_per_token_above_")
            and key.endswith("k_tokens")
            and isinstance(value, int | float)
        ):
            n = key.removeprefix("input_cost_per_token_above_").removesuffix("k_tokens")
            if n.isdigit():
                tiers.append(
                    {
                        "above_input_tokens": int(n) * 1000,
                        "input_per_mtok": float(value) * 1e6,
                        "output_per_mtok": per_m(f"output_cost_per_token_above_{n}k_tokens"),
                        "cached_input_per_mtok": per_m(f"cache_read_input_token_cost_above_{n}k_tokens"),
                    }
                )
    merged = {
        "input_per_mtok": per_m("input_cost_per_token") or 0.0,
        "output_per_mtok": per_m("output_cost_per_token") or 0.0,
        "cached_input_per_mtok": per_m("cache_read_input_token_cost")
        or per_m("input_cost_per_token_cache_hit"),
        "cache_write_per_mtok": per_m("cache_creation_input_token_cost"),
        "reasoning_per_mtok": per_m("output_cost_per_reasoning_token"),
        "per_request": price.per_request,
        "tiers": sorted(tiers, key=lambda t: t["above_input_tokens"]),
    }
    return Price.model_validate(merged), None


def _raw_list(data: Any, key: str) -> list[dict[str, Any]]:
    value = data.get(key) if isinstance(data, dict) else None
    return [v if isinstance(v, dict) else {} for v in value] if isinstance(value, list) else []


_RESERVED = f"{EACH_CONTENDER!r} is reserved: as a fault target it means every contender at once"


def _reference_problems(
    located: Located, env: Mapping[str, str], require_keys: bool, base_dir: Path
) -> list[str]:
    """Checks that need no valid model: names, references, environment, files. Run on the raw data so
    they are reported together with schema problems."""
    p = located.problem
    data = located.data
    problems: list[str] = []
    endpoints = _raw_list(data, "endpoints")
    contenders = _raw_list(data, "contenders")
    ep_names: dict[str, int] = {}
    for i, ep in enumerate(endpoints):
        name = ep.get("name")
        if isinstance(name, str):
            if name in ep_names:
                problems.append(p(("endpoints", i, "name"), f"duplicate endpoint name {name!r}"))
            ep_names.setdefault(name, i)
        var = ep.get("api_key_env")
        if isinstance(var, str) and require_keys and not env.get(var):
            problems.append(p(("endpoints", i, "api_key_env"), f"environment variable {var} is not set"))
        if "api_key" in ep or "key" in ep:
            field = "api_key" if "api_key" in ep else "key"
            problems.append(
                p(
                    ("endpoints", i, field),
                    "API keys are never written in files: name the variable with api_key_env",
                )
            )
    for i, ep in enumerate(endpoints):
        if ep.get("name") == EACH_CONTENDER:
            problems.append(p(("endpoints", i, "name"), _RESERVED))
    ct_names: dict[str, int] = {}
    for i, ct in enumerate(contenders):
        name = ct.get("name")
        if isinstance(name, str):
            if name == EACH_CONTENDER:
                problems.append(p(("contenders", i, "name"), _RESERVED))
            elif name in ct_names:
                problems.append(p(("contenders", i, "name"), f"duplicate contender name {name!r}"))
            elif name in ep_names:
                problems.append(
                    p(
                        ("contenders", i, "name"),
                        f"{name!r} names both an endpoint and a contender; fault targets would be ambiguous",
                    )
                )
            ct_names.setdefault(name, i)
        primary = ct.get("primary")
        if isinstance(primary, str) and primary not in ep_names:
            problems.append(p(("contenders", i, "primary"), f"unknown endpoint {primary!r}"))
        chain = ct.get("fallbacks")
        if isinstance(chain, list):
            for j, fb in enumerate(chain):
                if not isinstance(fb, str):
                    continue
                if fb not in ep_names:
                    problems.append(
                        p(("contenders", i, "fallbacks", j), f"fallback chain names unknown endpoint {fb!r}")
                    )
                elif fb == primary or fb in chain[:j]:
                    problems.append(
                        p(("contenders", i, "fallbacks", j), f"endpoint {fb!r} appears twice in the chain")
                    )
    decision = data.get("decision") if isinstance(data, dict) else None
    gates = decision.get("gates") if isinstance(decision, dict) else None
    slo = data.get("slo") if isinstance(data, dict) else None
    for i, gate in enumerate(gates if isinstance(gates, list) else []):
        if gate in ("ttft", "tpot", "e2e") and not (isinstance(slo, dict) and slo.get(gate) is not None):
            problems.append(
                p(("decision", "gates", i), f"{gate} is a must-pass gate but slo.{gate} sets no threshold")
            )
    prompts = data.get("prompts") if isinstance(data, dict) else None
    if isinstance(prompts, str) and not (base_dir / prompts).is_file():
        problems.append(p(("prompts",), f"file not found: {display_path(base_dir / prompts)}"))
    return problems


def load_scenario(
    path: str | Path, *, environ: Mapping[str, str] | None = None, require_keys: bool = True
) -> ResolvedScenario:
    """Validate a scenario file and everything it references. Raises ``ConfigError`` listing every problem."""
    env = os.environ if environ is None else environ
    path = Path(path)
    located = load_yaml_located(path)
    if not isinstance(located.data, dict):
        raise ConfigError([f"{located.file}:1: a scenario must be a mapping of keys to values"])
    base_dir = path.resolve().parent
    scenario, problems = validate_located(Scenario, located)
    references = _reference_problems(located, env, require_keys, base_dir)
    explained = {": ".join(line.split(": ", 2)[:2]) for line in references}
    problems = [
        line
        for line in problems
        if not (line.endswith(": unknown key") and line.removesuffix(": unknown key") in explained)
    ]
    problems = _merge(problems, references)
    if scenario is None or problems:
        raise ConfigError(problems)
    assert isinstance(scenario, Scenario)
    p = located.problem

    # secrets and simulated profiles
    api_keys: dict[str, str] = {}
    sim_behaviours: dict[str, SimBehaviour] = {}
    prices: dict[str, Price] = {}
    for i, ep in enumerate(scenario.endpoints):
        if ep.api_key_env is not None and env.get(ep.api_key_env):
            key_problem = api_key_problem(env[ep.api_key_env])
            if key_problem:
                problems.append(p(("endpoints", i, "api_key_env"), f"{ep.api_key_env}: {key_problem}"))
            else:
                api_keys[ep.name] = env[ep.api_key_env]
        elif ep.sim is None and ep.api_key_env is None and require_keys:
            problems.append(
                p(("endpoints", i), "real endpoints need api_key_env (the variable holding the key)")
            )
        if ep.sim is not None:
            behaviour = scenario.sim_profiles.get(ep.sim) or PRESETS.get(ep.sim)
            if behaviour is None:
                known = ", ".join(sorted({*PRESETS, *scenario.sim_profiles}))
                problems.append(
                    p(("endpoints", i, "sim"), f"unknown sim profile {ep.sim!r} (known: {known})")
                )
            else:
                sim_behaviours[ep.name] = behaviour
        price, problem = resolve_price(ep.price, base_dir)
        if problem:
            problems.append(p(("endpoints", i, "price"), problem))
        prices[ep.name] = price

    # prompts
    prompts_path = (base_dir / scenario.prompts).resolve()
    prompts, sha, prompt_problems = load_prompts(prompts_path)
    problems.extend(prompt_problems)
    if scenario.prompt_limit:
        prompts = prompts[: scenario.prompt_limit]

    # fault timeline
    faults: list[ResolvedFault] = []
    for i, entry in enumerate(scenario.faults):
        where = ("faults", i)
        resolved_target = target_paths(entry.target, scenario.endpoints, scenario.contenders)
        if resolved_target is None:
            problems.append(
                p(
                    (*where, "target"),
                    f"unknown endpoint or contender {entry.target!r} (or {EACH_CONTENDER}: every "
                    "contender at once, each on its own path to its primary)",
                )
            )
            continue
        scope, endpoints, paths = resolved_target
        if entry.duration is None and entry.at >= scenario.load.duration:
            problems.append(p((*where, "at"), "fault starts after the run ends"))
        name: str
        if isinstance(entry.fault, FaultSpec):
            spec: FaultSpec = entry.fault
            name = entry.name or entry.fault.kind
            description = entry.fault.description or name
        else:
            found = next(
                (
                    d / f"{entry.fault}.yaml"
                    for d in _faults_dirs(path)
                    if (d / f"{entry.fault}.yaml").is_file()
                ),
                None,
            )
            if found is None:
                problems.append(
                    p(
                        (*where, "fault"),
                        f"no fault named {entry.fault!r} (looked for faults/{entry.fault}.yaml)",
                    )
                )
                continue
            try:
                ffile, fproblems = load_fault_file(found)
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            problems.extend(fproblems)
            if ffile is None:
                continue
            spec = FaultSpec.model_validate(ffile.model_dump(exclude={"name"}))
            name = ffile.name
            description = ffile.description
        faults.append(
            ResolvedFault(f"f{i + 1}-{name}", name, entry, spec, description, endpoints, paths, scope)
        )

    if problems:
        raise ConfigError(problems)
    return ResolvedScenario(
        path=path,
        scenario=scenario,
        prompts=prompts,
        prompts_path=prompts_path,
        prompts_sha256=sha,
        faults=faults,
        prices=prices,
        sim_behaviours=sim_behaviours,
        api_keys=api_keys,
    )


def _merge(*groups: list[str]) -> list[str]:
    """Problems of several passes in file order (by line), duplicates dropped."""
    seen: set[str] = set()
    out: list[str] = []
    for line in sorted((x for g in groups for x in g), key=_line_key):
        if line not in seen:
            seen.add(line)
            out.append(line)
    return out


def _line_key(problem: str) -> tuple[str, int]:
    file, _, rest = problem.partition(":")
    num = rest.split(":", 1)[0]
    return file, int(num) if num.isdigit() else 0
