"""The record schema: one row per attempt, the single definition used by every writer and reader.

Times are seconds on the run's monotonic clock (t=0 at run start), floats rounded to µs.
A logical request is identified by ``request_id`` and has one or more attempts (``attempt`` 1, 2, ...).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from harness._vocab import ERROR_CLASSES, ErrorClass

__all__ = [
    "ERROR_CLASSES",
    "RECORD_FIELDS",
    "TIME_FIELDS",
    "ErrorClass",
    "FaultEvent",
    "Outcome",
    "RequestRecord",
    "UsageSource",
]

Outcome = Literal["ok", "error"]
UsageSource = Literal["reported", "estimated", "none"]


@dataclass(slots=True)
class RequestRecord:
    """One attempt of one logical request, as written to ``records.jsonl`` and ``records.parquet``."""

    # identity
    run_id: str
    request_id: str
    attempt: int
    contender: str
    endpoint: str
    dialect: str
    model_requested: str
    model_served: str | None = None
    # workload
    prompt_id: str = ""
    prompt_class: str = ""
    worker: str = "local"
    user: int = 0
    seq: int = 0  # position of the logical request in the contender's schedule (of its session, for a turn)
    session_id: str | None = None  # a session's turn: the session's prompt id
    turn: int | None = None  # a session's turn: its index, 1-based
    # timing (run clock, seconds)
    t_intended: float = 0.0
    t_dispatch: float = 0.0
    t_headers: float | None = None
    t_first_token: float | None = None
    t_first_output: float | None = None
    t_last_token: float | None = None
    t_end: float = 0.0
    chunk_times: list[float] = field(default_factory=list)  # one per network read that carried a delta
    chunk_deltas: list[int] = field(default_factory=list)  # deltas each of those reads carried (> 1: merged)
    # result
    status: int | None = None
    outcome: Outcome = "error"
    error_class: ErrorClass | None = None
    error_detail: str | None = None
    finish_reason: str | None = None
    # usage and cost
    input_tokens: int | None = None
    cached_input_tokens: int | None = None
    cache_write_tokens: int | None = None
    cache_write_1h_tokens: int | None = None  # the part of cache_write_tokens written for 1 hour (Anthropic)
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    usage_source: UsageSource = "none"
    estimated_output_tokens: int | None = None
    max_tokens: int | None = None
    max_tokens_exceeded: bool = False
    cost_usd: float = 0.0
    # what the vendor told us
    retry_after_s: float | None = None
    retry_after_source: str | None = None  # which header (or error body) gave retry_after_s
    ratelimit_remaining_requests: int | None = None
    ratelimit_remaining_tokens: int | None = None
    vendor_request_id: str | None = None
    # what a gateway in front of the vendor told us about its own routing (LiteLLM headers, OpenRouter body)
    gateway_fallbacks: int | None = None  # x-litellm-attempted-fallbacks
    gateway_retries: int | None = None  # x-litellm-attempted-retries
    gateway_api_base: str | None = None  # x-litellm-model-api-base, without credentials or query
    gateway_provider: str | None = None  # OpenRouter's body "provider"
    # routing
    fallback_from: str | None = None
    is_final_attempt: bool = True
    fault_injected: str | None = None  # HTTP-level fault applied to this attempt, if any
    # quality
    check_passed: bool | None = None
    output_excerpt: str | None = None  # untrusted model text, truncated; escaped wherever shown

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in RECORD_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RequestRecord:
        return cls(**{k: v for k, v in data.items() if k in _FIELD_SET})


RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RequestRecord))
TIME_FIELDS: tuple[str, ...] = tuple(f for f in RECORD_FIELDS if f.startswith("t_"))
"""The run-clock timestamps of a record (chunk_times aside), in the order an attempt passes them."""
_FIELD_SET = frozenset(RECORD_FIELDS)


@dataclass(slots=True)
class FaultEvent:
    """One change made by the fault timeline: a fault applied or removed, with when it really happened."""

    run_id: str
    fault_id: str  # stable id of the timeline entry, e.g. "f1-outage"
    action: Literal["apply", "remove"]
    fault: str  # fault name (library name or kind)
    kind: str
    target: str  # endpoint or contender named in the scenario
    endpoints: list[str]  # endpoints actually touched
    t_requested: float
    t_applied: float
    outcome: Literal["ok", "error"] = "ok"
    detail: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    paths: list[str] = field(default_factory=list)  # network paths actually touched: "<contender>@<endpoint>"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
