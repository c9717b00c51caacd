"""OpenAI Chat Completions and Azure OpenAI as the official ``openai`` SDK expects them (vendor-apis §1-2)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from harness.sim._answer import Prompt, ToolSpec
from harness.sim._limits import go_duration
from harness.sim.handlers._base import Ctx, Parsed, SimDialect, SimHTTPError, StreamEncoder, key_matches

if TYPE_CHECKING:
    from harness._http import Request
    from harness.behaviour import SimEndpoint
    from harness.sim._answer import Plan
    from harness.sim._limits import TokenBucket

__all__ = ["AzureSim", "OpenAISim"]

_ERR_TYPE = {
    "bad_request": ("invalid_request_error", None),
    "context_length": ("invalid_request_error", "context_length_exceeded"),
    "auth": ("invalid_request_error", "invalid_api_key"),
    "not_found": ("invalid_request_error", "model_not_found"),
    "rate_requests": ("requests", "rate_limit_exceeded"),
    "rate_tokens": ("tokens", "rate_limit_exceeded"),
    "overloaded": ("server_error", "service_unavailable"),
    "unavailable": ("server_error", "service_unavailable"),
    "server": ("server_error", None),
    "timeout": ("timeout", None),
    "conflict": ("invalid_request_error", "conflict"),
    "bad_gateway": ("server_error", None),
    "gateway_timeout": ("server_error", None),
}
_FINISH = {"stop": "stop", "length": "length", "tool": "tool_calls"}
_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") in ("text", None)
        )
    return ""


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _usage(plan: Plan, ctx: Ctx) -> dict[str, Any]:
    """OpenAI counts reasoning inside ``completion_tokens`` and again in ``reasoning_tokens``;
    ``prompt_tokens`` includes the cached ones (``prompt_tokens_details.cached_tokens``)."""
    completion = plan.completion_tokens + plan.reasoning_tokens
    return {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": plan.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": ctx.cache.read, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": plan.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _tool_calls(calls: Any, i: int) -> dict[str, str]:
    """An assistant message's ``tool_calls`` → {id: name + arguments} (400 on a shape OpenAI refuses)."""
    where = f"messages.[{i}].tool_calls"
    if not isinstance(calls, list) or not calls:
        raise SimHTTPError(
            400, "bad_request", f"Invalid value for '{where}': expected a non-empty array.", param=where
        )
    out: dict[str, str] = {}
    for j, call in enumerate(calls):
        fn = call.get("function") if isinstance(call, dict) else None
        if (
            not isinstance(fn, dict)
            or not isinstance(call.get("id"), str)
            or not isinstance(fn.get("name"), str)
        ):
            raise SimHTTPError(
                400,
                "bad_request",
                f"Invalid value for '{where}.[{j}]': needs id and function.name.",
                param=where,
            )
        if not isinstance(fn.get("arguments"), str):
            raise SimHTTPError(
                400,
                "bad_request",
                f"Invalid type for '{where}.[{j}].function.arguments': expected a string.",
                param=f"{where}.[{j}].function.arguments",
            )
        out[call["id"]] = fn["name"] + fn["arguments"]
    return out


def _answer_call(m: dict[str, Any], i: int, pending: dict[str, bool] | None) -> None:
    """A tool message answers a call of the assistant turn just before it, as OpenAI insists."""
    call_id = m.get("tool_call_id")
    if not isinstance(call_id, str):
        raise SimHTTPError(
            400,
            "bad_request",
            "Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'.",
            param=f"messages.[{i}].tool_call_id",
        )
    if pending is None:
        raise SimHTTPError(
            400,
            "bad_request",
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
            "with 'tool_calls'.",
            param=f"messages.[{i}].role",
        )
    if call_id not in pending:
        raise SimHTTPError(
            400,
            "bad_request",
            f"Invalid parameter: 'tool_call_id' of '{call_id}' not found in 'tool_calls' of previous "
            "message.",
            param=f"messages.[{i}].tool_call_id",
        )
    pending[call_id] = True


def _all_answered(pending: dict[str, bool] | None) -> None:
    missing = [k for k, done in (pending or {}).items() if not done]
    if missing:
        raise SimHTTPError(
            400,
            "bad_request",
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
            "'tool_call_id'. The following tool_call_ids did not have response messages: "
            + ", ".join(missing),
            param="messages",
        )


