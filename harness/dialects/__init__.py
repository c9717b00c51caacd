"""Sans-I/O vendor wire protocols: build the request, parse bytes into normalised events, classify errors.

Nothing here opens a socket or reads a clock, so every dialect is tested with recorded bytes alone.
A dialect (``get_dialect("openai-chat" | "azure-openai" | "anthropic-messages" | "gemini")``) offers:

* ``build_request(endpoint, prompt, base_url=…, api_key=…, stream=…) -> HttpRequest``
* ``stream_parser() -> StreamParser`` with ``feed(bytes) -> list[Event]`` and ``close() -> list[Event]``
* ``parse_response(body) -> list[Event]`` for a complete non-streamed 2xx body
* ``read_headers(headers) -> HeaderInfo`` (vendor or gateway request id, retry hint and its source,
  remaining rate limits, a gateway's routing evidence)
* ``classify(status, headers, body) -> ErrorInfo`` for non-2xx answers (DESIGN.md error classes)
* ``error_response(status, message=…, retry_after_s=…)`` and ``malformed_chunk()``: the vendor's own
  error shapes, used by the HTTP fault layer so injected failures take the same classification path.

Events: :class:`Delta` (output / reasoning / tool text), :class:`Usage` (one convention: input counts
cache reads and writes, output counts reasoning), :class:`Finish`, :class:`Meta` (served model,
response id), :class:`StreamError` (error inside a 200), :class:`Malformed`, :class:`Done` (terminal
event; a stream that ends without it is truncated). :func:`retry_hint` reads a retry hint in every form
vendors and gateways send (one parser per form). Usage::

    d = get_dialect("openai-chat")
    req = d.build_request(endpoint, prompt, base_url="https://api.openai.com/v1", api_key=key, stream=True)
    parser = d.stream_parser()
    for chunk in body_chunks:
        for ev in parser.feed(chunk):
            ...
    tail = parser.close()
"""

from __future__ import annotations

from harness.dialects._anthropic import ANTHROPIC_VERSION, AnthropicMessagesWire, AnthropicStreamParser
from harness.dialects._checks import extra_body_problems
from harness.dialects._common import ExtraBodyConflict, class_for_status, merge_extra_body, parse_retry_after
from harness.dialects._events import (
    Delta,
    Done,
    ErrorInfo,
    Event,
    Finish,
    HeaderInfo,
    HttpRequest,
    Malformed,
    Meta,
    StreamError,
    StreamParser,
    Usage,
    WireDialect,
)
from harness.dialects._gemini import GeminiStreamParser, GeminiWire
from harness.dialects._openai import AzureOpenAIWire, OpenAIChatWire, OpenAIStreamParser
from harness.dialects._registry import DIALECT_NAMES, get_dialect
from harness.dialects._retry import (
    MAX_HINT_S,
    RetryHint,
    parse_go_duration,
    parse_http_date,
    parse_proto_duration,
    parse_rfc3339,
    parse_seconds,
    retry_hint,
)
from harness.dialects._sse import MAX_EVENT_BYTES, SSEDecoder, SSEEvent, SSETooLarge

__all__ = [
    "ANTHROPIC_VERSION",
    "DIALECT_NAMES",
    "MAX_EVENT_BYTES",
    "MAX_HINT_S",
    "AnthropicMessagesWire",
    "AnthropicStreamParser",
    "AzureOpenAIWire",
    "Delta",
    "Done",
    "ErrorInfo",
    "Event",
    "ExtraBodyConflict",
    "Finish",
    "GeminiStreamParser",
    "GeminiWire",
    "HeaderInfo",
    "HttpRequest",
    "Malformed",
    "Meta",
    "OpenAIChatWire",
    "OpenAIStreamParser",
    "RetryHint",
    "SSEDecoder",
    "SSEEvent",
    "SSETooLarge",
    "StreamError",
    "StreamParser",
    "Usage",
    "WireDialect",
    "class_for_status",
    "extra_body_problems",
    "get_dialect",
    "merge_extra_body",
    "parse_go_duration",
    "parse_http_date",
    "parse_proto_duration",
    "parse_retry_after",
    "parse_rfc3339",
    "parse_seconds",
    "retry_hint",
]
