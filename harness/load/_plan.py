"""What a load process needs to send requests, in a form that crosses process boundaries.

The master (or the single local process) builds one ``RunPlan``; distributed workers receive it over
Locust's message channel (msgpack: plain types only). It never carries secrets: each process reads API
keys from its own environment by the variable names in the scenario.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.config import Price, PromptItem, ResolvedScenario, Scenario
from harness.load._schedule import ScheduledRequest, build_schedule

__all__ = ["SIM_API_KEY", "RunPlan", "api_keys_from_env"]

SIM_API_KEY = "bakeoff-simulated-vendor"
"""What the harness sends to simulated vendors (they accept any non-empty key): not a secret."""


@dataclass
class RunPlan:
    run_id: str
    seed: int
    scenario: dict[str, Any]
    prompts: list[dict[str, Any]]
    prices: dict[str, dict[str, Any]]
    base_urls: dict[str, str]
    connect_to: dict[str, list[Any]]  # endpoint -> [host, port]
    t0_epoch: float = 0.0  # wall-clock time of run clock zero
    index: int = 0  # this process's share: requests with seq % of == index
    of: int = 1
    active_http_faults: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_resolved(
        cls,
        resolved: ResolvedScenario,
        *,
        run_id: str,
        base_urls: Mapping[str, str],
        connect_to: Mapping[str, tuple[str, int]],
    ) -> RunPlan:
        return cls(
            run_id=run_id,
            seed=resolved.scenario.seed,
            scenario=resolved.scenario.model_dump(mode="json", by_alias=True),
            prompts=[p.model_dump(mode="json", by_alias=True, exclude_none=True) for p in resolved.prompts],
            prices={k: v.model_dump(mode="json") for k, v in resolved.prices.items()},
            base_urls=dict(base_urls),
            connect_to={k: [h, p] for k, (h, p) in connect_to.items()},
        )

    def to_message(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_message(cls, data: Mapping[str, Any]) -> RunPlan:
        return cls(**dict(data))

    def parsed_scenario(self) -> Scenario:
        return Scenario.model_validate(self.scenario)

    def parsed_prompts(self) -> list[PromptItem]:
        return [PromptItem.model_validate(p) for p in self.prompts]

    def share(self) -> list[ScheduledRequest]:
        """This process's part of the (identical-for-every-contender) open-model schedule."""
        sc = self.parsed_scenario()
        if sc.load.model == "closed":
            return []
        full = build_schedule(sc.load, len(self.prompts), self.seed)
        return [r for r in full if r.seq % self.of == self.index]

    def build_routers(
        self,
        http_client: Any,
        *,
        clock: Callable[[], float],
        faults: Any,
        sleep: Callable[[float], None],
        api_keys: Mapping[str, str],
    ) -> dict[str, Any]:
        """One Router per contender, over Targets that dial the proxy and keep the vendor's name."""
        from harness.client import Router, Target

        sc = self.parsed_scenario()
        warm_up()
        targets = {
            ep.name: Target(
                endpoint=ep,
                base_url=self.base_urls[ep.name],
                connect_to=(str(self.connect_to[ep.name][0]), int(self.connect_to[ep.name][1]))
                if ep.name in self.connect_to
                else None,
                api_key=api_keys.get(ep.name, SIM_API_KEY if ep.sim is not None else None),
                price=Price.model_validate(self.prices[ep.name]),
            )
            for ep in sc.endpoints
        }
        return {
            c.name: Router(
                c,
                {n: targets[n] for n in (c.primary, *c.fallbacks)},
                http_client,
                clock=clock,
                run_id=self.run_id,
                faults=faults,
                sleep=sleep,
            )
            for c in sc.contenders
        }


def api_keys_from_env(scenario: Scenario, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Keys by endpoint, read from this process's environment by the names the scenario gives."""
    env = os.environ if environ is None else environ
    return {
        ep.name: env[ep.api_key_env]
        for ep in scenario.endpoints
        if ep.api_key_env is not None and env.get(ep.api_key_env)
    }


def warm_up() -> None:
    """Load what the hot path loads lazily (tokenizer vocabulary, JSON-schema validator) before the run
    clock starts: a first-use stall of a few hundred ms would otherwise show up as schedule lag."""
    from harness.client import evaluate_check
    from harness.config import Check
    from harness.tokens import count_tokens

    count_tokens("warm up the tokenizer")
    evaluate_check(Check(json_schema={"type": "object"}), "{}")
    evaluate_check(Check(regex="^w"), "warm")
