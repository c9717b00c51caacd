"""OpenAI Chat Completions and Azure OpenAI (same body and stream; different URL and auth)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from harness.config import Endpoint, PromptItem
from harness.dialects._common import (
    CommonResponses,
    count,
    event_object,
    join_url,
    merge_extra_body,
    short,
)
from harness.dialects._events import (
    Delta,
    Done,
    Event,
    Finish,
    HttpRequest,
    Malformed,
    Meta,
    StreamError,
    Usage,
)
from harness.dialects._sse import MAX_EVENT_BYTES, SSEDecoder, SSETooLarge

__all__ = ["AzureOpenAIWire", "OpenAIChatWire", "OpenAIStreamParser"]

AZURE_DEFAULT_API_VERSION = "2024-10-21"
_ERROR_TYPES = {
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", "service_unavailable"),
    529: ("server_error", "overloaded"),
}


def _messages(prompt: PromptItem) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if prompt.system is not None:
        out.append({"role": "system", "content": prompt.system})
    for m in prompt.messages:
        msg: dict[str, Any] = {"role": m.role, "content": m.content}
        if m.tool_calls:
            msg["content"] = m.content or None  # a call-only assistant turn has null content on the wire
            msg["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": _arguments(call.arguments)},
                }
                for call in m.tool_calls
            ]
        if m.tool_call_id is not None:
            msg["tool_call_id"] = m.tool_call_id
        out.append(msg)
    return out


def _arguments(arguments: dict[str, Any]) -> str:
    """A call's arguments as OpenAI sends them: JSON text, compact, non-ASCII kept as written."""
    return json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))