def parse_chat(body: Any, *, model_check: str | None) -> Parsed:
    """The common Chat Completions body → Parsed (raises SimHTTPError 400/404)."""
    if not isinstance(body, dict):
        raise SimHTTPError(400, "bad_request", "We could not parse the JSON body of your request.")
    model = body.get("model")
    if model_check is not None:
        if not isinstance(model, str) or not model:
            raise SimHTTPError(400, "bad_request", "you must provide a model parameter", param="model")
        if model != model_check:
            raise SimHTTPError(
                404, "not_found", f"The model `{model}` does not exist or you do not have access to it."
            )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise SimHTTPError(400, "bad_request", "'messages' must be a non-empty array", param="messages")
    texts: list[str] = []
    last_user = ""
    after_tool = False
    pending: dict[str, bool] | None = None  # ids of the last assistant turn's tool calls -> answered yet
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in (
            "system",
            "developer",
            "user",
            "assistant",
            "tool",
        ):
            raise SimHTTPError(400, "bad_request", "Invalid value for 'messages'.", param="messages")
        role = m["role"]
        t = _text_of(m.get("content"))
        if role == "tool":
            _answer_call(m, i, pending)
        else:
            _all_answered(pending)
            pending = None
        if role == "assistant" and m.get("tool_calls") is not None:
            calls = _tool_calls(m["tool_calls"], i)
            pending = dict.fromkeys(calls, False)
            t += "".join(calls.values())
        texts.append(t)
        if role == "user":
            last_user = t
        after_tool = role == "tool"
    _all_answered(pending)
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise SimHTTPError(400, "bad_request", "max_tokens must be a positive integer", param="max_tokens")
    stream = body.get("stream") is True
    opts = body.get("stream_options")
    if opts is not None and not stream:
        raise SimHTTPError(
            400,
            "bad_request",
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    include_usage = bool(stream and isinstance(opts, dict) and opts.get("include_usage"))
    tools: list[ToolSpec] = []
    for t in body.get("tools") or []:
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise SimHTTPError(400, "bad_request", "Invalid value for 'tools'.", param="tools")
        params = fn.get("parameters")
        tools.append(ToolSpec(fn["name"], params if isinstance(params, dict) else {}))
    tc = body.get("tool_choice")
    tool_choice: str | None
    if isinstance(tc, dict):
        tool_choice = str((tc.get("function") or {}).get("name", "required"))
    else:
        tool_choice = tc if isinstance(tc, str) else None
    rf = body.get("response_format")
    json_mode = isinstance(rf, dict) and rf.get("type") in ("json_object", "json_schema")
    schema = None
    if isinstance(rf, dict) and rf.get("type") == "json_schema":
        js = rf.get("json_schema")
        schema = js.get("schema") if isinstance(js, dict) and isinstance(js.get("schema"), dict) else None
    stop = body.get("stop")
    stops = (stop,) if isinstance(stop, str) else tuple(s for s in stop or () if isinstance(s, str))
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in _EFFORTS:
        raise SimHTTPError(
            400,
            "bad_request",
            f"Invalid value: '{str(effort)[:40]}'. Supported values are: "
            + ", ".join(f"'{e}'" for e in _EFFORTS)
            + ".",
            param="reasoning_effort",
        )
    prompt = Prompt(
        texts=texts,
        last_user=last_user,
        max_tokens=max_tokens,
        tools=tools,
        tool_choice=tool_choice,
        after_tool_result=after_tool,
        json_mode=json_mode,
        json_schema=schema,
        stop=stops,
        reasoning_asked=effort is not None and effort != "none",
        reasoning_effort=effort,
    )
    return Parsed(prompt, stream, include_usage)


class _ChatEncoder(StreamEncoder):
    """Thinking, when shown, comes first as ``reasoning_content`` deltas (vLLM, DeepSeek)."""

    __slots__ = ("azure", "ctx", "plan", "pre", "r_n", "suf")

    def __init__(self, plan: Plan, ctx: Ctx, azure: bool) -> None:
        self.plan = plan
        self.ctx = ctx
        self.azure = azure
        self.r_n = len(plan.reasoning_pieces) if ctx.show_reasoning else 0
        head = (
            b'data: {"id":"%s","object":"chat.completion.chunk","created":%d,"model":%s,'
            b'"system_fingerprint":null,"choices":[{"index":0,"delta":'
            % (ctx.message_id.encode(), ctx.created, _dumps(ctx.model))
        )
        self.pre = head
        usage_null = b',"usage":null' if ctx.include_usage else b""
        self.suf = b',"logprobs":null,"finish_reason":null}]' + usage_null + b"}\n\n"

    def head(self) -> bytes:
        out = b""
        if self.azure:
            out = (
                b'data: {"choices":[],"created":0,"id":"","model":"","object":"",'
                b'"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}\n\n'
            )
        content = b'""' if self.plan.kind == "text" else b"null"
        return out + self.pre + b'{"role":"assistant","content":' + content + b',"refusal":null}' + self.suf

    def piece(self, i: int) -> bytes:
        if i < self.r_n:
            thought = json.dumps(self.plan.reasoning_pieces[i]).encode()
            return self.pre + b'{"reasoning_content":' + thought + b"}" + self.suf
        i -= self.r_n
        text = json.dumps(self.plan.pieces[i]).encode()
        if self.plan.kind == "text":
            return self.pre + b'{"content":' + text + b"}" + self.suf
        if i == 0:
            call = b'{"index":0,"id":"call_%s","type":"function","function":{"name":%s,"arguments":%s}}' % (
                self.ctx.message_id[-24:].encode(),
                _dumps(self.plan.tool_name),
                text,
            )
        else:
            call = b'{"index":0,"function":{"arguments":%s}}' % text
        return self.pre + b'{"tool_calls":[' + call + b"]}" + self.suf

    def tail(self, n_done: int, truncated: bool) -> bytes:
        finish = _FINISH[self.plan.finish]
        usage_null = b',"usage":null' if self.ctx.include_usage else b""
        out = (
            self.pre + b'{},"logprobs":null,"finish_reason":"%s"}]' % finish.encode() + usage_null + b"}\n\n"
        )
        if self.ctx.include_usage:
            out += (
                b'data: {"id":"%s","object":"chat.completion.chunk","created":%d,"model":%s,'
                b'"system_fingerprint":null,"choices":[],"usage":%s}\n\n'
                % (
                    self.ctx.message_id.encode(),
                    self.ctx.created,
                    _dumps(self.ctx.model),
                    _dumps(_usage(self.plan, self.ctx)),
                )
            )
        return out + b"data: [DONE]\n\n"

    def error(self) -> bytes:
        return (
            b'data: {"error":{"message":"The server had an error while processing your request. Sorry about '
            b'that!","type":"server_error","param":null,"code":null}}\n\n'
        )


class OpenAISim(SimDialect):
    name = "openai-chat"
    request_id_header = "x-request-id"
    azure = False
    shows_reasoning = False  # o-series: reasoning is only counted (completion_tokens_details), never sent

    def route(self, ep: SimEndpoint, method: str, rest: str) -> tuple[str, str] | None:
        if rest in ("/v1/chat/completions", "/chat/completions") and method == "POST":
            return ("chat", "")
        if rest in ("/v1/models", "/models") and method == "GET":
            return ("models", "")
        return None

    def check_auth(self, ep: SimEndpoint, req: Request) -> None:
        auth = req.headers.get("authorization") or ""
        scheme, _, key = auth.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise SimHTTPError(
                401,
                "auth",
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if not key_matches(key.strip(), ep.api_key):
            raise SimHTTPError(401, "auth", "Incorrect API key provided.")

    def parse(self, ep: SimEndpoint, req: Request, body: Any, op_arg: str) -> Parsed:
        return parse_chat(body, model_check=ep.model)

    def error(self, exc: SimHTTPError, request_id: str) -> tuple[list[tuple[str, str]], bytes]:
        etype, code = _ERR_TYPE.get(exc.kind, ("server_error", None))
        if exc.status == 400 and exc.kind == "bad_request":
            code = "invalid_value" if exc.param else None
        if exc.kind == "auth" and exc.message.startswith("You didn't"):
            code = None
        body = {"error": {"message": exc.message, "type": etype, "param": exc.param, "code": code}}
        return [("content-type", "application/json")], _dumps(body)

    def ratelimit_headers(
        self, rpm: TokenBucket | None, tpm: TokenBucket | None, now: float, wall: float
    ) -> list[tuple[str, str]]:
        h: list[tuple[str, str]] = []
        if rpm is not None:
            h += [
                ("x-ratelimit-limit-requests", str(int(rpm.limit_per_min))),
                ("x-ratelimit-remaining-requests", str(rpm.remaining(now))),
                ("x-ratelimit-reset-requests", go_duration(rpm.reset_s(now))),
            ]
        if tpm is not None:
            h += [
                ("x-ratelimit-limit-tokens", str(int(tpm.limit_per_min))),
                ("x-ratelimit-remaining-tokens", str(tpm.remaining(now))),
                ("x-ratelimit-reset-tokens", go_duration(tpm.reset_s(now))),
            ]
        return h

    def new_id(self, rnd: int) -> str:
        return f"chatcmpl-{rnd:032x}"[:38]

    def extra_headers(self, ctx: Ctx) -> list[tuple[str, str]]:
        return [("openai-version", "2020-10-01"), ("openai-organization", "bakeoff-sim")]

    def body(self, plan: Plan, ctx: Ctx) -> bytes:
        message: dict[str, Any] = {"role": "assistant", "content": plan.text, "refusal": None}
        if ctx.show_reasoning and plan.reasoning_pieces:
            message["reasoning_content"] = plan.reasoning_text
        if plan.kind == "tool":
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": f"call_{ctx.message_id[-24:]}",
                    "type": "function",
                    "function": {"name": plan.tool_name, "arguments": plan.tool_args},
                }
            ]
        return _dumps(
            {
                "id": ctx.message_id,
                "object": "chat.completion",
                "created": ctx.created,
                "model": ctx.model,
                "system_fingerprint": None,
                "service_tier": "default",
                "choices": [
                    {"index": 0, "message": message, "logprobs": None, "finish_reason": _FINISH[plan.finish]}
                ],
                "usage": _usage(plan, ctx),
            }
        )

    def encoder(self, plan: Plan, ctx: Ctx) -> StreamEncoder:
        return _ChatEncoder(plan, ctx, self.azure)

    def models(self, ep: SimEndpoint) -> bytes:
        return _dumps(
            {"object": "list", "data": [{"id": ep.model, "object": "model", "created": 0, "owned_by": "sim"}]}
        )


