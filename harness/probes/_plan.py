"""The probe requests of one endpoint, built with the endpoint's own dialect (no I/O).

One valid answer request (read by several probes) and one request per error probe. Every request is
small except ``overlong_context`` (``ProbeOptions.overlong_tokens`` one-token words, ~2 bytes each).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from harness.config import Endpoint, PromptItem
from harness.dialects import HttpRequest, get_dialect

__all__ = ["INVALID_KEY", "REQUESTS", "UNKNOWN_MODEL", "ProbeOptions", "ProbeRequest", "build_probe_requests"]

INVALID_KEY = "bakeoff-probe-invalid-key"
"""What the bad-key probe sends instead of the real key (never the real one)."""
UNKNOWN_MODEL = "bakeoff-probe-no-such-model"

REQUESTS: tuple[str, ...] = (
    "answer",
    "bad_key",
    "malformed_json",
    "unknown_model",
    "invalid_params",
    "overlong_context",
)
"""Request names, in the order they are sent. ``tls`` is a handshake, not a request."""


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    """Bounds and sizes of the probes. Every request has its own time limit; none is retried.

    ``overlong_tokens`` is the length of the over-long prompt (default beyond every context window on
    offer, ~4 MB of text; 0 skips that probe). ``skip`` names requests (see ``REQUESTS``) or ``tls``
    not to send; the probes that read them come back as not applicable.
    """

    timeout_s: float = 10.0
    answer_timeout_s: float = 30.0
    prompt_error_s: float = 5.0
    max_tokens: int = 8
    overlong_tokens: int = 2_100_000
    invalid_key: str = INVALID_KEY
    skip: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    """One request to send: ``stream`` says whether to read it as a stream."""

    name: str
    request: HttpRequest = field(repr=False)
    stream: bool
    timeout_s: float


_COUNT = "Count from 1 to 500, one number per line, and nothing else."


def _prompt(text: str, max_tokens: int) -> PromptItem:
    return PromptItem.model_validate(
        {"id": "probe", "messages": [{"role": "user", "content": text}], "max_tokens": max_tokens}
    )


def build_probe_requests(
    endpoint: Endpoint, *, base_url: str, api_key: str | None, options: ProbeOptions | None = None
) -> list[ProbeRequest]:
    """Every probe request for ``endpoint`` (minus ``options.skip``), in sending order.

    The real ``api_key`` goes into every request except ``bad_key``, which carries
    ``options.invalid_key``. Requests hold secrets in their headers: never log them.
    """
    o = options or ProbeOptions()
    d = get_dialect(endpoint.dialect)
    out: list[ProbeRequest] = []

    def add(name: str, req: HttpRequest, stream: bool, timeout_s: float) -> None:
        if name not in o.skip:
            out.append(ProbeRequest(name, req, stream, timeout_s))

    short = _prompt("Say OK.", 1)
    add(
        "answer",
        d.build_request(
            endpoint,
            _prompt(_COUNT, o.max_tokens),
            base_url=base_url,
            api_key=api_key,
            stream=endpoint.stream,
        ),
        endpoint.stream,
        o.answer_timeout_s,
    )
    add(
        "bad_key",
        d.build_request(endpoint, short, base_url=base_url, api_key=o.invalid_key, stream=False),
        False,
        o.timeout_s,
    )
    valid = d.build_request(endpoint, short, base_url=base_url, api_key=api_key, stream=False)
    cut = valid.body[: max(1, len(valid.body) // 2)]  # a JSON document cut in half
    add("malformed_json", HttpRequest(valid.method, valid.url, dict(valid.headers), cut), False, o.timeout_s)
    unknown = endpoint.model_copy(update={"model": UNKNOWN_MODEL})
    add(
        "unknown_model",
        d.build_request(unknown, short, base_url=base_url, api_key=api_key, stream=False),
        False,
        o.timeout_s,
    )
    body = json.loads(valid.body)
    gen = body.get("generationConfig")
    if isinstance(gen, dict):  # Gemini keeps its sampling parameters apart
        gen["maxOutputTokens"] = -1
        gen["temperature"] = 99
    else:
        for key in ("max_tokens", "max_completion_tokens"):
            if key in body:
                body[key] = -1
        body["temperature"] = 99
    invalid = json.dumps(body, separators=(",", ":")).encode()
    add(
        "invalid_params",
        HttpRequest(valid.method, valid.url, dict(valid.headers), invalid),
        False,
        o.timeout_s,
    )
    if o.overlong_tokens > 0:
        long_prompt = _prompt("a " * o.overlong_tokens, 1)
        add(
            "overlong_context",
            d.build_request(endpoint, long_prompt, base_url=base_url, api_key=api_key, stream=False),
            False,
            o.timeout_s,
        )
    return out
