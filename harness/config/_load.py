"""Load a scenario and everything it references, collecting every problem as ``file:line: field: message``."""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness._errors import ConfigError
from harness._model import NAME_PATTERN
from harness._vocab import DIALECT_NAMES
from harness.behaviour import PRESETS, SimBehaviour
from harness.config._builtin import builtin_dir, fault_search_dirs
from harness.config._models import (
    AFTER_TOKENS_RENAMED,
    Endpoint,
    FaultEntry,
    FaultFile,
    FaultSpec,
    Price,
    Scenario,
)
from harness.config._modeltree import duration_values
from harness.config._paths import EACH_CONTENDER, FaultScope, target_paths
from harness.config._prompts import PromptSet, load_prompts
from harness.config._sessions import missing_replies
from harness.config._yaml import (
    Located,
    PathKey,
    display_path,
    format_path,
    load_yaml_located,
    validate_located,
)

__all__ = [
    "ResolvedFault",
    "ResolvedScenario",
    "api_key_problem",
    "fault_fit_warnings",
    "find_fault",
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
    origin: str = ""  # "file:line" of the timeline entry, for messages

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
    warnings: tuple[str, ...] = ()
    """``file:line: warning: field: message`` lines: valid, but probably not what the author meant."""
    scenario_duration_s: float | None = None
    """The load duration the file gives, when a command-line override (``--duration``) changed it."""

    def endpoint(self, name: str) -> Endpoint:
        for ep in self.scenario.endpoints:
            if ep.name == name:
                return ep
        raise KeyError(name)

    def unused_endpoints(self) -> list[str]:
        """Endpoints no contender routes to (neither primary nor fallback)."""
        used = {e for c in self.scenario.contenders for e in (c.primary, *c.fallbacks)}
        return [ep.name for ep in self.scenario.endpoints if ep.name not in used]

    def without_unused_endpoints(self) -> ResolvedScenario:
        """This scenario as a run sends it: endpoints no contender uses, and faults only they had, left out.

        A starter scenario lists real vendors beside a simulated stand-in; until a contender uses them
        they are not started, probed, proxied or keyed.
        """
        unused = set(self.unused_endpoints())
        if not unused:
            return self
        faults = [
            dataclasses.replace(f, endpoints=tuple(e for e in f.endpoints if e not in unused))
            for f in self.faults
        ]
        kept = [f for f in faults if f.endpoints]
        scenario = self.scenario.model_copy(
            update={
                "endpoints": [ep for ep in self.scenario.endpoints if ep.name not in unused],
                "faults": [f.entry for f in kept],
            }
        )
        return dataclasses.replace(
            self,
            scenario=scenario,
            faults=kept,
            prices={k: v for k, v in self.prices.items() if k not in unused},
            sim_behaviours={k: v for k, v in self.sim_behaviours.items() if k not in unused},
            api_keys={k: v for k, v in self.api_keys.items() if k not in unused},
        )


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
        "cache_write_1h_per_mtok": per_m("cache_creation_input_token_cost_above_1hr"),
        "reasoning_per_mtok": per_m("output_cost_per_reasoning_token"),
        "per_request": price.per_request,
        "tiers": sorted(tiers, key=lambda t: t["above_input_tokens"]),
    }
    return Price.model_validate(merged), None


def _raw_list(data: Any, key: str) -> list[dict[str, Any]]:
    value = data.get(key) if isinstance(data, dict) else None
    return [v if isinstance(v, dict) else {} for v in value] if isinstance(value, list) else []


_RESERVED = f"{EACH_CONTENDER!r} is reserved: as a fault target it means every contender at once"


def _used_endpoints(data: Any) -> set[str]:
    """Endpoint names some contender routes to (primary or fallback), from the raw data."""
    used: set[str] = set()
    for ct in _raw_list(data, "contenders"):
        if isinstance(ct.get("primary"), str):
            used.add(ct["primary"])
        chain = ct.get("fallbacks")
        if isinstance(chain, list):
            used.update(x for x in chain if isinstance(x, str))
    return used


def _is_name(text: str) -> bool:
    return re.fullmatch(NAME_PATTERN.removeprefix("^").removesuffix("$"), text) is not None