_AZURE_401 = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
    "for an active subscription and use a correct regional API endpoint for your resource."
)


class AzureSim(OpenAISim):
    """``/openai/deployments/{deployment}/chat/completions?api-version=…`` with the ``api-key`` header."""

    name = "azure-openai"
    azure = True

    def route(self, ep: SimEndpoint, method: str, rest: str) -> tuple[str, str] | None:
        parts = rest.split("/")
        # "", "openai", "deployments", "<dep>", "chat", "completions"
        if (
            method == "POST"
            and len(parts) == 6
            and parts[1] == "openai"
            and parts[2] == "deployments"
            and parts[4:] == ["chat", "completions"]
        ):
            return ("chat", parts[3])
        return None

    def check_auth(self, ep: SimEndpoint, req: Request) -> None:
        key = req.headers.get("api-key")
        if not key:
            auth = req.headers.get("authorization") or ""
            scheme, _, token = auth.partition(" ")
            key = token.strip() if scheme.lower() == "bearer" else ""
        if not key_matches(key, ep.api_key):
            raise SimHTTPError(401, "auth", _AZURE_401)

    def parse(self, ep: SimEndpoint, req: Request, body: Any, op_arg: str) -> Parsed:
        if not req.query.get("api-version"):
            raise SimHTTPError(404, "not_found", "Resource not found")
        if op_arg != ep.model:
            raise SimHTTPError(
                404,
                "not_found",
                "The API deployment for this resource does not exist. If you created the deployment within "
                "the last 5 minutes, please wait a moment and try again.",
            )
        return parse_chat(body, model_check=None)

    def error(self, exc: SimHTTPError, request_id: str) -> tuple[list[tuple[str, str]], bytes]:
        if exc.kind == "auth":
            return [("content-type", "application/json")], _dumps(
                {"error": {"code": "401", "message": exc.message}}
            )
        if exc.kind == "not_found":
            code = "404" if exc.message == "Resource not found" else "DeploymentNotFound"
            return [("content-type", "application/json")], _dumps(
                {"error": {"code": code, "message": exc.message}}
            )
        if exc.kind.startswith("rate_"):
            msg = (
                "Requests to the ChatCompletions_Create Operation under Azure OpenAI API have exceeded the "
                f"{'token' if exc.kind == 'rate_tokens' else 'call'} rate limit of your current pricing tier."
            )
            return [("content-type", "application/json")], _dumps({"error": {"code": "429", "message": msg}})
        return super().error(exc, request_id)

    def new_id(self, rnd: int) -> str:
        return f"chatcmpl-{rnd:032x}"[:38]

    def extra_headers(self, ctx: Ctx) -> list[tuple[str, str]]:
        return [("apim-request-id", ctx.request_id), ("x-ms-region", "Sim Central")]
