"""What every simulated dialect provides to the engine: parsing, auth, error bodies, encoders."""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.sim._cache import NO_CACHE, CacheUsage

if TYPE_CHECKING:
    from harness._http import Request
    from harness.behaviour import SimEndpoint
    from harness.sim._answer import Plan, Prompt
    from harness.sim._cache import CacheMode
    from harness.sim._limits import TokenBucket

__all__ = ["Ctx", "Parsed", "SimDialect", "SimHTTPError", "StreamEncoder", "key_matches"]


class SimHTTPError(Exception):
    """An answer the dialect renders as its own error envelope. ``kind`` is dialect-neutral:
    bad_request, context_length, auth, not_found, rate_requests, rate_tokens, overloaded, server,
    unavailable, timeout, conflict, bad_gateway, gateway_timeout."""

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        *,
        param: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.param = param
        self.retry_after_s = retry_after_s  # the delay also sent as retry-after headers (see retry_in_body)


@dataclass(slots=True)
class Parsed:
    prompt: Prompt
    stream: bool
    include_usage: bool


@dataclass(slots=True)
class Ctx:
    """Per-request identity shared by the encoders."""

    request_id: str
    message_id: str
    created: int
    model: str
    include_usage: bool
    cache: CacheUsage = NO_CACHE  # what this request read from / wrote to the prompt cache
    show_reasoning: bool = False  # stream/send the plan's thinking text (else only its usage)


def key_matches(given: str | None, expected: str | None) -> bool:
    if not given:
        return False
    if expected is None:
        return True
    return hmac.compare_digest(given.encode(), expected.encode())


class StreamEncoder:
    """Bytes of one stream: ``head()`` at admission, ``piece(i)`` per chunk, ``tail()`` or ``error()``."""

    __slots__ = ()

    def head(self) -> bytes:
        raise NotImplementedError

    def piece(self, i: int) -> bytes:
        raise NotImplementedError

    def tail(self, n_done: int, truncated: bool) -> bytes:
        raise NotImplementedError

    def error(self) -> bytes:
        raise NotImplementedError


class SimDialect:
    """Base of the dialects; subclasses fill every method."""

    name = ""
    request_id_header = "x-request-id"  # "" = this server sends no request id
    retry_in_body = False  # True: the retry delay goes in the error body only, never in retry-after headers
    cache_mode: CacheMode = "auto"  # how the API caches prompts (harness.sim._cache)
    shows_reasoning = True  # sends the thinking text (reasoning_text: auto); native OpenAI does not

    def id_headers(self, request_id: str) -> list[tuple[str, str]]:
        return [(self.request_id_header, request_id)] if self.request_id_header else []

    def error_id_headers(self, exc: SimHTTPError, request_id: str) -> list[tuple[str, str]]:
        """The request-id headers of an error answer (by default the same as any answer's)."""
        return self.id_headers(request_id)

    def retry_headers(self, seconds: float) -> list[tuple[str, str]]:
        """The headers that tell a client to wait ``seconds`` (OpenAI's and Anthropic's by default)."""
        return [
            ("retry-after", str(max(1, math.ceil(seconds)))),
            ("retry-after-ms", str(max(1, math.ceil(round(seconds * 1000, 6))))),
        ]

    def route(self, ep: SimEndpoint, method: str, rest: str) -> tuple[str, str] | None:
        """``(operation, argument)`` for a path below ``/<endpoint>`` ("chat", "models"), or None (404)."""
        raise NotImplementedError

    def check_auth(self, ep: SimEndpoint, req: Request) -> None:
        raise NotImplementedError

    def parse(self, ep: SimEndpoint, req: Request, body: Any, op_arg: str) -> Parsed:
        raise NotImplementedError

    def error(self, exc: SimHTTPError, request_id: str) -> tuple[list[tuple[str, str]], bytes]:
        raise NotImplementedError

    def ratelimit_headers(
        self, rpm: TokenBucket | None, tpm: TokenBucket | None, now: float, wall: float
    ) -> list[tuple[str, str]]:
        raise NotImplementedError

    def context_error(self, prompt_tokens: int, max_tokens: int | None, window: int) -> SimHTTPError:
        """The refusal of a request over the context window (OpenAI's wording; dialects override)."""
        if max_tokens:
            message = (
                f"This model's maximum context length is {window} tokens. However, you requested "
                f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, {max_tokens} in "
                "the completion). Please reduce the length of the messages or completion."
            )
        else:
            message = (
                f"This model's maximum context length is {window} tokens. However, your messages "
                f"resulted in {prompt_tokens} tokens. Please reduce the length of the messages."
            )
        return SimHTTPError(400, "context_length", message, param="messages")

    def new_id(self, rnd: int) -> str:
        raise NotImplementedError

    def body(self, plan: Plan, ctx: Ctx) -> bytes:
        raise NotImplementedError

    def encoder(self, plan: Plan, ctx: Ctx) -> StreamEncoder:
        raise NotImplementedError

    def extra_headers(self, ctx: Ctx) -> list[tuple[str, str]]:
        return []

    def models(self, ep: SimEndpoint) -> bytes:
        raise NotImplementedError
