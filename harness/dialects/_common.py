"""Helpers every dialect shares: status classification, error bodies, Retry-After and rate-limit headers."""

from __future__ import annotations

import functools
import json
import math
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from harness._vocab import ErrorClass
from harness.dialects._events import ErrorInfo, HeaderInfo, Malformed
from harness.dialects._retry import parse_proto_duration, retry_hint

__all__ = [
    "DETAIL_MAX",
    "CommonResponses",
    "ExtraBodyConflict",
    "class_for_status",
    "count",
    "error_info",
    "event_object",
    "join_url",
    "json_body",
    "json_instruction",
    "loads",
    "merge_extra_body",
    "parse_retry_after",
    "read_common_headers",
    "short",
]

DETAIL_MAX = 200


class ExtraBodyConflict(ValueError):
    """A prompt's ``extra_body`` would overwrite a field the dialect sets itself: ``field`` is its path
    (``extra_body.max_tokens``), ``detail`` what is wrong."""

    def __init__(self, prompt_id: str, field: str, detail: str) -> None:
        super().__init__(f"prompt {prompt_id!r}: {field}: {detail}")
        self.prompt_id = prompt_id
        self.field = field
        self.detail = detail


def merge_extra_body(
    body: dict[str, Any], extra: Mapping[str, Any] | None, *, prompt_id: str, dialect: str
) -> None:
    """Add ``extra`` to ``body`` in place: new fields are added, objects present in both are merged key
    by key, and any value already set (a number, a string, a list) is refused, never overwritten."""

    def merge(dst: dict[str, Any], src: Mapping[str, Any], path: str) -> None:
        for key, value in src.items():
            here = f"{path}.{key}" if path else key
            if key not in dst:
                dst[key] = value
            elif isinstance(dst[key], dict) and isinstance(value, Mapping):
                merge(dst[key], value, here)
            else:
                raise ExtraBodyConflict(
                    prompt_id,
                    f"extra_body.{here}",
                    f"the {dialect} request already sets {here} from the prompt or the endpoint; "
                    "extra_body may only add fields",
                )

    if extra:
        merge(body, extra, "")


def json_instruction(response_format: Any) -> str | None:
    """The system instruction that asks for JSON where a dialect has no JSON mode (Anthropic): for
    ``json_object`` any JSON object, for ``json_schema`` one following the schema (given in the text);
    ``None`` for ``text`` or no response format."""
    if response_format is None or response_format.type == "text":
        return None
    text = "Answer with one JSON object only: no text before or after it and no code fence."
    if response_format.json_schema is not None:
        schema = json.dumps(response_format.json_schema.schema_, ensure_ascii=False, separators=(",", ":"))
        text += f" The object must follow this JSON Schema:\n{schema}"
    return text


_REQUEST_ID_HEADERS = (
    "x-request-id",  # OpenAI, Azure, Groq, vLLM, most OpenAI-compatible servers
    "request-id",  # Anthropic
    "apim-request-id",  # Azure API Management (Azure OpenAI)
    "x-amzn-requestid",  # AWS (Bedrock)
    "x-litellm-call-id",  # LiteLLM proxy (sends no x-request-id of its own)
    "x-generation-id",  # OpenRouter (the generation id, as GET /generation?id= takes it)
)
"""Request-id headers vendors and gateways document, the vendor's own first (a gateway passing one on)."""
_GATEWAY_FALLBACKS = "x-litellm-attempted-fallbacks"
_GATEWAY_RETRIES = "x-litellm-attempted-retries"
_GATEWAY_API_BASE = "x-litellm-model-api-base"
_REMAINING_REQUESTS = ("x-ratelimit-remaining-requests", "anthropic-ratelimit-requests-remaining")
_REMAINING_TOKENS = ("x-ratelimit-remaining-tokens", "anthropic-ratelimit-tokens-remaining")
_HEADER_CTL = re.compile("[\x01-\x08\x0e-\x1f\x7f]")  # kept by h11, replaced by the load path


@functools.lru_cache(maxsize=1024)
def join_url(base_url: str, path: str, query: str = "") -> str:
    """``base_url`` with ``path`` appended to its path and ``query`` to its query string.

    A base URL may carry a query (a gateway's ``?tenant=x``): the path goes before it, not after::

        >>> join_url("https://gw.example/v1?tenant=a", "/chat/completions")
        'https://gw.example/v1/chat/completions?tenant=a'
        >>> join_url("https://r.example/openai/", "/deployments/d/chat/completions", "api-version=1")
        'https://r.example/openai/deployments/d/chat/completions?api-version=1'

    A fragment is dropped (it never goes on the wire).
    """
    parts = urlsplit(base_url)
    q = "&".join(x for x in (parts.query, query) if x)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + path, q, ""))


def loads(data: str | bytes) -> Any:
    """``json.loads`` with orjson on the hot path (every SSE event goes through here).

    orjson is strict where the standard library is lenient (``NaN``, ``1e400``); on such input the
    standard parser decides, so what is accepted and what is malformed stays exactly ``json.loads``'s."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def event_object(data: str, *, invalid: str, not_object: str) -> dict[str, Any] | Malformed:
    """A stream event's JSON object, or the ``Malformed`` event that ends the stream (messages given)."""
    try:
        value = loads(data)
    except ValueError:
        return Malformed(short(f"{invalid}: {data}", 120))
    if not isinstance(value, dict):
        return Malformed(short(f"{not_object}: {data}", 120))
    return value


class CommonResponses:
    """What every dialect reads the same way: request id and rate-limit headers, error classification."""

    def read_headers(self, headers: Mapping[str, str]) -> HeaderInfo:
        return read_common_headers(headers)

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> ErrorInfo:
        return error_info(status, headers, body)


