"""Anthropic Messages, as the official ``anthropic`` SDK expects it (vendor-apis §3)."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
from typing import TYPE_CHECKING, Any

from harness.sim._answer import Prompt, ToolSpec
from harness.sim.handlers._base import Ctx, Parsed, SimDialect, SimHTTPError, StreamEncoder, key_matches

if TYPE_CHECKING:
    from harness._http import Request
    from harness.behaviour import SimEndpoint
    from harness.sim._answer import Plan
    from harness.sim._cache import CacheMode
    from harness.sim._limits import TokenBucket

__all__ = ["AnthropicSim"]

_ERR_TYPE = {
    "bad_request": "invalid_request_error",
    "context_length": "invalid_request_error",
    "auth": "authentication_error",
    "not_found": "not_found_error",
    "rate_requests": "rate_limit_error",
    "rate_tokens": "rate_limit_error",
    "overloaded": "overloaded_error",
    "unavailable": "api_error",
    "server": "api_error",
    "timeout": "timeout_error",
    "conflict": "invalid_request_error",
    "bad_gateway": "api_error",
    "gateway_timeout": "timeout_error",
}
_STOP = {"stop": "end_turn", "length": "max_tokens", "tool": "tool_use"}


def _stop_reason(plan: Plan) -> str:
    return "stop_sequence" if plan.stop_sequence is not None else _STOP[plan.finish]


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _block_text(content: Any) -> tuple[str, bool]:
    """Text of a message's content (tool calls included, for token counting) and whether it carries a
    tool_result."""
    if isinstance(content, str):
        return content, False
    if not isinstance(content, list):
        return "", False
    texts: list[str] = []
    tool_result = False
    for b in content:
        if not isinstance(b, dict):
            continue
        if b.get("type") == "text":
            texts.append(str(b.get("text", "")))
        elif b.get("type") == "tool_result":
            tool_result = True
            inner, _ = _block_text(b.get("content"))
            texts.append(inner)
        elif b.get("type") == "tool_use":
            texts.append(str(b.get("name", "")) + json.dumps(b.get("input"), separators=(",", ":")))
    return "\n".join(texts), tool_result


_MAX_BREAKPOINTS = 4


def _cache_marks(content: Any, where: str) -> list[str]:
    """The ``ttl`` ("5m" or "1h") of each ``cache_control`` on ``content``'s blocks (400 on a bad one)."""
    if not isinstance(content, list):
        return []
    out = []
    for j, b in enumerate(content):
        cc = b.get("cache_control") if isinstance(b, dict) else None
        if cc is None:
            continue
        if not isinstance(cc, dict) or cc.get("type") != "ephemeral":
            message = f"{where}.{j}.cache_control.type: Input should be 'ephemeral'"
            raise SimHTTPError(400, "bad_request", message)
        ttl = cc.get("ttl", "5m")
        if ttl not in ("5m", "1h"):
            raise SimHTTPError(
                400, "bad_request", f"{where}.{j}.cache_control.ttl: Input should be '5m' or '1h'"
            )
        out.append(str(ttl))
    return out


def _breakpoints(body: dict[str, Any], has_system: bool) -> tuple[tuple[int, str], ...]:
    """``cache_control`` marks as (prefix boundary, ttl) in wire order: tools (boundary 0), system (1),
    then message i (boundary i + 1 after a system, i without); a mark on any block of a message ends its
    prefix at the end of that message. Refused as Anthropic refuses them: more than 4, or a 1-hour mark
    after a 5-minute one."""
    marks: list[tuple[int, str]] = [(0, ttl) for ttl in _cache_marks(body.get("tools"), "tools")]
    system = body.get("system")
    marks += [(1, ttl) for ttl in _cache_marks(system, "system")]
    messages = body.get("messages")
    for i, m in enumerate(messages if isinstance(messages, list) else []):
        content = m.get("content") if isinstance(m, dict) else None
        k = i + 1 + int(has_system)
        marks += [(k, ttl) for ttl in _cache_marks(content, f"messages.{i}.content")]
    if len(marks) > _MAX_BREAKPOINTS:
        raise SimHTTPError(
            400,
            "bad_request",
            f"A maximum of {_MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {len(marks)}.",
        )
    seen_5m = False
    for _, ttl in marks:
        if ttl == "1h" and seen_5m:
            raise SimHTTPError(
                400,
                "bad_request",
                "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block. "
                "Note that blocks are processed in the following order: `tools`, `system`, `messages`.",
            )
        seen_5m = seen_5m or ttl == "5m"
    return tuple(marks)