def find_fault(name: str, scenario_path: Path, environ: Mapping[str, str] | None = None) -> Path | str:
    """The file of library fault ``name``, or a message naming every folder searched (and a near name)."""
    dirs = fault_search_dirs(scenario_path, environ)
    for d, _label in dirs:
        if (d / f"{name}.yaml").is_file():
            return d / f"{name}.yaml"
    known = sorted({p.stem for d, _ in dirs if d.is_dir() for p in d.glob("*.yaml")})
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    where = "; ".join(f"{display_path(d)}/ ({label})" for d, label in dirs)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"no fault named {name!r} (looked for {name}.yaml in: {where}){hint}"


def _reference_problems(
    located: Located,
    env: Mapping[str, str],
    check_env: bool,
    path: Path,
) -> list[str]:
    """Checks that need no valid model: names, references, environment, files. Run on the raw data so
    they are reported together with schema problems, in one pass."""
    p = located.problem
    data = located.data
    base_dir = path.resolve().parent
    problems: list[str] = []
    endpoints = _raw_list(data, "endpoints")
    contenders = _raw_list(data, "contenders")
    used = _used_endpoints(data)
    ep_names: dict[str, int] = {}
    for i, ep in enumerate(endpoints):
        name = ep.get("name")
        if isinstance(name, str):
            if name in ep_names:
                problems.append(p(("endpoints", i, "name"), f"duplicate endpoint name {name!r}"))
            ep_names.setdefault(name, i)
        var = ep.get("api_key_env")
        if isinstance(var, str) and check_env and isinstance(name, str) and name in used and not env.get(var):
            problems.append(
                p(
                    ("endpoints", i, "api_key_env"),
                    f"environment variable {var} is not set (bakeoff validate --lint checks "
                    "a scenario without its keys)",
                )
            )
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
            problems.append(
                p(("contenders", i, "primary"), f"unknown endpoint {primary!r}{_near(primary, ep_names)}")
            )
        chain = ct.get("fallbacks")
        if isinstance(chain, list):
            for j, fb in enumerate(chain):
                if not isinstance(fb, str):
                    continue
                if fb not in ep_names:
                    problems.append(
                        p(
                            ("contenders", i, "fallbacks", j),
                            f"fallback chain names unknown endpoint {fb!r}{_near(fb, ep_names)}",
                        )
                    )
                elif fb == primary or fb in chain[:j]:
                    problems.append(
                        p(("contenders", i, "fallbacks", j), f"endpoint {fb!r} appears twice in the chain")
                    )
    for i, entry in enumerate(_raw_list(data, "faults")):
        target = entry.get("target")
        known = [*ep_names, *ct_names, EACH_CONTENDER]
        if isinstance(target, str) and target not in known:
            problems.append(
                p(
                    ("faults", i, "target"),
                    f"unknown endpoint or contender {target!r}{_near(target, known)} (or {EACH_CONTENDER}: "
                    "every contender at once, each on its own path to its primary)",
                )
            )
        fault = entry.get("fault")
        if isinstance(fault, str) and _is_name(fault):  # a bad name is the schema's problem
            found = find_fault(fault, path, env)
            if isinstance(found, str):
                problems.append(p(("faults", i, "fault"), found))
    decision = data.get("decision") if isinstance(data, dict) else None
    gates = decision.get("gates") if isinstance(decision, dict) else None
    slo = data.get("slo") if isinstance(data, dict) else None
    for i, gate in enumerate(gates if isinstance(gates, list) else []):
        if gate in ("ttft", "ttfot", "tpot", "e2e") and not (
            isinstance(slo, dict) and slo.get(gate) is not None
        ):
            problems.append(
                p(("decision", "gates", i), f"{gate} is a must-pass gate but slo.{gate} sets no threshold")
            )
    prompts = data.get("prompts") if isinstance(data, dict) else None
    if isinstance(prompts, str) and not (base_dir / prompts).is_file():
        problems.append(
            p(
                ("prompts",),
                f"file not found: {display_path(base_dir / prompts)}{_builtin_prompts_hint(prompts)}",
            )
        )
    return problems


