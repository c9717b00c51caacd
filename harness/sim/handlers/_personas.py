"""OpenAI-compatible servers with their own quirks (vendor-apis §2): vLLM, TGI, LiteLLM proxy.

* ``vllm``: flat error body ``{"object": "error", "message", "type", "param", "code": <int status>}``,
  the served model name must match, no rate-limit headers, no request id header; a reasoning model's
  thinking streams as ``reasoning_content`` deltas before the answer (vLLM's reasoning parsers, DeepSeek).
* ``tgi``: error body ``{"error": "<string>", "error_type": "validation|overloaded|generation"}``,
  ``model`` ignored, no rate-limit headers, no request id header; over the context window: 422.
* ``litellm``: a LiteLLM proxy (1.108, master key, no database) in front of an OpenAI-like backend, as
  LiteLLM 1.108.7 answered in front of this simulator: OpenAI bodies and ``x-litellm-*`` headers; its ids
  are ``x-litellm-call-id`` (a UUID) and the backend's id as ``request-id`` and
  ``llm_provider-x-request-id`` (no ``x-request-id``), on every answer past the key check and on no key
  refusal; a wrong key gets 400 ``no_db_connection`` "No connected db.", a missing one a plain-text 500;
  an unknown model 400; the backend's rate-limit counts as ``x-ratelimit-limit/remaining-*`` (no reset)
  and every backend header again as ``llm_provider-<name>``, so a 429 says when to retry only in
  ``llm_provider-retry-after(-ms)``. The backend still checks parameters and the context window (the
  proxy passes such requests on; the backend's refusal comes back). A backend without rate-limit headers
  (``send_ratelimit_headers: false``) gives none.
"""

from __future__ import annotations

import json
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
    shows_reasoning = True  # a reasoning parser streams the thinking as ``reasoning_content``

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
    shows_reasoning = False

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


_LITELLM_ERRORS = {
    400: "BadRequestError",
    401: "AuthenticationError",
    404: "NotFoundError",
    429: "RateLimitError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}


class LiteLLMPersona(OpenAISim):
    name = "openai-chat/litellm"
    request_id_header = "x-litellm-call-id"

    def id_headers(self, request_id: str) -> list[tuple[str, str]]:
        h = request_id.removeprefix("req_").ljust(32, "0")[:32]
        call_id = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        return [
            ("x-litellm-call-id", call_id),
            ("request-id", request_id),  # the backend's x-request-id, as LiteLLM renames it
            ("llm_provider-x-request-id", request_id),
        ]

    def error_id_headers(self, exc: SimHTTPError, request_id: str) -> list[tuple[str, str]]:
        return [] if exc.kind == "auth" else self.id_headers(request_id)  # refused before any call

    def check_auth(self, ep: SimEndpoint, req: Request) -> None:
        if ep.api_key is None:  # a proxy without a master key lets everyone in
            return
        auth = req.headers.get("authorization") or ""
        scheme, _, key = auth.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise SimHTTPError(500, "auth", "Internal Server Error")
        if not key_matches(key.strip(), ep.api_key):
            raise SimHTTPError(400, "auth", "No connected db.")

    def parse(self, ep: SimEndpoint, req: Request, body: Any, op_arg: str) -> Parsed:
        try:
            return super().parse(ep, req, body, op_arg)
        except SimHTTPError as exc:
            if exc.kind != "not_found":
                raise
            name = body.get("model") if isinstance(body, dict) else None
            raise SimHTTPError(
                400,
                "bad_request",
                f"/chat/completions: Invalid model name passed in model={name}. Call `/v1/models` to view "
                "available models for your key.",
            ) from None

    def error(self, exc: SimHTTPError, request_id: str) -> tuple[list[tuple[str, str]], bytes]:
        if exc.kind == "auth" and exc.status >= 500:  # the proxy's own crash, not an error envelope
            return [("content-type", "text/plain; charset=utf-8")], exc.message.encode()
        if exc.kind == "auth":
            error = {"message": exc.message, "type": "no_db_connection", "param": None, "code": "400"}
        else:
            _, raw = super().error(exc, request_id)
            error = json.loads(raw)["error"]
            cls = _LITELLM_ERRORS.get(exc.status, "APIError")
            if not error["message"].startswith("/chat/completions"):
                error["message"] = f"litellm.{cls}: OpenAIException - {exc.message}"
            error["type"] = "throttling_error" if exc.status == 429 else error["type"]
            error["code"] = str(exc.status)
        return [("content-type", "application/json")], _dumps({"error": error})

    def ratelimit_headers(
        self, rpm: TokenBucket | None, tpm: TokenBucket | None, now: float, wall: float
    ) -> list[tuple[str, str]]:
        backend = super().ratelimit_headers(rpm, tpm, now, wall)
        own = [(k, v) for k, v in backend if not k.startswith("x-ratelimit-reset-")]
        return [*own, *((f"llm_provider-{k}", v) for k, v in backend)]

    def retry_headers(self, seconds: float) -> list[tuple[str, str]]:
        return [(f"llm_provider-{k}", v) for k, v in super().retry_headers(seconds)]

    def extra_headers(self, ctx: Ctx) -> list[tuple[str, str]]:
        return [
            ("x-litellm-model-id", f"sim-{ctx.model}"),
            ("x-litellm-model-name", f"openai/{ctx.model}"),
            ("x-litellm-model-api-base", "http://sim.invalid/v1"),
            ("x-litellm-model-group", ctx.model),
            ("x-litellm-attempted-retries", "0"),
            ("x-litellm-attempted-fallbacks", "0"),
            ("x-litellm-response-cost", "0.0"),
            ("x-litellm-version", "1.108.7-sim"),
        ]