def _usage(plan: Plan, ctx: Ctx, output_tokens: int) -> dict[str, Any]:
    """``input_tokens`` excludes the cache reads and writes, reported beside it."""
    c = ctx.cache
    return {
        "input_tokens": plan.prompt_tokens - c.read - c.write,
        "cache_creation_input_tokens": c.write,
        "cache_read_input_tokens": c.read,
        "cache_creation": {"ephemeral_5m_input_tokens": c.write_5m, "ephemeral_1h_input_tokens": c.write_1h},
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _blocks(content: Any, kind: str) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(content, list):
        return []
    return [(j, b) for j, b in enumerate(content) if isinstance(b, dict) and b.get("type") == kind]


def _tool_use_ids(content: Any, i: int) -> list[str]:
    """Ids of an assistant message's ``tool_use`` blocks (400 on a block Anthropic refuses)."""
    ids: list[str] = []
    for j, b in _blocks(content, "tool_use"):
        if not isinstance(b.get("id"), str) or not isinstance(b.get("name"), str):
            raise SimHTTPError(
                400, "bad_request", f"messages.{i}.content.{j}.tool_use: id and name: Field required"
            )
        if not isinstance(b.get("input"), dict):
            raise SimHTTPError(
                400,
                "bad_request",
                f"messages.{i}.content.{j}.tool_use.input: Input should be a valid dictionary",
            )
        ids.append(b["id"])
    return ids


def _check_results(content: Any, i: int, open_ids: list[str]) -> None:
    """Every ``tool_result`` answers a ``tool_use`` of the previous message, and every such call is answered
    (the rule and wording of Anthropic's 400s)."""
    answered: set[object] = set()
    for j, b in _blocks(content, "tool_result"):
        use_id = b.get("tool_use_id")
        if use_id not in open_ids:
            raise SimHTTPError(
                400,
                "bad_request",
                f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                f"{use_id}. Each `tool_result` block must have a corresponding `tool_use` block in the "
                "previous message.",
            )
        answered.add(use_id)
    missing = [x for x in open_ids if x not in answered]
    if missing:
        raise SimHTTPError(
            400,
            "bad_request",
            f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks immediately after: "
            f"{', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` block in "
            "the next message.",
        )


def _thinking_budget(body: dict[str, Any], max_tokens: int) -> int | None:
    """The ``thinking.budget_tokens`` of an extended-thinking request (None: no thinking), refused as
    Anthropic refuses it: below 1,024, not below ``max_tokens``, or with a temperature other than 1."""
    thinking = body.get("thinking")
    if thinking is None:
        return None
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "disabled":
        return None
    if kind != "enabled":
        raise SimHTTPError(
            400, "bad_request", "thinking.type: Input tag does not match 'enabled', 'disabled'"
        )
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool):
        raise SimHTTPError(400, "bad_request", "thinking.enabled.budget_tokens: Field required")
    if budget < 1024:
        raise SimHTTPError(
            400,
            "bad_request",
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        )
    if max_tokens <= budget:
        raise SimHTTPError(
            400,
            "bad_request",
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation "
            "at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-"
            "window-size",
        )
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        raise SimHTTPError(
            400,
            "bad_request",
            "`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation "
            "at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility",
        )
    return budget


def _rfc3339(wall: float) -> str:
    return _rfc3339_s(int(wall))