def _near(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _builtin_prompts_hint(prompts: str) -> str:
    try:
        folder = builtin_dir("prompts")
    except ConfigError:
        return ""
    if (folder / Path(prompts).name).is_file():
        return f" (bakeoff's own {Path(prompts).name} is {display_path(folder / Path(prompts).name)})"
    return ""


def _warnings(located: Located) -> list[str]:
    """What validates but is probably not what the author meant, as ``file:line: warning: field: …``."""
    data = located.data
    out: list[str] = []
    for path, value in duration_values(Scenario, data):
        if isinstance(value, int | float) and not isinstance(value, bool) and value != 0:
            out.append(
                warning(
                    located,
                    path,
                    f"bare number {value!r} is read as {value:g} seconds; write {value:g}ms or {value:g}s "
                    "to say which",
                )
            )
    used = _used_endpoints(data)
    for i, ep in enumerate(_raw_list(data, "endpoints")):
        base_url = ep.get("base_url")
        if (
            ep.get("dialect") == "anthropic-messages"
            and isinstance(base_url, str)
            and base_url.rstrip("/").endswith("/v1")
        ):
            out.append(
                warning(
                    located,
                    ("endpoints", i, "base_url"),
                    f"ends in /v1, but the anthropic-messages dialect adds /v1/messages itself: requests "
                    f"would go to {base_url.rstrip('/')}/v1/messages (404); drop the /v1",
                )
            )
        cache = ep.get("cache")
        dialect = ep.get("dialect")
        asks = isinstance(cache, dict) and cache.get("breakpoints", "system") != "none"
        if asks and isinstance(dialect, str) and dialect in DIALECT_NAMES and dialect != "anthropic-messages":
            out.append(
                warning(
                    located,
                    ("endpoints", i, "cache"),
                    f"{dialect} marks no cache breakpoints: the vendor caches prompts of 1,024 tokens or "
                    "more by itself, so this sends nothing (only anthropic-messages asks for caching)",
                )
            )
    unused = [
        (i, ep["name"])
        for i, ep in enumerate(_raw_list(data, "endpoints"))
        if isinstance(ep.get("name"), str) and ep["name"] not in used
    ]
    if unused:
        names = ", ".join(repr(name) for _, name in unused)
        it = "it" if len(unused) == 1 else "them"
        out.append(
            warning(
                located,
                ("endpoints", unused[0][0], "name"),
                f"no contender uses endpoint{'s' if len(unused) > 1 else ''} {names}: a run does not "
                f"start, probe or load {it} (nor needs {'its key' if len(unused) == 1 else 'their keys'})",
            )
        )
    for i, entry in enumerate(_raw_list(data, "faults")):
        fault = entry.get("fault")
        if isinstance(fault, dict) and "after_tokens" in fault:
            out.append(warning(located, ("faults", i, "fault", "after_tokens"), AFTER_TOKENS_RENAMED))
    return out


def warning(located: Located, path: PathKey, message: str) -> str:
    """``file:line: warning: field: message`` (the compiler convention, so editors jump to the line)."""
    field = format_path(path)
    return f"{located.file}:{located.line_of(path)}: warning: {field + ': ' if field else ''}{message}"


def fault_fit_warnings(resolved: ResolvedScenario) -> list[str]:
    """Faults that start at or after the end of the load, or last beyond it (e.g. after ``--duration``)."""
    duration = resolved.scenario.load.duration
    shortened = (
        f" (shortened from {resolved.scenario_duration_s:g} s)"
        if resolved.scenario_duration_s is not None and resolved.scenario_duration_s != duration
        else ""
    )
    out: list[str] = []
    for f in resolved.faults:
        at, length = f.entry.at, f.entry.duration
        where = f"{f.origin}: warning: " if f.origin else "warning: "
        if at >= duration:
            out.append(
                f"{where}fault {f.fault_id} starts at {at:g} s, but the run lasts {duration:g} s{shortened}: "
                "it will not be applied"
            )
        elif length is not None and at + length > duration:
            out.append(
                f"{where}fault {f.fault_id} runs {at:g}–{at + length:g} s, but the run lasts {duration:g} s"
                f"{shortened}: it is removed when the run ends, {at + length - duration:g} s early"
            )
    return out


def load_scenario(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    require_keys: bool = True,
    lint: bool = False,
) -> ResolvedScenario:
    """Validate a scenario file and everything it references. Raises ``ConfigError`` listing every problem.

    ``require_keys``: endpoints with a ``base_url`` must name their key variable, and the variables of
    endpoints a contender uses must be set. ``lint`` keeps the first rule and drops the second, so a
    scenario can be checked where its secrets are not (CI). Warnings (``ResolvedScenario.warnings``,
    ``ConfigError.warnings``) never fail the load.
    """
    env = os.environ if environ is None else environ
    path = Path(path)
    located = load_yaml_located(path)
    if not isinstance(located.data, dict):
        raise ConfigError([f"{located.file}:1: a scenario must be a mapping of keys to values"])
    base_dir = path.resolve().parent
    scenario, problems = validate_located(Scenario, located)
    references = _reference_problems(located, env, require_keys and not lint, path)
    explained = {": ".join(line.split(": ", 2)[:2]) for line in references}
    problems = [line for line in problems if line.split(": unknown key")[0] not in explained]
    problems = _merge(problems, references)
    warnings = _warnings(located)
    if scenario is None:
        raise ConfigError(problems, warnings=warnings)
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

    # prompts (a missing file is already reported)
    prompts_path = (base_dir / scenario.prompts).resolve()
    prompts = PromptSet.from_items(())
    sha = ""
    if prompts_path.is_file():
        prompts, sha, prompt_problems = load_prompts(prompts_path)
        problems.extend(prompt_problems)
    if scenario.prompt_limit:
        prompts = prompts[: scenario.prompt_limit]
    if scenario.load.history == "recorded" and not _prompt_problems_seen(problems, prompts_path):
        problems.extend(_recorded_history_problems(prompts, prompts_path))
    if scenario.load.search is not None:
        session = next((i for i in range(len(prompts)) if prompts.is_session(i)), None)
        if session is not None:
            problems.append(
                p(
                    ("load", "search"),
                    f"an adaptive search steps the rate of single requests; {display_path(prompts_path)} "
                    f"line {prompts.line_number(session)} is a multi-turn session (use load.sweep)",
                )
            )

    # fault timeline (unknown targets and library names are already reported)
    faults: list[ResolvedFault] = []
    for i, entry in enumerate(scenario.faults):
        where = ("faults", i)
        resolved_target = target_paths(entry.target, scenario.endpoints, scenario.contenders)
        if resolved_target is None:  # reported with the references
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
            found = find_fault(entry.fault, path, env)
            if isinstance(found, str):  # reported with the references
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
            fault_located = load_yaml_located(found)
            if isinstance(fault_located.data, dict) and "after_tokens" in fault_located.data:
                warnings.append(warning(fault_located, ("after_tokens",), AFTER_TOKENS_RENAMED))
        origin = f"{located.file}:{located.line_of(where)}"
        faults.append(
            ResolvedFault(f"f{i + 1}-{name}", name, entry, spec, description, endpoints, paths, scope, origin)
        )

    if problems:
        raise ConfigError(_merge(problems), warnings=warnings)
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
        warnings=tuple(dict.fromkeys(warnings)),
    )


def _prompt_problems_seen(problems: list[str], prompts_path: Path) -> bool:
    """Whether the prompt file already has problems (then its sessions are not checked further)."""
    shown = display_path(prompts_path)
    return any(p.startswith(f"{shown}:") for p in problems)


def _recorded_history_problems(prompts: PromptSet, prompts_path: Path, most: int = 20) -> list[str]:
    """``file:line: turns: ...`` for every session lacking a recorded reply that ``history: recorded``
    would send (only lines that mention ``turns`` are parsed)."""
    shown = display_path(prompts_path)
    out: list[str] = []
    for i in range(len(prompts)):
        if not prompts.is_session(i):
            continue
        missing = missing_replies(prompts[i])
        if missing:
            line = prompts.line_number(i)
            where = f"{shown}:{line}" if line is not None else shown
            out.append(
                f"{where}: turns: load.history is recorded, but turn(s) {', '.join(map(str, missing))} of "
                f"session {prompts[i].id!r} have no recorded reply (assistant)"
            )
            if len(out) >= most:
                break
    return out


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