def short(text: str, limit: int = DETAIL_MAX) -> str:
    """One line, at most ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_MAX_COUNT = 2**63 - 1  # what an int64 column (parquet, pandas) holds


def count(v: object) -> int | None:
    """A vendor's token count as an int, or ``None`` when it is not one.

    Accepts ints and finite floats (``12.0``); ignores booleans, text, non-finite values (JSON ``1e400``
    parses as infinity, ``NaN`` as NaN), negatives and values past int64, none of which is a count.
    """
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
        v = int(v)
    return v if 0 <= v <= _MAX_COUNT else None


def class_for_status(status: int, error_type: str | None = None) -> ErrorClass:
    """Error class of an HTTP status (DESIGN.md taxonomy); ``error_type`` refines 5xx overloads."""
    if status == 429:
        return "http_429"
    if status in (503, 529) or (status >= 500 and error_type in ("overloaded_error", "overloaded")):
        return "overloaded"
    if 500 <= status <= 599:
        return "http_5xx"
    if 400 <= status <= 499:
        return "http_4xx"
    return "malformed_response"


def json_body(body: bytes) -> Any:
    """The body as JSON, or ``None`` when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except (ValueError, OverflowError):  # not a number, NaN, or "inf"
        return None


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from the explicit retry headers: ``retry-after-ms``, then ``retry-after`` as seconds,
    then as an HTTP date, then LiteLLM's pass-through ``llm_provider-retry-after(-ms)``
    (:func:`harness.dialects.retry_hint` has every form, and says which one spoke)."""
    hint = retry_hint(headers, now=time.time() if now is None else now)
    return None if hint is None else hint.seconds


def _without_credentials(url: str) -> str:
    """A URL a gateway reports without what may carry a secret: user info, query, fragment
    (``https://key@h/v1?api-key=x`` → ``https://h/v1``). Text that is no URL is kept as it is."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return url.strip()
    if not parts.scheme or not host:
        return url.strip().split("?", 1)[0]
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


def _gateway_count(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() and len(value) <= 6 else None


def read_common_headers(headers: Mapping[str, str], *, now: float | None = None) -> HeaderInfo:
    """Request id, explicit retry hint, remaining requests/tokens and LiteLLM's routing evidence from
    OpenAI-, Anthropic- or gateway-style headers."""
    rid = None
    for name in _REQUEST_ID_HEADERS:
        rid = headers.get(name)
        if rid:
            break
    rem_r = rem_t = None
    for name in _REMAINING_REQUESTS:
        rem_r = _int(headers.get(name))
        if rem_r is not None:
            break
    for name in _REMAINING_TOKENS:
        rem_t = _int(headers.get(name))
        if rem_t is not None:
            break
    if rid and _HEADER_CTL.search(rid):  # as the load path's parser reads it (RFC 9110 5.5: CTL -> SP)
        rid = _HEADER_CTL.sub(" ", rid)
    hint = retry_hint(headers, now=time.time() if now is None else now)
    base = headers.get(_GATEWAY_API_BASE)
    if base and _HEADER_CTL.search(base):
        base = _HEADER_CTL.sub(" ", base)
    base = _without_credentials(base) if base else None
    return HeaderInfo(
        vendor_request_id=rid or None,
        retry_after_s=None if hint is None else hint.seconds,
        ratelimit_remaining_requests=rem_r,
        ratelimit_remaining_tokens=rem_t,
        retry_after_source=None if hint is None else hint.source,
        gateway_fallbacks=_gateway_count(headers.get(_GATEWAY_FALLBACKS)),
        gateway_retries=_gateway_count(headers.get(_GATEWAY_RETRIES)),
        gateway_api_base=(base.strip() or None) if base else None,
    )


def _body_retry_delay(err: Mapping[str, Any]) -> float | None:
    """Google RPC errors carry ``details[].retryDelay`` ("22s") instead of a Retry-After header."""
    details = err.get("details")
    if not isinstance(details, list):
        return None
    for d in details:
        if isinstance(d, dict) and isinstance(d.get("retryDelay"), str):
            seconds = parse_proto_duration(d["retryDelay"])
            if seconds is not None:
                return seconds
    return None


def error_info(status: int, headers: Mapping[str, str], body: bytes) -> ErrorInfo:
    """Classify a non-2xx response from any OpenAI-, Anthropic- or Google-shaped error body.

    Tolerated shapes: ``{"error": {message, type, code}}`` (OpenAI, Azure, vLLM new, Google RPC),
    ``{"type": "error", "error": {type, message}}`` (Anthropic), ``{"error": "text", "error_type": …}``
    (TGI), flat ``{"object": "error", "message", "type", "code"}`` (vLLM old), or any non-JSON text.
    """
    data = json_body(body)
    etype: str | None = None
    message = ""
    retry_body: float | None = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            etype = _str(err.get("type")) or _str(err.get("status")) or _str(err.get("code"))
            code = _str(err.get("code"))
            if code and etype and code != etype and not code.isdigit():
                etype = f"{etype}/{code}"
            message = _str(err.get("message")) or ""
            retry_body = _body_retry_delay(err)
        elif isinstance(err, str):
            message = err
            etype = _str(data.get("error_type"))
        elif data.get("object") == "error" or "message" in data:
            etype = _str(data.get("type"))
            message = _str(data.get("message")) or ""
    elif body:
        message = body[:DETAIL_MAX].decode("utf-8", errors="replace")
    hint = retry_hint(headers, now=time.time(), status=status, body_delay=retry_body)
    detail = f"HTTP {status}"
    if etype:
        detail += f" {etype}"
    if message:
        detail += f": {message}"
    return ErrorInfo(
        class_for_status(status, etype),
        short(detail),
        None if hint is None else hint.seconds,
        retry_after_source=None if hint is None else hint.source,
    )


def _str(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)