@functools.lru_cache(maxsize=256)
def _rfc3339_s(wall_s: int) -> str:  # resets repeat within a window: format each second once
    return dt.datetime.fromtimestamp(wall_s, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _signature(thinking: str) -> str:
    """A deterministic stand-in for Anthropic's opaque thinking signature (base64 text)."""
    digest = hashlib.blake2b(thinking.encode(), digest_size=48).digest()
    return base64.b64encode(digest).decode()


class _MsgEncoder(StreamEncoder):
    """Thinking, when shown, is content block 0 (``thinking_delta`` pieces, then one ``signature_delta``)
    and the answer block 1, as extended thinking streams."""

    __slots__ = ("ctx", "plan", "pre", "r_n")

    def __init__(self, plan: Plan, ctx: Ctx) -> None:
        self.plan = plan
        self.ctx = ctx
        self.r_n = len(plan.reasoning_pieces) if ctx.show_reasoning else 0
        kind = b"text_delta" if plan.kind == "text" else b"input_json_delta"
        field = b"text" if plan.kind == "text" else b"partial_json"
        index = b"1" if self.r_n else b"0"
        self.pre = (
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
            + index
            + b',"delta":{"type":"'
            + kind
            + b'","'
            + field
            + b'":'
        )

    def head(self) -> bytes:
        msg: dict[str, Any] = {
            "id": self.ctx.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.ctx.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage(self.plan, self.ctx, 1),
        }
        block = self._answer_block()
        if self.r_n:
            block = {"type": "thinking", "thinking": "", "signature": ""}
        return (
            b"event: message_start\ndata: "
            + _dumps({"type": "message_start", "message": msg})
            + b"\n\nevent: content_block_start\ndata: "
            + _dumps({"type": "content_block_start", "index": 0, "content_block": block})
            + b'\n\nevent: ping\ndata: {"type": "ping"}\n\n'
        )

    def _answer_block(self) -> dict[str, Any]:
        if self.plan.kind == "text":
            return {"type": "text", "text": ""}
        return {
            "type": "tool_use",
            "id": f"toolu_{self.ctx.message_id[-24:]}",
            "name": self.plan.tool_name,
            "input": {},
        }

    def piece(self, i: int) -> bytes:
        r_n = self.r_n
        if i < r_n:
            delta = {"type": "thinking_delta", "thinking": self.plan.reasoning_pieces[i]}
            return (
                b"event: content_block_delta\ndata: "
                + _dumps({"type": "content_block_delta", "index": 0, "delta": delta})
                + b"\n\n"
            )
        head = b""
        if r_n and i == r_n:  # the thinking block ends with its signature; the answer's block opens
            signature = {"type": "signature_delta", "signature": _signature(self.plan.reasoning_text)}
            start = {"type": "content_block_start", "index": 1, "content_block": self._answer_block()}
            head = (
                b"event: content_block_delta\ndata: "
                + _dumps({"type": "content_block_delta", "index": 0, "delta": signature})
                + b'\n\nevent: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
                + b"event: content_block_start\ndata: "
                + _dumps(start)
                + b"\n\n"
            )
        return head + self.pre + json.dumps(self.plan.pieces[i - r_n]).encode() + b"}}\n\n"

    def tail(self, n_done: int, truncated: bool) -> bytes:
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": _stop_reason(self.plan), "stop_sequence": self.plan.stop_sequence},
            "usage": {"output_tokens": self.plan.completion_tokens + self.plan.reasoning_tokens},
        }
        index = b"1" if self.r_n else b"0"
        return (
            b'event: content_block_stop\ndata: {"type":"content_block_stop","index":' + index + b"}\n\n"
            b"event: message_delta\ndata: " + _dumps(delta) + b"\n\n"
            b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
        )

    def error(self) -> bytes:
        return (
            b"event: error\n"
            b'data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
        )


