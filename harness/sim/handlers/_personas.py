"""OpenAI-compatible servers with their own quirks (vendor-apis §2): vLLM, TGI, LiteLLM proxy.

* ``vllm``: flat error body ``{"object": "error", "message", "type", "param", "code": <int status>}``,
  the served model name must match, no rate-limit headers, no request id header.
* ``tgi``: error body ``{"error": "<string>", "error_type": "validation|overloaded|generation"}``,
  ``model`` ignored, no rate-limit headers, no request id header; over the context window: 422.
* ``litellm``: a LiteLLM proxy (1.108, no database) in front of an OpenAI-like backend: OpenAI bodies and
  ``x-litellm-*`` response headers (model id, api base, attempted retries / fallbacks, response cost); its
  request id is ``x-litellm-call-id`` (a UUID), sent on every answer past the key check but on no key
  refusal, and no ``x-request-id``; a wrong key gets 400 ``no_db_connection`` "No connected db.", a
  missing one 500; no rate-limit headers; a 429 says when to retry only in ``llm_provider-retry-after``
  (the backend's header, passed on). What the backend checks (parameters, context window) it still
  checks: the real proxy passes such requests on to its backend, whose answer is what comes back.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from harness.sim.handlers._base import Ctx, Parsed, SimHTTPError, key_matches
from harness.sim.handlers._openai import OpenAISim, parse_chat

if TYPE_CHECKING:
    from harness._http import Request
    from harness.behaviour import SimEndpoint
    from harness.sim._limits import TokenBucket

__all__ = ["LiteLLMPersona", "TGIPersona", "VLLMPersona"]

_VLLM_TYPE = {400: "BadRequestError", 401: "Unauthorized", 404: "NotFoundError", 429: "TooManyRequests"}


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class VLLMPersona(OpenAISim):
    name = "openai-chat/vllm"
    request_id_header = ""

    def check_auth(self, ep: SimEndpoint, req: Request) -> None:
        if ep.api_key is None:  # vLLM without --api-key accepts anything, even no key
            return
        auth = req.headers.get("authorization") or ""
        if auth != f"Bearer {ep.api_key}":
            raise SimHTTPError(401, "auth", "Unauthorized")

    def error(self, exc: SimHTTPError, request_id: str) -> tuple[list[tuple[str, str]], bytes]:
        etype = _VLLM_TYPE.get(exc.status, "InternalServerError" if exc.status >= 500 else "BadRequestError")
        body = {
            "object": "error",
            "message": exc.message,
            "type": etype,
            "param": exc.param,
            "code": exc.status,
        }
        return [("content-type", "application/json")], _dumps(body)

    def ratelimit_headers(
        self, rpm: TokenBucket | None, tpm: TokenBucket | None, now: float, wall: float
    ) -> list[tuple[str, str]]:
        return []

    def extra_headers(self, ctx: Ctx) -> list[tuple[str, str]]:
        return []


class TGIPersona(VLLMPersona):
    name = "openai-chat/tgi"

    def parse(self, ep: SimEndpoint, req: Request, body: Any, op_arg: str) -> Parsed:
        return parse_chat(body, model_check=None)  # TGI serves one model and ignores the name

    def context_error(self, prompt_tokens: int, max_tokens: int | None, window: int) -> SimHTTPError:
        return SimHTTPError(
            422,
            "context_length",
            f"Input validation error: `inputs` tokens + `max_new_tokens` must be <= {window}. Given: "
            f"{prompt_tokens} `inputs` tokens and {max_tokens or 0} `max_new_tokens`",
        )

    def error(self, exc: SimHTTPError, request_id: str) -> tuple[list[tuple[str, str]], bytes]:
        if exc.kind in ("overloaded", "unavailable", "rate_requests", "rate_tokens"):
            etype = "overloaded"
        elif exc.status < 500:
            etype = "validation"
        else:
            etype = "generation"
        return [("content-type", "application/json")], _dumps({"error": exc.message, "error_type": etype})


class LiteLLMPersona(OpenAISim):
    name = "openai-chat/litellm"
    request_id_header = "x-litellm-call-id"

    def id_headers(self, request_id: str) -> list[tuple[str, str]]:
        h = request_id.removeprefix("req_").ljust(32, "0")[:32]
        return [(self.request_id_header, f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")]

    def error_id_headers(self, exc: SimHTTPError, request_id: str) -> list[tuple[str, str]]:
        return [] if exc.kind == "auth" else self.id_headers(request_id)  # refused before any call

    def check_auth(self, ep: SimEndpoint, req: Request) -> None:
        if ep.api_key is None:  # a proxy without a master key lets everyone in
            return
        auth = req.headers.get("authorization") or ""
        scheme, _, key = auth.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise SimHTTPError(500, "auth", "Authentication Error, No api key passed in.")
        if not key_matches(key.strip(), ep.api_key):
            raise SimHTTPError(400, "auth", "No connected db.")

    def error(self, exc: SimHTTPError, request_id: str) -> tuple[list[tuple[str, str]], bytes]:
        if exc.kind != "auth":
            return super().error(exc, request_id)
        etype = "no_db_connection" if exc.status == 400 else "auth_error"
        body = {"error": {"message": exc.message, "type": etype, "param": None, "code": str(exc.status)}}
        return [("content-type", "application/json")], _dumps(body)

    def ratelimit_headers(
        self, rpm: TokenBucket | None, tpm: TokenBucket | None, now: float, wall: float
    ) -> list[tuple[str, str]]:
        return []

    def retry_headers(self, seconds: float) -> list[tuple[str, str]]:
        return [("llm_provider-retry-after", str(max(1, math.ceil(seconds))))]

    def extra_headers(self, ctx: Ctx) -> list[tuple[str, str]]:
        return [
            ("x-litellm-model-id", f"sim-{ctx.model}"),
            ("x-litellm-model-api-base", "http://sim.invalid/v1"),
            ("x-litellm-attempted-retries", "0"),
            ("x-litellm-max-retries", "0"),
            ("x-litellm-attempted-fallbacks", "0"),
            ("x-litellm-response-cost", "0.0"),
            ("x-litellm-version", "1.108.0-sim"),
        ]
