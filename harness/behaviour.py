"""The behaviour model of the simulated vendors: one per endpoint (units in every name).

It is shared by :mod:`harness.config` (a scenario's ``sim_profiles``) and :mod:`harness.sim` (the
simulator's config file), and imports neither, so validating a scenario never loads the simulator or
its HTTP server. A simulator config file is YAML::

    seed: 7
    endpoints:
      - name: vendor-a
        dialect: openai-chat          # or anthropic-messages, azure-openai, gemini
        model: gpt-sim-large
        api_key: sk-test              # omit to accept any non-empty key
        behaviour: fast               # a preset name, or a mapping of SimBehaviour fields
      - name: vendor-b
        dialect: anthropic-messages
        model: claude-sim
        behaviour: {ttft_ms: 400, tokens_per_s: 50, capacity: 8, overload_status: 529,
                    error_rates: {500: 0.01}, midstream_close_rate: 0.02,
                    max_context_tokens: 200000}
      - name: vendor-c                # a vendor that tells the client little
        dialect: openai-chat
        model: gpt-sim-small
        behaviour: {send_ratelimit_headers: false, send_request_id: false}
      - name: vendor-d                # an o-series-like model: thinks 800 tokens before every answer,
        dialect: openai-chat          # counted in usage, never streamed (native OpenAI)
        model: o-sim
        behaviour: {always_reason: true, reasoning_tokens: 800}

Realism by default: a context window of 128,000 tokens (``max_context_tokens``; the presets keep a
realistic one, 128k or 200k; ``null`` turns it off), the dialect's rate-limit headers on every answer
(nominal limits, counted but never enforced, when ``rpm_limit`` / ``tpm_limit`` are not set) and its
request-id header. Turn ``send_ratelimit_headers`` / ``send_request_id`` off to play a vendor with poor
observability; ``bakeoff probe`` then fails its ratelimit_headers / request_id probes.

Reasoning: an endpoint thinks ``reasoning_tokens`` (scaled by the requested effort, capped by the
budget and ``max_tokens``) when the request asks for it (OpenAI ``reasoning_effort``, Anthropic
``thinking``, Gemini ``thinkingConfig``) or ``always_reason`` is set, and streams the thinking in its
dialect's form (see ``reasoning_text``); the answer text is the same with or without it.

Determinism: the same seed and prompt give the same answer text and the same usage. Timing, error and
failure draws come from one stream per endpoint seeded by ``seed`` and the endpoint name, consumed in
arrival order (so a sequential client sees the same draws on every run).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from harness._model import Name, UserModel
from harness._vocab import DialectName

__all__ = ["ERROR_STATUSES", "PRESETS", "Persona", "SimBehaviour", "SimConfig", "SimEndpoint"]

Persona = Literal["native", "vllm", "tgi", "litellm"]
"""How an openai-chat endpoint answers: natively, or like an OpenAI-compatible server with its quirks."""

ERROR_STATUSES: frozenset[int] = frozenset({400, 408, 409, 429, 500, 502, 503, 504, 529})
"""Statuses the background error model may answer with (``SimBehaviour.error_rates`` keys)."""


class SimBehaviour(UserModel):
    """How one simulated endpoint behaves. Every rate is a probability per request in [0, 1]."""

    # --- latency and decode speed -------------------------------------------------------------
    ttft_ms: float = Field(300.0, ge=0, description="median time to first token after admission, ms")
    ttft_jitter_ms: float = Field(
        30.0, ge=0, description="standard deviation of TTFT, ms (normal, clipped at 0)"
    )
    prefill_ms_per_1k_tokens: float = Field(
        0.0, ge=0, description="extra TTFT per 1,000 prompt tokens, ms (long prompts start later)"
    )
    tokens_per_s: float = Field(60.0, gt=0, description="decode speed per stream, tokens/s")
    token_jitter_frac: float = Field(
        0.1, ge=0, le=1, description="relative standard deviation of each chunk gap (normal, clipped at 0)"
    )
    tokens_per_chunk: int = Field(1, ge=1, description="tokens per SSE chunk")
    # --- output length ------------------------------------------------------------------------
    output_tokens_default: int = Field(
        64, ge=1, description="answer length when max_tokens allows it, tokens"
    )
    output_tokens_jitter_frac: float = Field(
        0.0, ge=0, le=1, description="relative spread of the answer length, drawn per prompt (uniform ±)"
    )
    # --- reasoning (thinking before the answer) -----------------------------------------------
    reasoning_tokens: int = Field(
        512,
        ge=0,
        description="thinking tokens of an answer to a request that asks for reasoning (OpenAI "
        "reasoning_effort, Anthropic thinking, Gemini thinkingConfig) at medium effort; minimal ×0.25, low "
        "×0.5, high ×2; capped by the request's budget and by max_tokens − 1 (thinking counts against it)",
    )
    always_reason: bool = Field(
        False, description="think before every answer, asked or not (an o-series-like reasoning model)"
    )
    reasoning_tokens_per_s: float | None = Field(
        None, gt=0, description="thinking speed, tokens/s; None: tokens_per_s"
    )
    reasoning_text: Literal["auto", "streamed", "hidden"] = Field(
        "auto",
        description="whether the thinking text is sent: auto = as the dialect does (Anthropic thinking "
        "blocks with a signature, Gemini thought parts, vLLM-style reasoning_content for the openai-chat "
        "vllm persona; native OpenAI and Azure send none, the first token only comes later); streamed: "
        "always (an openai-chat endpoint then sends reasoning_content, as DeepSeek and vLLM do); hidden: "
        "never. The reasoning tokens are counted in usage either way",
    )
    # --- context window -----------------------------------------------------------------------
    max_context_tokens: int | None = Field(
        128_000,
        ge=1,
        description="context window, tokens: a request whose prompt tokens + max_tokens exceed it is "
        "refused at once with the dialect's 400 (OpenAI code context_length_exceeded; Anthropic "
        "'prompt is too long: N tokens > M maximum'; Gemini INVALID_ARGUMENT 'The input token count (N) "
        "exceeds the maximum number of tokens allowed (M).'); None: no window, every prompt is answered",
    )
    # --- prompt cache (harness.sim._cache) -----------------------------------------------------
    prompt_cache: bool = Field(
        True,
        description="cache prompt prefixes as the dialect's API does: OpenAI/Azure automatically (prompts "
        "of cache_min_tokens or more, cached_tokens in 128-token steps), Anthropic only at the request's "
        "cache_control breakpoints (5 min, or 1 h with ttl 1h), Gemini implicitly; a hit is reported in "
        "the dialect's usage fields and prefills faster (cached_prefill_frac); False: never cached",
    )
    cache_min_tokens: int = Field(1024, ge=1, description="shortest prefix cached, tokens")
    cache_ttl_s: float | None = Field(
        None,
        gt=0,
        description="lifetime of every cache entry, s, refreshed on a hit; None: the APIs' own (5 min; "
        "Anthropic ttl 1h: 1 hour). Set it short to watch entries expire in a short run",
    )
    cached_prefill_frac: float = Field(
        0.1, ge=0, le=1, description="prefill time of a cached token relative to an uncached one"
    )
    cache_entries: int = Field(
        10_000, ge=1, description="cached prefixes kept per endpoint (hashes only; least recently used go)"
    )
    # --- capacity and overload ----------------------------------------------------------------
    capacity: int = Field(64, ge=1, description="concurrent generations; more wait in a queue")
    queue_limit: int = Field(256, ge=0, description="waiting requests beyond capacity before refusing")
    overload_status: Literal[503, 529] = Field(503, description="status when the queue is full")
    # --- rate limits (token buckets refilled continuously) ------------------------------------
    rpm_limit: int | None = Field(None, ge=1, description="requests per minute before 429")
    tpm_limit: int | None = Field(None, ge=1, description="tokens per minute (prompt + output) before 429")
    rate_limit_window_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="bucket depth in seconds of the limit: bursts up to limit·window_s/60 pass at once",
    )
    # --- observability (what the answers tell the client) -------------------------------------
    send_ratelimit_headers: bool = Field(
        True,
        description="send the dialect's rate-limit headers on every answer past the key check (OpenAI "
        "x-ratelimit-limit|remaining|reset-requests|tokens with Go-duration resets; Anthropic "
        "anthropic-ratelimit-requests|tokens-limit|remaining|reset with RFC 3339 resets). Without "
        "rpm_limit / tpm_limit a nominal 100,000 requests / 100,000,000 tokens per minute is advertised, "
        "its remaining count falling within each rate_limit_window_s and full again after it, never "
        "enforced. False: none (429s still carry retry-after). Gemini sends none either way, and its "
        "retry delay is in the error body (RetryInfo)",
    )
    send_request_id: bool = Field(
        True,
        description="send the request-id header (OpenAI/Azure x-request-id, also Azure apim-request-id; "
        "Anthropic request-id; Gemini has none, its answers carry the id as responseId); False: a vendor "
        "with poor observability (the Anthropic error body keeps its request_id field)",
    )
    # --- background errors and stream failures ------------------------------------------------
    error_rates: dict[int, float] = Field(
        default_factory=dict,
        description="status → probability per request of answering that error instead (e.g. {500: 0.01})",
    )
    error_retry_after_ms: float | None = Field(
        None,
        ge=0,
        description="retry-after(-ms) sent with background 429/503/529 errors, ms; None sends none",
    )
    midstream_error_rate: float = Field(
        0.0, ge=0, le=1, description="streams that send an error event part-way, then end"
    )
    midstream_close_rate: float = Field(
        0.0, ge=0, le=1, description="streams cut part-way without the terminal event"
    )
    midstream_close_mode: Literal["fin", "rst"] = Field(
        "fin", description="how a cut stream ends: a normal close (FIN) or a reset (RST)"
    )
    stall_rate: float = Field(0.0, ge=0, le=1, description="streams that stall after their first token")
    stall_ms: float = Field(0.0, ge=0, description="length of such a stall, ms")

    @field_validator("error_rates")
    @classmethod
    def _check_error_rates(cls, v: dict[int, float]) -> dict[int, float]:
        for status, p in v.items():
            if status not in ERROR_STATUSES:
                raise ValueError(f"error_rates: status {status} not one of {sorted(ERROR_STATUSES)}")
            if not 0 <= p <= 1:
                raise ValueError(f"error_rates: probability for {status} must be within 0..1, got {p}")
        if sum(v.values()) > 1:
            raise ValueError("error_rates: probabilities add up to more than 1")
        return v

    @model_validator(mode="after")
    def _check_failures(self) -> SimBehaviour:
        if self.midstream_error_rate + self.midstream_close_rate > 1:
            raise ValueError("midstream_error_rate + midstream_close_rate must not exceed 1")
        return self


def _behaviour_or_preset(schema: dict[str, Any]) -> None:
    """The exported schema of ``behaviour``: the model, or a preset's name (what ``_preset`` reads)."""
    field = schema["properties"]["behaviour"]
    ref = {k: v for k, v in field.items() if k == "$ref"} or {"type": "object"}
    schema["properties"]["behaviour"] = {
        "anyOf": [ref, {"type": "string", "enum": sorted(PRESETS)}],
        **{k: v for k, v in field.items() if k != "$ref"},
    }


