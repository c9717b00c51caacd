"""The probes phase: conformance probes (bad key, malformed input, headers, TLS) before the load."""

from __future__ import annotations

from pathlib import Path

from harness.config import ResolvedScenario
from harness.load import SIM_API_KEY
from harness.run._stack import Stack

__all__ = ["probe_endpoints"]


def probe_endpoints(
    resolved: ResolvedScenario, stack: Stack, run_id: str, run_dir: Path, *, overlong: bool = True
) -> None:
    """Probe every endpoint of the running stack; results go to probes.jsonl for the scorecard.

    ``overlong=False`` skips the over-long prompt (its probe reads as not applicable)."""
    from harness.client import make_http_client
    from harness.probes import ProbeOptions, build_targets, run_probes, write_probes

    targets = build_targets(
        resolved.scenario.endpoints,
        base_urls=stack.base_urls,
        connect_to=stack.connect_to,
        api_keys=resolved.api_keys,
        prices=resolved.prices,
        sim_api_key=SIM_API_KEY,
    )
    with make_http_client(max_connections=8) as client:
        options = ProbeOptions() if overlong else ProbeOptions(skip=frozenset({"overlong_context"}))
        write_probes(run_dir, run_probes(targets, client, run_id=run_id, options=options))
