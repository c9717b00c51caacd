"""Normalised events and value objects shared by every dialect (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from harness._vocab import ErrorClass
from harness.config import Endpoint, PromptItem

__all__ = [
    "Delta",
    "Done",
    "ErrorInfo",
    "Event",
    "Finish",
    "HeaderInfo",
    "HttpRequest",
    "Malformed",
    "Meta",
    "StreamError",
    "StreamParser",
    "Usage",
    "WireDialect",
]

DeltaKind = Literal["output", "reasoning", "tool"]


@dataclass(slots=True, frozen=True)
class Delta:
    """A piece of the answer: ``output`` text, ``reasoning`` (thinking) text, or ``tool`` call arguments."""

    text: str
    kind: DeltaKind = "output"


@dataclass(slots=True, frozen=True)
class Usage:
    """Token usage in one convention for every dialect.

    ``input_tokens`` counts *all* prompt tokens, cache reads and cache writes included (OpenAI's
    ``prompt_tokens``; Anthropic's ``input_tokens + cache_read + cache_creation``).
    ``output_tokens`` includes reasoning tokens. ``None`` means "not reported in this event";
    a stream may report usage in several events (Anthropic), later values replace earlier ones.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    cache_write_1h_tokens: int | None = None  # the part of cache_write_tokens written for 1 hour (Anthropic)

    def merged(self, later: Usage) -> Usage:
        """This usage updated with the non-``None`` fields of ``later``."""
        return Usage(*(b if b is not None else a for a, b in zip(self._t(), later._t(), strict=True)))

    def _t(self) -> tuple[int | None, ...]:
        return (
            self.input_tokens,
            self.output_tokens,
            self.cached_input_tokens,
            self.cache_write_tokens,
            self.reasoning_tokens,
            self.cache_write_1h_tokens,
        )


@dataclass(slots=True, frozen=True)
class Finish:
    """The vendor's finish / stop reason, as sent (``stop``, ``length``, ``end_turn``, ``max_tokens``...)."""

    reason: str


@dataclass(slots=True, frozen=True)
class Meta:
    """Which model served the answer, the body's response id (``chatcmpl-…``, ``msg_…``, ``gen-…``) and
    the upstream provider a router names in the body (OpenRouter's ``provider``)."""

    model: str | None = None
    response_id: str | None = None
    provider: str | None = None


@dataclass(slots=True, frozen=True)
class StreamError:
    """An error reported inside a 200 response (``data: {"error": …}``, ``event: error``)."""

    error_class: ErrorClass
    detail: str


@dataclass(slots=True, frozen=True)
class Malformed:
    """Bytes that do not follow the dialect (bad JSON, wrong shape). Ends the attempt."""

    detail: str


@dataclass(slots=True, frozen=True)
class Done:
    """The dialect's terminal event arrived (``[DONE]``, ``message_stop``, end of a complete JSON body)."""


Event = Delta | Usage | Finish | Meta | StreamError | Malformed | Done


@dataclass(slots=True, frozen=True)
class HttpRequest:
    """What to send: method, absolute URL, headers (secrets included: never log this) and body bytes."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True, frozen=True)
class HeaderInfo:
    """What response headers told us (any status): the vendor's or gateway's request id, an explicit retry
    hint and which header gave it, remaining rate limits, and a gateway's routing evidence (LiteLLM's
    ``x-litellm-attempted-fallbacks`` / ``-attempted-retries`` / ``-model-api-base``, unbounded text:
    the caller bounds and redacts it)."""

    vendor_request_id: str | None = None
    retry_after_s: float | None = None
    ratelimit_remaining_requests: int | None = None
    ratelimit_remaining_tokens: int | None = None
    retry_after_source: str | None = None
    gateway_fallbacks: int | None = None
    gateway_retries: int | None = None
    gateway_api_base: str | None = None


@dataclass(slots=True, frozen=True)
class ErrorInfo:
    """Classification of a non-2xx response: its error class, a short detail, the retry hint if any and
    where it came from (:func:`harness.dialects.retry_hint`)."""

    error_class: ErrorClass
    detail: str
    retry_after_s: float | None = None
    extra: dict[str, str] = field(default_factory=dict)
    retry_after_source: str | None = None


class StreamParser(Protocol):
    """Incremental parser of one streamed response body: bytes in, events out."""

    def feed(self, data: bytes) -> list[Event]:
        """Parse more bytes; returns the events completed by them (possibly none)."""
        ...

    def close(self) -> list[Event]:
        """The body ended: returns events still pending (a final event without its blank line)."""
        ...


class WireDialect(Protocol):
    """One vendor wire protocol. Every method is pure: no sockets, no clocks."""

    name: str

    def build_request(
        self, endpoint: Endpoint, prompt: PromptItem, *, base_url: str, api_key: str | None, stream: bool
    ) -> HttpRequest:
        """The HTTP request for ``prompt`` on ``endpoint`` (``base_url`` as given to the vendor's SDK)."""
        ...

    def stream_parser(self, max_event_bytes: int = ...) -> StreamParser:
        """A fresh parser for one streamed 2xx body. One SSE line or event over ``max_event_bytes``
        (default ``harness.dialects.MAX_EVENT_BYTES``) ends it with ``StreamError("response_too_large")``."""
        ...

    def parse_response(self, body: bytes) -> list[Event]:
        """Events of a complete non-streamed 2xx body (ends with :class:`Done` when it parsed)."""
        ...

    def read_headers(self, headers: Mapping[str, str]) -> HeaderInfo:
        """Request id, Retry-After and remaining rate limits from response headers (lower-case names)."""
        ...

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> ErrorInfo:
        """Error class and detail of a non-2xx response."""
        ...

    def error_response(
        self, status: int, *, message: str, retry_after_s: float | None = None
    ) -> tuple[dict[str, str], bytes]:
        """Headers and body this vendor sends for ``status`` (used by the HTTP fault layer)."""
        ...

    def malformed_chunk(self) -> bytes:
        """One syntactically broken stream event in this dialect's framing (fault layer)."""
        ...