class SimEndpoint(UserModel):
    """One named simulated endpoint; ``behaviour`` may be a preset name ("fast", "steady", "slow")."""

    model_config = UserModel.model_config | {"json_schema_extra": _behaviour_or_preset}

    name: Name
    dialect: DialectName
    model: str = Field(description="model (azure-openai: deployment) name the endpoint serves")
    api_key: str | None = Field(
        None, repr=False, description="key the endpoint accepts; None accepts any non-empty key"
    )
    behaviour: SimBehaviour = SimBehaviour()
    persona: Persona = Field(
        "native",
        description="openai-chat only: answer like an OpenAI-compatible server with its quirks "
        "(vllm: flat error body; tgi: string error; litellm: a LiteLLM proxy without a database: "
        "x-litellm-* headers and call id, 400 to a wrong key, 500 to none, no rate-limit headers, "
        "llm_provider-retry-after on a 429)",
    )

    @model_validator(mode="after")
    def _persona_needs_openai(self) -> SimEndpoint:
        if self.persona != "native" and self.dialect != "openai-chat":
            raise ValueError(f"persona {self.persona!r} only applies to dialect openai-chat")
        return self

    @field_validator("behaviour", mode="before")
    @classmethod
    def _preset(cls, v: Any) -> Any:
        if isinstance(v, str):
            if v not in PRESETS:
                raise ValueError(f"unknown behaviour preset {v!r}; presets: {', '.join(sorted(PRESETS))}")
            return PRESETS[v]
        return v