class AnthropicSim(SimDialect):
    name = "anthropic-messages"
    request_id_header = "request-id"
    cache_mode: CacheMode = "explicit"

    def route(self, ep: SimEndpoint, method: str, rest: str) -> tuple[str, str] | None:
        if rest == "/v1/messages" and method == "POST":
            return ("chat", "")
        if rest == "/v1/messages/count_tokens" and method == "POST":
            return ("count", "count")
        if rest == "/v1/models" and method == "GET":
            return ("models", "")
        return None

    def check_auth(self, ep: SimEndpoint, req: Request) -> None:
        key = req.headers.get("x-api-key")
        if not key:
            scheme, _, token = (req.headers.get("authorization") or "").partition(" ")
            key = token.strip() if scheme.lower() == "bearer" else ""
        if not key:
            raise SimHTTPError(401, "auth", "x-api-key header is required")
        if not key_matches(key, ep.api_key):
            raise SimHTTPError(401, "auth", "invalid x-api-key")
        if not req.headers.get("anthropic-version"):
            raise SimHTTPError(400, "bad_request", "anthropic-version: header is required")

    def parse(self, ep: SimEndpoint, req: Request, body: Any, op_arg: str) -> Parsed:
        if not isinstance(body, dict):
            raise SimHTTPError(400, "bad_request", "Invalid JSON body")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise SimHTTPError(400, "bad_request", "model: Field required")
        if model != ep.model:
            raise SimHTTPError(404, "not_found", f"model: {model}")
        max_tokens = body.get("max_tokens")
        if op_arg == "count":  # count_tokens takes the same body without max_tokens
            max_tokens = max_tokens if isinstance(max_tokens, int) else 1
        if max_tokens is None:
            raise SimHTTPError(400, "bad_request", "max_tokens: Field required")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise SimHTTPError(
                400, "bad_request", "max_tokens: Input should be a valid integer greater than 0"
            )
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise SimHTTPError(400, "bad_request", "messages: Field required")
        texts: list[str] = []
        system = body.get("system")
        if system is not None:
            texts.append(_block_text(system)[0])
        last_user = ""
        after_tool = False
        open_ids: list[str] = []  # tool_use ids of the previous (assistant) message
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
                raise SimHTTPError(400, "bad_request", "messages: roles must be 'user' or 'assistant'")
            content = m.get("content")
            if m["role"] == "user":
                _check_results(content, i, open_ids)
                open_ids = []
            else:
                if open_ids:
                    _check_results(None, i, open_ids)  # an assistant turn right after unanswered calls
                open_ids = _tool_use_ids(content, i)
            text, tool_result = _block_text(content)
            texts.append(text)
            if m["role"] == "user":
                said = _block_text([b for _, b in _blocks(content, "text")])[0] if tool_result else text
                if said or not tool_result:  # tool results alone keep the question they answer
                    last_user = said
            after_tool = tool_result
        tools: list[ToolSpec] = []
        for t in body.get("tools") or []:
            if not isinstance(t, dict) or not isinstance(t.get("name"), str):
                raise SimHTTPError(400, "bad_request", "tools: each tool needs a name")
            schema = t.get("input_schema")
            tools.append(ToolSpec(t["name"], schema if isinstance(schema, dict) else {}))
        tc = body.get("tool_choice")
        tool_choice: str | None = None
        if isinstance(tc, dict):
            kind = tc.get("type")
            tool_choice = {"auto": "auto", "any": "required", "none": "none"}.get(str(kind))
            if kind == "tool":
                tool_choice = str(tc.get("name", ""))
        stops = tuple(s for s in body.get("stop_sequences") or () if isinstance(s, str))
        budget = _thinking_budget(body, max_tokens) if op_arg != "count" else None
        prompt = Prompt(
            texts=texts,
            last_user=last_user,
            max_tokens=max_tokens,
            tools=tools,
            tool_choice=tool_choice,
            after_tool_result=after_tool,
            stop=stops,
            breakpoints=_breakpoints(body, system is not None),
            reasoning_asked=budget is not None,
            reasoning_budget=budget,
        )
        return Parsed(prompt, body.get("stream") is True, True)

    def error(self, exc: SimHTTPError, request_id: str) -> tuple[list[tuple[str, str]], bytes]:
        etype = _ERR_TYPE.get(exc.kind, "api_error")
        message = "Overloaded" if exc.kind == "overloaded" else exc.message
        body = {"type": "error", "error": {"type": etype, "message": message}, "request_id": request_id}
        return [("content-type", "application/json")], _dumps(body)

    def ratelimit_headers(
        self, rpm: TokenBucket | None, tpm: TokenBucket | None, now: float, wall: float
    ) -> list[tuple[str, str]]:
        h: list[tuple[str, str]] = []
        for label, b in (("requests", rpm), ("tokens", tpm)):
            if b is not None:
                h += [
                    (f"anthropic-ratelimit-{label}-limit", str(int(b.limit_per_min))),
                    (f"anthropic-ratelimit-{label}-remaining", str(b.remaining(now))),
                    (f"anthropic-ratelimit-{label}-reset", _rfc3339(wall + b.reset_s(now))),
                ]
        return h

    def context_error(self, prompt_tokens: int, max_tokens: int | None, window: int) -> SimHTTPError:
        if prompt_tokens > window:
            return SimHTTPError(
                400, "context_length", f"prompt is too long: {prompt_tokens} tokens > {window} maximum"
            )
        return SimHTTPError(
            400,
            "context_length",
            f"input length and `max_tokens` exceed context limit: {prompt_tokens} + {max_tokens} > "
            f"{window}, decrease input length or `max_tokens` and try again",
        )

    def new_id(self, rnd: int) -> str:
        return f"msg_sim{rnd:024x}"[:31]

    def body(self, plan: Plan, ctx: Ctx) -> bytes:
        content: list[dict[str, Any]] = []
        if ctx.show_reasoning and plan.reasoning_pieces:
            thinking = plan.reasoning_text
            content.append({"type": "thinking", "thinking": thinking, "signature": _signature(thinking)})
        if plan.kind == "text":
            content.append({"type": "text", "text": plan.text})
        else:
            content += [
                {
                    "type": "tool_use",
                    "id": f"toolu_{ctx.message_id[-24:]}",
                    "name": plan.tool_name,
                    "input": json.loads(plan.tool_args),
                }
            ]
        return _dumps(
            {
                "id": ctx.message_id,
                "type": "message",
                "role": "assistant",
                "model": ctx.model,
                "content": content,
                "stop_reason": _stop_reason(plan),
                "stop_sequence": plan.stop_sequence,
                "usage": _usage(
                    plan, ctx, plan.completion_tokens + plan.reasoning_tokens
                ),  # thinking included
            }
        )

    def encoder(self, plan: Plan, ctx: Ctx) -> StreamEncoder:
        return _MsgEncoder(plan, ctx)

    def models(self, ep: SimEndpoint) -> bytes:
        return _dumps(
            {
                "data": [
                    {
                        "type": "model",
                        "id": ep.model,
                        "display_name": ep.model,
                        "created_at": "2025-01-01T00:00:00Z",
                    }
                ],
                "has_more": False,
                "first_id": ep.model,
                "last_id": ep.model,
            }
        )
