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
    return out