class SimConfig(UserModel):
    """The file of ``bakeoff sim --config``: a seed and the simulated endpoints to serve."""

    seed: int = Field(0, description="seeds every simulated draw (latency jitter, errors, answers)")
    endpoints: list[SimEndpoint] = Field(min_length=1, description="the endpoints to serve, names unique")

    @model_validator(mode="after")
    def _unique_names(self) -> SimConfig:
        seen: set[str] = set()
        for ep in self.endpoints:
            if ep.name in seen:
                raise ValueError(f"endpoint name {ep.name!r} is used twice")
            seen.add(ep.name)
        if not self.endpoints:
            raise ValueError("endpoints: at least one endpoint is needed")
        return self


PRESETS: dict[str, SimBehaviour] = {
    "fast": SimBehaviour(ttft_ms=120, tokens_per_s=120, tokens_per_chunk=2, max_context_tokens=128_000),
    "steady": SimBehaviour(ttft_ms=250, tokens_per_s=70, max_context_tokens=200_000),
    "slow": SimBehaviour(ttft_ms=600, ttft_jitter_ms=120, tokens_per_s=35, max_context_tokens=200_000),
}
"""Named behaviours. Each keeps a realistic context window: 128k tokens (GPT-4o class) for ``fast``,
200k (Claude class) for ``steady`` and ``slow``."""
