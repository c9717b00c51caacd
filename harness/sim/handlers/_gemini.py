"""Google Gemini Developer API, as the harness's ``gemini`` dialect expects it (vendor-apis §4.1).

``POST /v1beta/models/{model}:streamGenerateContent?alt=sse`` (a ``data: {GenerateContentResponse}``
event per piece, CRLF-terminated, no ``event:`` lines and no ``[DONE]``: the stream ends after the
chunk that carries ``finishReason`` and ``usageMetadata``), ``POST /v1beta/models/{model}:generateContent``
(one GenerateContentResponse) and ``GET /v1beta/models``; ``/v1/`` is accepted too. Key in
``x-goog-api-key`` or ``?key=``. Errors are Google RPC envelopes ``{"error": {code, message, status,
details?}}``; a 429's retry delay travels in the body (``RetryInfo.retryDelay``), never in a header.

Gemini sends no request-id header and no rate-limit headers. The simulator's request id is the
``responseId`` of every answer, so a client that reads it can find the request in the ground truth.

Simplifications: ``streamGenerateContent`` without ``alt=sse`` (a JSON array of responses) is refused
with 400; a tool call arrives whole in the first chunk (Gemini does not stream function arguments), the
later pieces of its plan send nothing; ``countTokens`` is not offered.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from harness.sim._answer import Prompt, ToolSpec
from harness.sim.handlers._base import Ctx, Parsed, SimDialect, SimHTTPError, StreamEncoder, key_matches

if TYPE_CHECKING:
    from harness._http import Request
    from harness.behaviour import SimEndpoint
    from harness.sim._answer import Plan
    from harness.sim._cache import CacheMode
    from harness.sim._limits import TokenBucket

__all__ = ["GeminiSim"]

_STATUS = {  # dialect-neutral kind → google.rpc.Code name
    "bad_request": "INVALID_ARGUMENT",
    "context_length": "INVALID_ARGUMENT",
    "auth": "PERMISSION_DENIED",
    "not_found": "NOT_FOUND",
    "rate_requests": "RESOURCE_EXHAUSTED",
    "rate_tokens": "RESOURCE_EXHAUSTED",
    "overloaded": "UNAVAILABLE",
    "unavailable": "UNAVAILABLE",
    "server": "INTERNAL",
    "timeout": "DEADLINE_EXCEEDED",
    "conflict": "ABORTED",
    "bad_gateway": "UNAVAILABLE",
    "gateway_timeout": "DEADLINE_EXCEEDED",
}
_SERVER_MESSAGE = {  # Gemini's own wording for the server-side failures
    "overloaded": "The model is overloaded. Please try again later.",
    "unavailable": "The model is overloaded. Please try again later.",
    "bad_gateway": "The service is currently unavailable.",
    "server": "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    "timeout": "Deadline expired before operation could complete.",
    "gateway_timeout": "Deadline expired before operation could complete.",
    "conflict": "The operation was aborted.",
}
_QUOTA = {
    "rate_requests": ("generate_content_requests", "GenerateRequestsPerMinutePerProjectPerModel"),
    "rate_tokens": ("generate_content_input_token_count", "GenerateContentInputTokensPerModelPerMinute"),
}
_BAD_KEY = "API key not valid. Please pass a valid API key."
_NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key "
    "or other form of API consumer identity to call this API."
)
_ENGINE_BAD_JSON = "We could not parse the JSON body of your request."  # the engine's (OpenAI) wording
_SERVICE = "generativelanguage.googleapis.com"
_CRLF2 = b"\r\n\r\n"


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _duration(seconds: float) -> str:
    """A protobuf Duration string ("22s", "0.250s"), rounded up to the millisecond."""
    ms = max(0, math.ceil(seconds * 1000 - 1e-6))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms // 1000}.{ms % 1000:03d}s"


def _bad(message: str) -> SimHTTPError:
    return SimHTTPError(400, "bad_request", message)


def _schema(s: Any) -> dict[str, Any]:
    """A Gemini Schema (``"type": "OBJECT"``) as lower-case JSON Schema, as the answer planner reads it."""
    if not isinstance(s, dict):
        return {}
    out: dict[str, Any] = {}
    for k, v in s.items():
        if k == "type" and isinstance(v, str):
            out[k] = v.lower()
        elif k == "properties" and isinstance(v, dict):
            out[k] = {name: _schema(p) for name, p in v.items()}
        elif k == "items":
            out[k] = _schema(v)
        else:
            out[k] = v
    return out


def _parts_text(parts: Any, where: str) -> tuple[str, int, int]:
    """Text of a content's parts, for token counting (a function call as name + compact JSON arguments,
    the way the other simulated dialects count it; a function response as its ``content`` text), and
    the number of functionCall and of functionResponse parts."""
    if not isinstance(parts, list) or not parts:
        raise _bad(f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.")
    texts: list[str] = []
    calls = responses = 0
    for p in parts:
        if not isinstance(p, dict):
            raise _bad(f"Invalid JSON payload received. Invalid value at '{where}.parts'.")
        if isinstance(p.get("text"), str):
            texts.append(p["text"])
        elif isinstance(p.get("functionCall"), dict):
            calls += 1
            call = p["functionCall"]
            texts.append(str(call.get("name", "")) + json.dumps(call.get("args", {}), separators=(",", ":")))
        elif isinstance(p.get("functionResponse"), dict):
            responses += 1
            resp = p["functionResponse"].get("response")
            content = resp.get("content") if isinstance(resp, dict) and len(resp) == 1 else None
            texts.append(content if isinstance(content, str) else json.dumps(resp, separators=(",", ":")))
    return "\n".join(texts), calls, responses


def _number(gen: dict[str, Any], name: str) -> float | None:
    v = gen.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _bad(f"Invalid JSON payload received. Invalid value at 'generation_config.{name}'.")
    return float(v)


def _thinking(gen: dict[str, Any]) -> tuple[int | None, bool]:
    """``thinkingConfig``: the budget (None: not asked; -1: dynamic; 0: off) and ``includeThoughts``."""
    cfg = gen.get("thinkingConfig", gen.get("thinking_config"))
    if cfg is None:
        return None, False
    if not isinstance(cfg, dict):
        raise _bad("Invalid JSON payload received. Invalid value at 'generation_config.thinking_config'.")
    budget = cfg.get("thinkingBudget", cfg.get("thinking_budget", -1))
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < -1:
        raise _bad(
            "* GenerateContentRequest.generation_config.thinking_config.thinking_budget: "
            "thinking_budget must be -1 (dynamic), 0 (off) or a positive number of tokens."
        )
    include = cfg.get("includeThoughts", cfg.get("include_thoughts", False)) is True
    return budget, include


def _chunk(parts: list[dict[str, Any]], ctx: Ctx, finish: str | None, usage: dict[str, Any] | None) -> bytes:
    cand: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if finish is not None:
        cand["finishReason"] = finish
    cand["index"] = 0
    resp: dict[str, Any] = {"candidates": [cand]}
    if usage is not None:
        resp["usageMetadata"] = usage
    resp["modelVersion"] = ctx.model
    resp["responseId"] = ctx.request_id
    return _dumps(resp)


def _finish(plan: Plan) -> str:
    return "MAX_TOKENS" if plan.finish == "length" else "STOP"


def _usage(plan: Plan, ctx: Ctx) -> dict[str, Any]:
    """Thinking is ``thoughtsTokenCount``, outside ``candidatesTokenCount`` and inside the total;
    ``promptTokenCount`` includes the implicitly cached ``cachedContentTokenCount`` (sent when > 0)."""
    usage: dict[str, Any] = {
        "promptTokenCount": plan.prompt_tokens,
        "candidatesTokenCount": plan.completion_tokens,
        "totalTokenCount": plan.prompt_tokens + plan.completion_tokens + plan.reasoning_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": plan.prompt_tokens}],
    }
    if ctx.cache.read:
        usage["cachedContentTokenCount"] = ctx.cache.read
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": ctx.cache.read}]
    if plan.reasoning_tokens:
        usage["thoughtsTokenCount"] = plan.reasoning_tokens
    return usage


def _call_part(plan: Plan) -> dict[str, Any]:
    return {"functionCall": {"name": plan.tool_name, "args": json.loads(plan.tool_args)}}


class _SSEEncoder(StreamEncoder):
    """Thinking, when shown, comes first as parts with ``"thought": true``."""

    __slots__ = ("ctx", "plan", "pre", "r_n", "suf")

    def __init__(self, plan: Plan, ctx: Ctx) -> None:
        self.plan = plan
        self.ctx = ctx
        self.r_n = len(plan.reasoning_pieces) if ctx.show_reasoning else 0
        self.pre = b'data: {"candidates":[{"content":{"parts":[{"text":'
        self.suf = (
            b'}],"role":"model"},"index":0}],"modelVersion":'
            + _dumps(ctx.model)
            + b',"responseId":'
            + _dumps(ctx.request_id)
            + b"}"
            + _CRLF2
        )

    def head(self) -> bytes:
        return b""  # Gemini sends nothing before the first candidate chunk

    def piece(self, i: int) -> bytes:
        if i < self.r_n:
            thought = json.dumps(self.plan.reasoning_pieces[i]).encode()
            return self.pre + thought + b',"thought":true' + self.suf
        i -= self.r_n
        if self.plan.kind == "text":
            return self.pre + json.dumps(self.plan.pieces[i]).encode() + self.suf
        if i == 0:  # the whole call at once: Gemini does not stream function arguments
            return b"data: " + _chunk([_call_part(self.plan)], self.ctx, None, None) + _CRLF2
        return b""

    def tail(self, n_done: int, truncated: bool) -> bytes:
        last = _chunk([{"text": ""}], self.ctx, _finish(self.plan), _usage(self.plan, self.ctx))
        return b"data: " + last + _CRLF2

    def error(self) -> bytes:
        err = {"error": {"code": 500, "message": _SERVER_MESSAGE["server"], "status": "INTERNAL"}}
        return b"data: " + _dumps(err) + _CRLF2


class GeminiSim(SimDialect):
    name = "gemini"
    request_id_header = ""  # Gemini sends none; responseId in the body carries the simulator's id
    retry_in_body = True
    cache_mode: CacheMode = "implicit"

    def route(self, ep: SimEndpoint, method: str, rest: str) -> tuple[str, str] | None:
        for version in ("/v1beta/", "/v1/"):
            if not rest.startswith(version):
                continue
            tail = rest[len(version) :]
            if tail == "models" and method == "GET":
                return ("models", "")
            if not tail.startswith("models/") or method != "POST":
                return None
            model, _, verb = tail[len("models/") :].rpartition(":")
            if model and verb in ("streamGenerateContent", "generateContent"):
                return ("chat", f"{verb} {model}")  # the verb has no space: parse() partitions at the first
            return None
        return None

    def check_auth(self, ep: SimEndpoint, req: Request) -> None:
        key = req.headers.get("x-goog-api-key") or req.query.get("key")
        if not key:
            raise SimHTTPError(403, "auth", _NO_KEY)
        if not key_matches(key, ep.api_key):
            raise SimHTTPError(400, "auth", _BAD_KEY)

    def parse(self, ep: SimEndpoint, req: Request, body: Any, op_arg: str) -> Parsed:
        verb, _, model = op_arg.partition(" ")
        stream = verb == "streamGenerateContent"
        if model != ep.model:
            raise SimHTTPError(
                404,
                "not_found",
                f"models/{model} is not found for API version v1beta, or is not supported for {verb}. "
                "Call ListModels to see the list of available models and their supported methods.",
            )
        if stream and req.query.get("alt") != "sse":
            raise _bad("the simulator streams only with alt=sse (the JSON-array form is not simulated)")
        if not isinstance(body, dict):
            raise _bad("Invalid JSON payload received. Expected an object.")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise _bad("* GenerateContentRequest.contents: contents is not specified")
        texts: list[str] = []
        system = body.get("systemInstruction", body.get("system_instruction"))
        if system is not None:
            parts = system.get("parts") if isinstance(system, dict) else None
            texts.append(_parts_text(parts, "system_instruction")[0])
        last_user = ""
        after_tool = False
        open_calls = 0  # functionCall parts of the previous turn
        for i, c in enumerate(contents):
            if not isinstance(c, dict):
                raise _bad(f"Invalid JSON payload received. Invalid value at 'contents[{i}]'.")
            role = c.get("role", "user")
            if role not in ("user", "model"):
                raise _bad(f"Please use a valid role: user, model. (contents[{i}].role: {str(role)[:40]!r})")
            text, calls, responses = _parts_text(c.get("parts"), f"contents[{i}]")
            if responses and not open_calls:  # Gemini's own rules and wording
                raise _bad(
                    "Please ensure that function response turn comes immediately after a function call turn."
                )
            if responses and responses != open_calls:
                raise _bad(
                    "Please ensure that the number of function response parts is equal to the number of "
                    "function call parts of the function call turn."
                )
            open_calls = calls if role == "model" else 0
            texts.append(text)
            if role == "user" and not responses:  # function responses keep the question they answer
                last_user = text
            after_tool = responses > 0
        gen = body.get("generationConfig", body.get("generation_config")) or {}
        if not isinstance(gen, dict):
            raise _bad("Invalid JSON payload received. Invalid value at 'generation_config'.")
        max_tokens = gen.get("maxOutputTokens", gen.get("max_output_tokens"))
        if max_tokens is not None and (
            not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
        ):
            raise _bad(
                "* GenerateContentRequest.generation_config.max_output_tokens: "
                "max_output_tokens must be positive."
            )
        temperature = _number(gen, "temperature")
        if temperature is not None and not 0 <= temperature <= 2:
            raise _bad(
                f"* GenerateContentRequest.generation_config.temperature: temperature {temperature:g} "
                "is out of range; it must be within [0.0, 2.0]."
            )
        _number(gen, "seed")
        budget, include_thoughts = _thinking(gen)
        stops_raw = gen.get("stopSequences", gen.get("stop_sequences")) or []
        if not isinstance(stops_raw, list) or len(stops_raw) > 5:
            raise _bad("* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences.")
        stops = tuple(s for s in stops_raw if isinstance(s, str))
        json_schema = gen.get("responseJsonSchema", gen.get("responseSchema"))
        json_mode = gen.get("responseMimeType") == "application/json" or isinstance(json_schema, dict)
        tools: list[ToolSpec] = []
        for t in body.get("tools") or []:
            decls = (
                t.get("functionDeclarations", t.get("function_declarations")) if isinstance(t, dict) else None
            )
            for d in decls or []:
                if not isinstance(d, dict) or not isinstance(d.get("name"), str) or not d["name"]:
                    raise _bad(
                        "* GenerateContentRequest.tools[0].function_declarations[0].name: "
                        "Name cannot be empty."
                    )
                params = d.get("parametersJsonSchema", d.get("parameters"))
                tools.append(ToolSpec(d["name"], _schema(params)))
        tool_choice: str | None = None
        tc = body.get("toolConfig")
        fcc = tc.get("functionCallingConfig") if isinstance(tc, dict) else None
        if isinstance(fcc, dict):
            mode = str(fcc.get("mode", "AUTO")).upper()
            allowed = fcc.get("allowedFunctionNames")
            tool_choice = {"AUTO": "auto", "ANY": "required", "NONE": "none"}.get(mode)
            if mode == "ANY" and isinstance(allowed, list) and len(allowed) == 1:
                tool_choice = str(allowed[0])
        prompt = Prompt(
            texts=texts,
            last_user=last_user,
            max_tokens=max_tokens,
            tools=tools,
            tool_choice=tool_choice,
            after_tool_result=after_tool,
            json_mode=json_mode,
            json_schema=_schema(json_schema) if isinstance(json_schema, dict) else None,
            stop=stops,
            reasoning_asked=budget is not None and budget != 0,
            reasoning_budget=None if budget is None or budget < 0 else budget,
            reasoning_include=include_thoughts,
        )
        return Parsed(prompt, stream, True)

    def error(self, exc: SimHTTPError, request_id: str) -> tuple[list[tuple[str, str]], bytes]:
        """The Google RPC envelope; ``exc.retry_after_s`` becomes a ``RetryInfo`` detail (Gemini sends the
        delay in the body only)."""
        retry_after_s = exc.retry_after_s
        status = _STATUS.get(exc.kind, "INTERNAL")
        message = _SERVER_MESSAGE.get(exc.kind, exc.message)
        details: list[dict[str, Any]] = []
        if exc.kind == "auth" and exc.status == 400:
            status = "INVALID_ARGUMENT"
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": _SERVICE},
                },
                {
                    "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                    "locale": "en-US",
                    "message": message,
                },
            ]
        elif exc.kind == "bad_request" and message == _ENGINE_BAD_JSON:
            message = "Invalid JSON payload received. Unexpected end of string."
        elif exc.kind in _QUOTA:
            metric, quota_id = _QUOTA[exc.kind]
            message = (
                "You exceeded your current quota, please check your plan and billing details. For more "
                "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
            )
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaMetric": f"{_SERVICE}/{metric}", "quotaId": quota_id}],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.Help",
                    "links": [
                        {
                            "description": "Learn more about Gemini API quotas",
                            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                        }
                    ],
                },
            ]
        if retry_after_s is not None:
            details.append(
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": _duration(retry_after_s)}
            )
        err: dict[str, Any] = {"code": exc.status, "message": message, "status": status}
        if details:
            err["details"] = details
        return [("content-type", "application/json; charset=UTF-8")], _dumps({"error": err})

    def ratelimit_headers(
        self, rpm: TokenBucket | None, tpm: TokenBucket | None, now: float, wall: float
    ) -> list[tuple[str, str]]:
        return []  # Gemini advertises no limits in headers

    def context_error(self, prompt_tokens: int, max_tokens: int | None, window: int) -> SimHTTPError:
        if prompt_tokens > window or not max_tokens:
            return SimHTTPError(
                400,
                "context_length",
                f"The input token count ({prompt_tokens}) exceeds the maximum number of tokens allowed "
                f"({window}).",
            )
        return SimHTTPError(
            400,
            "context_length",
            f"The input token count ({prompt_tokens}) plus max_output_tokens ({max_tokens}) exceeds the "
            f"maximum number of tokens allowed ({window}).",
        )

    def new_id(self, rnd: int) -> str:
        return f"{rnd:032x}"[:22]  # unused on the wire: responseId is the request id

    def body(self, plan: Plan, ctx: Ctx) -> bytes:
        parts: list[dict[str, Any]] = []
        if ctx.show_reasoning and plan.reasoning_pieces:
            parts.append({"text": plan.reasoning_text, "thought": True})
        parts.append({"text": plan.text} if plan.kind == "text" else _call_part(plan))
        return _chunk(parts, ctx, _finish(plan), _usage(plan, ctx))

    def encoder(self, plan: Plan, ctx: Ctx) -> StreamEncoder:
        return _SSEEncoder(plan, ctx)

    def models(self, ep: SimEndpoint) -> bytes:
        return _dumps(
            {
                "models": [
                    {
                        "name": f"models/{ep.model}",
                        "version": "001",
                        "displayName": ep.model,
                        "description": "simulated by bakeoff",
                        "inputTokenLimit": ep.behaviour.max_context_tokens or 1_048_576,
                        "outputTokenLimit": 65_536,
                        "supportedGenerationMethods": ["generateContent", "streamGenerateContent"],
                    }
                ]
            }
        )
