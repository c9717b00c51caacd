"""Probe results, the ``probes.jsonl`` file in the run folder, and the scorecard scores derived from it.

``probes.jsonl`` holds one JSON object per line, one line per (endpoint, probe)::

    run_id      str          the run (empty for a stand-alone ``bakeoff probe`` without --out run id)
    endpoint    str          endpoint name from the scenario
    dialect     str          openai-chat | anthropic-messages | azure-openai
    probe       str          one of PROBES (bad_key, malformed_json, ..., tls, error_latency)
    layer       str          "Security" | "Observability" | "Model Serving"
    passed      bool | null  true / false; null = not applicable or skipped (``observed`` says which)
    expected    str          what a well-behaved vendor does, in words
    observed    str          what happened (short, terminal-safe, secrets redacted)
    status      int | null   HTTP status of the probe's request, when it got one
    latency_s   float | null dispatch to end of the answer (TLS: handshake), seconds
    detail      str          extra evidence (terminal-safe, redacted)
    t_s         float        when the probe ran, on the run clock (or the probe clock)

Each probe sends at most one request; several probes read the same valid answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "PROBES",
    "PROBES_FILE",
    "PROBE_LAYERS",
    "ProbeResult",
    "ProbeSpec",
    "probe_scores",
    "read_probes",
    "write_probes",
]

PROBES_FILE = "probes.jsonl"
ProbeLayer = Literal["Security", "Observability", "Model Serving"]
PROBE_LAYERS: tuple[str, ...] = ("Security", "Observability", "Model Serving")


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """What one probe checks: its scorecard layer and the expected behaviour in words."""

    name: str
    layer: ProbeLayer
    expected: str


PROBES: dict[str, ProbeSpec] = {
    p.name: p
    for p in (
        ProbeSpec("bad_key", "Security", "a wrong API key is refused with 401/403 (not 200, not 5xx)"),
        ProbeSpec("malformed_json", "Security", "broken JSON gets a prompt 4xx with a parseable error body"),
        ProbeSpec(
            "invalid_params",
            "Security",
            "max_tokens=-1, temperature=99 get a prompt 4xx with a parseable error body",
        ),
        ProbeSpec(
            "overlong_context",
            "Security",
            "a prompt longer than any context window gets a prompt 4xx with a parseable error body",
        ),
        ProbeSpec("error_latency", "Security", "every error answer arrives promptly"),
        ProbeSpec("tls", "Security", "HTTPS with TLS 1.2+ and a certificate valid for the vendor host"),
        ProbeSpec(
            "unknown_model",
            "Model Serving",
            "an unknown model gets a prompt 4xx with a parseable error body",
        ),
        ProbeSpec("max_tokens", "Model Serving", "the answer stops within max_tokens"),
        ProbeSpec("stream_terminal", "Model Serving", "a stream ends with the dialect's terminal event"),
        ProbeSpec("usage_reported", "Observability", "the answer reports token usage"),
        ProbeSpec(
            "request_id",
            "Observability",
            "every answer, errors included, carries a request id header",
        ),
        ProbeSpec("ratelimit_headers", "Observability", "the answer carries rate-limit headers"),
        ProbeSpec("error_bodies", "Observability", "every error answer has a parseable body with a message"),
    )
}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The verdict of one probe on one endpoint (``passed`` None = not applicable or skipped)."""

    endpoint: str
    probe: str
    passed: bool | None
    expected: str
    observed: str
    status: int | None = None
    latency_s: float | None = None
    layer: str = "Security"
    detail: str = ""
    run_id: str = ""
    dialect: str = ""
    t_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProbeResult:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def verdict(self) -> str:
        """``pass`` / ``FAIL`` / ``n/a``."""
        return "n/a" if self.passed is None else "pass" if self.passed else "FAIL"


def write_probes(run_dir: Path, results: Iterable[ProbeResult]) -> Path:
    """Write ``probes.jsonl`` in ``run_dir`` (replacing any earlier one). Returns its path."""
    path = run_dir / PROBES_FILE
    tmp = run_dir / (PROBES_FILE + ".tmp")
    lines = [json.dumps(r.to_dict(), ensure_ascii=False, allow_nan=False) + "\n" for r in results]
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.replace(path)
    return path


def read_probes(run_dir: Path) -> list[ProbeResult]:
    """Results from ``probes.jsonl`` (empty when the run did no probes); unreadable lines are skipped."""
    path = run_dir / PROBES_FILE
    if not path.exists():
        return []
    out: list[ProbeResult] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and "endpoint" in data and "probe" in data:
            out.append(ProbeResult.from_dict(data))
    return out


# scorecard criterion -> probes it scores (share passed x 5)
_CRITERIA: dict[str, tuple[str, tuple[str, ...]]] = {
    "bad_key_rejection": ("security", ("bad_key",)),
    "malformed_input_handling": (
        "security",
        ("malformed_json", "invalid_params", "overlong_context", "error_latency"),
    ),
    "tls": ("security", ("tls",)),
    "error_bodies": ("observability", ("error_bodies",)),
    "stream_conformance": ("model_serving", ("unknown_model", "max_tokens", "stream_terminal")),
}


def probe_scores(
    results: Iterable[ProbeResult],
) -> dict[str, dict[str, tuple[str, float, str]]]:
    """Scorecard scores per endpoint: ``{endpoint: {criterion: (layer, score 0-5, reason)}}``.

    ``layer`` uses the scorecard's keys (``security``, ``observability``, ``model_serving``). A criterion
    scores ``5 x share of its applicable probes that passed``; the reason names the failed ones. Criteria
    whose probes were all not applicable are left out (the scorecard shows them as not measured).
    """
    by_ep: dict[str, dict[str, ProbeResult]] = {}
    for r in results:
        by_ep.setdefault(r.endpoint, {})[r.probe] = r
    out: dict[str, dict[str, tuple[str, float, str]]] = {}
    for ep, probes in by_ep.items():
        scores: dict[str, tuple[str, float, str]] = {}
        for criterion, (layer, names) in _CRITERIA.items():
            applicable = [probes[n] for n in names if n in probes and probes[n].passed is not None]
            if not applicable:
                continue
            ok = [r for r in applicable if r.passed]
            failed = [r for r in applicable if not r.passed]
            score = round(5.0 * len(ok) / len(applicable), 1)
            if failed:
                reason = "; ".join(f"{r.probe}: {r.observed}" for r in failed)
            else:
                reason = f"{len(ok)}/{len(applicable)} probes passed ({', '.join(r.probe for r in ok)})"
            scores[criterion] = (layer, score, reason)
        out[ep] = scores
    return out
