"""What a load process needs to send requests: validated once, and in a form that crosses processes.

The master (or the single local process) builds one ``RunPlan`` from the resolved scenario and the
schedule it built once. A local execution uses it as it is; distributed workers receive their share over
Locust's message channel (msgpack: plain types only, ``to_message``) and validate it once on arrival
(``from_message``). It never carries secrets: each process reads API keys from its own environment by the
variable names in the scenario.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from harness._errors import ConfigError
from harness.config import Price, PromptItem, PromptSet, Scenario, api_key_problem, as_prompt_set, path_key
from harness.load._schedule import ScheduledRequest

__all__ = ["SIM_API_KEY", "RunPlan", "api_keys_from_env", "warm_up"]

SIM_API_KEY = "bakeoff-simulated-vendor"
"""What the harness sends to simulated vendors (they accept any non-empty key): not a secret."""


@dataclass(frozen=True)
class RunPlan:
    """One run's load, typed. ``schedule`` is this process's share of the open-model schedule (every
    contender gets the same one; empty for the closed model)."""

    run_id: str
    scenario: Scenario
    prompts: Sequence[PromptItem]
    prices: Mapping[str, Price]
    base_urls: Mapping[str, str]
    connect_to: Mapping[str, tuple[str, int]]  # path "<contender>@<endpoint>" -> proxy address to dial
    schedule: Sequence[ScheduledRequest] = ()
    index: int = 0  # this process's share: requests with seq % of == index
    of: int = 1
    active_http_faults: Sequence[Mapping[str, Any]] = field(default_factory=tuple)

    @property
    def seed(self) -> int:
        return self.scenario.seed

    def share(self, index: int, of: int, **update: Any) -> RunPlan:
        """The plan of worker ``index`` of ``of``: requests with ``seq % of == index``."""
        part = tuple(r for r in self.schedule if r.seq % of == index)
        return replace(self, schedule=part, index=index, of=of, **update)

    def to_message(self) -> dict[str, Any]:
        """Plain types for Locust's message channel."""
        return {
            "run_id": self.run_id,
            "scenario": self.scenario.model_dump(mode="json", by_alias=True),
            "prompts": self._prompts_message(),
            "prices": {k: v.model_dump(mode="json") for k, v in self.prices.items()},
            "base_urls": dict(self.base_urls),
            "connect_to": {k: [h, p] for k, (h, p) in self.connect_to.items()},
            "schedule": [[r.seq, r.t_intended, r.prompt_index] for r in self.schedule],
            "index": self.index,
            "of": self.of,
            "active_http_faults": [dict(f) for f in self.active_http_faults],
        }

    @classmethod
    def from_message(cls, data: Mapping[str, Any]) -> RunPlan:
        """Validate a plan received from the master (the one validation a worker does)."""
        return cls(
            run_id=str(data["run_id"]),
            scenario=Scenario.model_validate(data["scenario"]),
            prompts=PromptSet.from_lines(
                int(data["prompts"]["count"]),
                {int(i): str(line).encode("utf-8") for i, line in data["prompts"]["lines"]},
            ),
            prices={k: Price.model_validate(v) for k, v in data["prices"].items()},
            base_urls=dict(data["base_urls"]),
            connect_to={k: (str(v[0]), int(v[1])) for k, v in data["connect_to"].items()},
            schedule=tuple(ScheduledRequest(int(s), float(t), int(i)) for s, t, i in data["schedule"]),
            index=int(data["index"]),
            of=int(data["of"]),
            active_http_faults=tuple(data.get("active_http_faults") or ()),
        )

    def _prompts_message(self) -> dict[str, Any]:
        """The prompts this share uses, as their JSON lines (validated by the master; parsed by the worker
        when used): the open model sends only those its schedule names, the closed model every one."""
        prompts = as_prompt_set(self.prompts)
        used = sorted({r.prompt_index for r in self.schedule}) if self.scenario.load.model == "open" else None
        lines = prompts.lines(used)
        return {"count": len(prompts), "lines": [[i, line.decode("utf-8")] for i, line in lines.items()]}

    def build_routers(
        self,
        http_client: Any,
        *,
        clock: Callable[[], float],
        faults: Any,
        sleep: Callable[[float], None],
        api_keys: Mapping[str, str],
    ) -> dict[str, Any]:
        """One Router per contender, over Targets that dial the contender's own proxy path to each endpoint
        of its chain (``connect_to["alpha@alpha-fast"]``) and keep the vendor's name."""
        from harness.client import Router, Target

        sc = self.scenario
        warm_up()
        endpoints = {ep.name: ep for ep in sc.endpoints}

        def target(contender: str, name: str) -> Target:
            ep = endpoints[name]
            return Target(
                endpoint=ep,
                base_url=self.base_urls[name],
                connect_to=self.connect_to.get(path_key(contender, name)),
                api_key=api_keys.get(name, SIM_API_KEY if ep.sim is not None else None),
                price=self.prices[name],
            )

        return {
            c.name: Router(
                c,
                {n: target(c.name, n) for n in (c.primary, *c.fallbacks)},
                http_client,
                clock=clock,
                run_id=self.run_id,
                faults=faults,
                sleep=sleep,
            )
            for c in sc.contenders
        }


def api_keys_from_env(scenario: Scenario, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Keys by endpoint, read from this process's environment by the names the scenario gives.

    ``ConfigError`` (naming the variable, never the key) when a key could not travel in a header: a
    remote worker's environment is not the one ``bakeoff validate`` checked.
    """
    env = os.environ if environ is None else environ
    keys: dict[str, str] = {}
    problems: list[str] = []
    for ep in scenario.endpoints:
        value = env.get(ep.api_key_env) if ep.api_key_env is not None else None
        if not value:
            continue
        problem = api_key_problem(value)
        if problem:
            problems.append(f"endpoint {ep.name}: environment variable {ep.api_key_env}: {problem}")
        else:
            keys[ep.name] = value
    if problems:
        raise ConfigError(problems)
    return keys


def warm_up() -> None:
    """Load what the hot path loads lazily (tokenizer vocabulary, JSON-schema validator) before the run
    clock starts: a first-use stall of a few hundred ms would otherwise show up as schedule lag."""
    from harness.client import evaluate_check
    from harness.config import Check
    from harness.tokens import count_tokens

    count_tokens("warm up the tokenizer")
    evaluate_check(Check(json_schema={"type": "object"}), "{}")
    evaluate_check(Check(regex="^w"), "warm")
