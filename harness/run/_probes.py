"""The probes phase: conformance probes (bad key, malformed input, headers, TLS) before the load.

The probes run as a background task of the run's runtime; the phase waits for it and stops it the moment
a stop signal arrives (a vendor trickling bytes cannot hold the run), and the results known by then are
written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.config import ResolvedScenario
from harness.load import SIM_API_KEY
from harness.run._stack import Stack

__all__ = ["probe_endpoints"]


def probe_endpoints(
    resolved: ResolvedScenario,
    stack: Stack,
    run_id: str,
    run_dir: Path,
    *,
    spawn: Callable[..., Any],
    sleep: Callable[[float], None],
    stop: Callable[[], bool] = lambda: False,
    overlong: bool = False,
) -> bool:
    """Probe every endpoint of the running stack; results go to probes.jsonl for the scorecard.

    ``spawn``/``sleep`` are the run's runtime (``harness.load._runtime``); ``stop()`` true ends the
    phase at once. The over-long prompt goes to simulated endpoints, and to real ones only with
    ``overlong`` (a vendor may bill it); elsewhere its probe reads as not applicable.
    Returns whether every probe ran (False: stopped).
    """
    from harness.client import make_http_client
    from harness.probes import ProbeOptions, ProbeResult, build_targets, run_probes, write_probes

    targets = build_targets(
        resolved.scenario.endpoints,
        base_urls=stack.base_urls,
        connect_to=stack.endpoint_connect_to(),
        api_keys=resolved.api_keys,
        prices=resolved.prices,
        sim_api_key=SIM_API_KEY,
    )
    # the over-long prompt may be billed by a real vendor: simulated endpoints always get it, real ones
    # only when asked (``overlong``); elsewhere its probe reads as not applicable
    billable = {n: t for n, t in targets.items() if t.endpoint.sim is None and not overlong}
    free = {n: t for n, t in targets.items() if n not in billable}
    no_overlong = ProbeOptions(skip=frozenset({"overlong_context"}))
    results: list[ProbeResult] = []

    def probe_all() -> None:
        for group, options in ((free, ProbeOptions()), (billable, no_overlong)):
            if group:
                run_probes(group, client, run_id=run_id, options=options, on_result=results.append)

    with make_http_client(max_connections=8) as client:
        task = spawn(probe_all)
        try:
            while not task.done:
                if stop():
                    task.stop()
                    return False
                sleep(0.05)
            if task.error is not None:
                raise task.error
            return True
        finally:
            write_probes(run_dir, results)
