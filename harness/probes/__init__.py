"""Vendor conformance and security probes: does the endpoint refuse a wrong key, answer bad input with a
prompt, parseable 4xx, honour max_tokens, end its streams properly, tell its request id, usage and rate
limits, and speak TLS with a valid certificate?

Sans-I/O parts (:func:`build_probe_requests`, :func:`evaluate`) are separate from the runner
(:func:`run_probes`), which sends one request per probe on the run's shared httpx client::

    targets = build_targets(sc.endpoints, base_urls=..., connect_to=..., api_keys=..., prices=...,
                            sim_api_key=SIM_API_KEY)
    results = run_probes(targets, client, clock=clock, run_id=run_id)
    write_probes(run_dir, results)            # probes.jsonl, schema in harness.probes._result
    scores = probe_scores(read_probes(run_dir))  # {endpoint: {criterion: (layer, score, reason)}}

Probe text shown to people (``observed``, ``detail``) is redacted of the endpoint's key and
terminal-safe (:mod:`harness._text`). The bad-key probe sends :data:`INVALID_KEY`, never the real key.
"""

from __future__ import annotations

from harness.probes._evaluate import Exchange, TlsInfo, error_body_ok, evaluate, has_ratelimit_headers
from harness.probes._plan import (
    INVALID_KEY,
    REQUESTS,
    UNKNOWN_MODEL,
    ProbeOptions,
    ProbeRequest,
    build_probe_requests,
)
from harness.probes._result import (
    PROBE_LAYERS,
    PROBES,
    PROBES_FILE,
    ProbeResult,
    ProbeSpec,
    probe_scores,
    read_probes,
    write_probes,
)
from harness.probes._runner import build_targets, check_tls, run_probes

__all__ = [
    "INVALID_KEY",
    "PROBES",
    "PROBES_FILE",
    "PROBE_LAYERS",
    "REQUESTS",
    "UNKNOWN_MODEL",
    "Exchange",
    "ProbeOptions",
    "ProbeRequest",
    "ProbeResult",
    "ProbeSpec",
    "TlsInfo",
    "build_probe_requests",
    "build_targets",
    "check_tls",
    "error_body_ok",
    "evaluate",
    "has_ratelimit_headers",
    "probe_scores",
    "read_probes",
    "run_probes",
    "write_probes",
]
