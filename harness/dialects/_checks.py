"""Checks of a scenario that need the dialects (the loader, in ``harness.config``, cannot import them).
Run by ``bakeoff validate`` and before a run."""

from __future__ import annotations

from harness.config import ResolvedScenario
from harness.dialects._common import ExtraBodyConflict
from harness.dialects._registry import get_dialect

__all__ = ["extra_body_problems"]

_MAX = 20


def extra_body_problems(resolved: ResolvedScenario) -> list[str]:
    """``file:line: extra_body: ...`` for every prompt whose ``extra_body`` would overwrite a field an
    endpoint's dialect sets (the request is built as it will be sent). Only the lines that mention
    ``extra_body`` are parsed, so a large set without it costs one scan of its lines."""
    prompts = resolved.prompts
    endpoints = [ep for ep in resolved.scenario.endpoints if ep.name not in resolved.unused_endpoints()]
    shown = str(resolved.prompts_path)
    out: list[str] = []
    for i in range(len(prompts)):
        if b'"extra_body"' not in prompts.raw(i):
            continue
        prompt = prompts[i]
        for ep in endpoints:
            try:
                get_dialect(ep.dialect).build_request(
                    ep, prompt, base_url="http://127.0.0.1", api_key=None, stream=ep.stream
                )
            except ExtraBodyConflict as exc:
                line = prompts.line_number(i)
                where = f"{shown}:{line}" if line is not None else shown
                out.append(f"{where}: {exc.field}: endpoint {ep.name}: {exc.detail}")
                break
        if len(out) >= _MAX:
            out.append(f"{shown}: ... (stopped after {_MAX} prompts with conflicting extra_body)")
            break
    return out + _reasoning_problems(resolved)


def _reasoning_problems(resolved: ResolvedScenario) -> list[str]:
    """``file:line: max_tokens: ...`` for every prompt an anthropic-messages endpoint with ``reasoning``
    would be refused (Anthropic wants ``thinking.budget_tokens`` below ``max_tokens``, which counts the
    thinking as well); the prompt set is read only when such an endpoint exists."""
    unused = resolved.unused_endpoints()
    budgets = {
        ep.name: ep.reasoning.budget()
        for ep in resolved.scenario.endpoints
        if ep.reasoning is not None and ep.dialect == "anthropic-messages" and ep.name not in unused
    }
    if not budgets:
        return []
    prompts = resolved.prompts
    shown = str(resolved.prompts_path)
    out: list[str] = []
    for i in range(len(prompts)):
        prompt = prompts[i]
        for name, budget in budgets.items():
            if prompt.max_tokens <= budget:
                line = prompts.line_number(i)
                where = f"{shown}:{line}" if line is not None else shown
                out.append(
                    f"{where}: max_tokens: endpoint {name}: {prompt.max_tokens} must exceed "
                    f"reasoning.budget_tokens {budget} (Anthropic counts thinking in max_tokens)"
                )
                break
        if len(out) >= _MAX:
            out.append(f"{shown}: ... (stopped after {_MAX} prompts with max_tokens under the budget)")
            break
    return out