def _openai_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Accept OpenAI function tools as written, and convert Anthropic-style ``{name, input_schema}``.

    Never raises: a tool is the prompt author's input, and the vendor is the judge of it. A field the
    conversion needs but the tool lacks (an Anthropic-style tool without ``name``) is left out, and any
    shape this cannot convert is sent as written; the vendor then answers 400 and the attempt records
    ``http_4xx`` with the vendor's own reason, the same as it would for any other request it refuses.
    """
    out = []
    for t in tools:
        if "input_schema" in t and "function" not in t:
            fn: dict[str, Any] = {}
            if "name" in t:
                fn["name"] = t["name"]
            fn["description"] = t.get("description", "")
            fn["parameters"] = t["input_schema"]
            out.append({"type": "function", "function": fn})
        else:
            out.append(t)
    return out


def _usage(u: Mapping[str, Any]) -> Usage:
    ptd = u.get("prompt_tokens_details")
    ctd = u.get("completion_tokens_details")
    cached = ptd.get("cached_tokens") if isinstance(ptd, dict) else None
    write = ptd.get("cache_write_tokens") if isinstance(ptd, dict) else None
    if write is None:
        write = u.get("cache_write_tokens")
    reasoning = ctd.get("reasoning_tokens") if isinstance(ctd, dict) else None
    return Usage(
        input_tokens=count(u.get("prompt_tokens")),
        output_tokens=count(u.get("completion_tokens")),
        cached_input_tokens=count(cached),
        cache_write_tokens=count(write),
        reasoning_tokens=count(reasoning),
    )


def _error_event(data: Mapping[str, Any]) -> StreamError | None:
    """``{"error": {…}}`` / ``{"error": "text"}`` (OpenAI, vLLM, TGI) or flat ``{"object": "error"}``."""
    if "error" not in data and "object" not in data:  # an ordinary chunk (most sim and vLLM chunks)
        return None
    err = data.get("error")
    if err:
        if isinstance(err, dict):
            text = f"{err.get('type') or err.get('code') or 'error'}: {err.get('message', '')}"
        else:
            text = f"{data.get('error_type') or 'error'}: {err}"
        return StreamError("stream_error_event", short(text))
    if data.get("object") == "error":
        return StreamError(
            "stream_error_event", short(f"{data.get('type') or 'error'}: {data.get('message', '')}")
        )
    return None


def _non_text_call(name: object, args: object) -> str:
    field, value = ("name", name) if not isinstance(name, str | None) else ("arguments", args)
    return short(f"tool call {field} is not text: {json.dumps(value)[:60]}", 120)


def _choice_events(choice: Mapping[str, Any], part: str, out: list[Event]) -> None:
    """Events of choice 0 (``delta`` in a stream, ``message`` in a body).

    A tool call whose ``name`` or ``arguments`` is not text (both are strings on the wire; a missing one
    is fine, as in stream continuation chunks) ends the list with :class:`Malformed` and nothing after it.
    """
    body = choice.get(part)
    if isinstance(body, dict):
        if "reasoning_content" in body or "reasoning" in body:
            for key in ("reasoning_content", "reasoning"):
                r = body.get(key)
                if isinstance(r, str) and r:
                    out.append(Delta(r, "reasoning"))
                    break
        content = body.get("content")
        if content and isinstance(content, str):
            out.append(Delta(content, "output"))
        calls = body.get("tool_calls")
        if calls and isinstance(calls, list):
            for call in calls:
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict):
                    name, args = fn.get("name"), fn.get("arguments")
                    if not isinstance(name, str | None) or not isinstance(args, str | None):
                        out.append(Malformed(_non_text_call(name, args)))
                        return
                    text = (name or "") + (args or "")
                    if text:
                        out.append(Delta(text, "tool"))
    fr = choice.get("finish_reason")
    if isinstance(fr, str) and fr:
        out.append(Finish(fr))


class OpenAIStreamParser:
    """Chat-completions SSE: ``data: {chunk}`` events and the ``data: [DONE]`` sentinel.

    Tolerates empty or ``null`` ``choices`` anywhere (Azure prompt-filter chunks, the usage chunk),
    ``usage: null`` on ordinary chunks, and error payloads mid-stream.
    """

    __slots__ = ("_done", "_meta_sent", "_sse")

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._sse = SSEDecoder(max_event_bytes)
        self._meta_sent = False
        self._done = False

    def feed(self, data: bytes) -> list[Event]:
        if self._done:  # nothing after the end counts (and a line past the bound is not read on)
            return []
        try:
            return self._events(self._sse.feed(data))
        except SSETooLarge as exc:  # a bound crossed: the stream ends here
            self._done = True
            return [StreamError("response_too_large", str(exc))]

    def close(self) -> list[Event]:
        return self._events(self._sse.close())

    def _events(self, sse_events: list[Any]) -> list[Event]:
        out: list[Event] = []
        for ev in sse_events:
            if self._done:
                break
            data = ev.data
            if data.startswith("[DONE]"):
                self._done = True
                out.append(Done())
                break
            chunk = event_object(
                data, invalid="invalid JSON in stream", not_object="stream chunk is not an object"
            )
            if isinstance(chunk, Malformed):
                out.append(chunk)
                self._done = True
                break
            err = _error_event(chunk)
            if err is not None:
                out.append(err)
                self._done = True
                break
            if not self._meta_sent:
                meta = _meta(chunk)
                if meta is not None:
                    out.append(meta)
                    self._meta_sent = True
            choices = chunk.get("choices")
            if isinstance(choices, list):
                for choice in choices:
                    if isinstance(choice, dict) and choice.get("index", 0) == 0:
                        _choice_events(choice, "delta", out)
                if out and isinstance(out[-1], Malformed):
                    self._done = True
                    break
            usage = chunk.get("usage")
            if isinstance(usage, dict):
                out.append(_usage(usage))
        return out


def _meta(data: dict[str, Any]) -> Meta | None:
    """Served model, response id and, from a router such as OpenRouter, the upstream ``provider``."""
    model = data.get("model")
    if not isinstance(model, str) or not model:
        return None
    rid, provider = data.get("id"), data.get("provider")
    return Meta(
        model,
        rid if isinstance(rid, str) else None,
        provider if isinstance(provider, str) and provider else None,
    )


class OpenAIChatWire(CommonResponses):
    """``POST {base_url}/chat/completions`` with ``Authorization: Bearer``."""

    name = "openai-chat"

    def url(self, endpoint: Endpoint, base_url: str) -> str:
        return join_url(base_url, "/chat/completions")

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}"} if api_key else {}

    def body(self, endpoint: Endpoint, prompt: PromptItem, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": endpoint.model, "messages": _messages(prompt)}
        body[endpoint.max_tokens_field] = prompt.max_tokens
        if prompt.temperature is not None:
            body["temperature"] = prompt.temperature
        if prompt.seed is not None:
            body["seed"] = prompt.seed
        if prompt.tools:
            body["tools"] = _openai_tools(prompt.tools)
        if prompt.response_format is not None:
            body["response_format"] = prompt.response_format.model_dump(by_alias=True, exclude_none=True)
        if endpoint.reasoning is not None and endpoint.reasoning.effort is not None:
            body["reasoning_effort"] = endpoint.reasoning.effort
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        merge_extra_body(body, prompt.extra_body, prompt_id=prompt.id, dialect=self.name)
        return body

    def build_request(
        self, endpoint: Endpoint, prompt: PromptItem, *, base_url: str, api_key: str | None, stream: bool
    ) -> HttpRequest:
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            **endpoint.headers,
            **self.auth_headers(api_key),
        }
        body = json.dumps(self.body(endpoint, prompt, stream=stream), separators=(",", ":")).encode()
        return HttpRequest("POST", self.url(endpoint, base_url), headers, body)

    def stream_parser(self, max_event_bytes: int = MAX_EVENT_BYTES) -> OpenAIStreamParser:
        return OpenAIStreamParser(max_event_bytes)

    def parse_response(self, body: bytes) -> list[Event]:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return [Malformed(short(f"invalid JSON body: {body[:80]!r}", 120))]
        if not isinstance(data, dict):
            return [Malformed("response body is not a JSON object")]
        err = _error_event(data)
        if err is not None:
            return [err]
        out: list[Event] = []
        meta = _meta(data)
        if meta is not None:
            out.append(meta)
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            return [*out, Malformed("response has no choices")]
        for choice in choices:
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                _choice_events(choice, "message", out)
        if out and isinstance(out[-1], Malformed):
            return out
        usage = data.get("usage")
        if isinstance(usage, dict):
            out.append(_usage(usage))
        out.append(Done())
        return out

    def error_response(
        self, status: int, *, message: str, retry_after_s: float | None = None
    ) -> tuple[dict[str, str], bytes]:
        etype, code = _ERROR_TYPES.get(
            status, ("invalid_request_error" if status < 500 else "server_error", None)
        )
        headers = {"content-type": "application/json"}
        if retry_after_s is not None:
            headers["retry-after"] = f"{retry_after_s:g}"
            headers["retry-after-ms"] = str(round(retry_after_s * 1000))
        body = {"error": {"message": message, "type": etype, "param": None, "code": code}}
        return headers, json.dumps(body).encode()

    def malformed_chunk(self) -> bytes:
        return b'data: {"id":"chatcmpl-x","object":"chat.completion.chunk","choices":[{"delta":{"content\n\n'


class AzureOpenAIWire(OpenAIChatWire):
    """``POST {base_url}/openai/deployments/{model}/chat/completions?api-version=…`` with ``api-key``.

    ``endpoint.model`` is the deployment name. Streams may start with ``choices: []`` chunks that only
    carry prompt-filter results; those are skipped like any empty chunk.
    """

    name = "azure-openai"

    def url(self, endpoint: Endpoint, base_url: str) -> str:
        version = endpoint.api_version or AZURE_DEFAULT_API_VERSION
        return join_url(
            base_url,
            f"/openai/deployments/{quote(endpoint.model, safe='')}/chat/completions",
            f"api-version={quote(version, safe='')}",
        )

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {"api-key": api_key} if api_key else {}
