"""Prompt sets from a team's own traffic: OpenAI request logs, OpenAI Batch input, ShareGPT, CSV.

Each source line (a CSV record, a ShareGPT conversation) becomes one or more bakeoff prompts, validated
as ``PromptItem`` as they are made. A line that cannot be converted gives ``file:line: field: message``
(the field named as the source file names it) and is never dropped silently: the caller refuses the
import, or writes the good prompts and lists the bad lines (``bakeoff prompts import --skip-bad``).

What is kept: the messages (a ``system``/``developer`` message first in the conversation becomes the
prompt's ``system``), ``max_tokens`` (or ``max_completion_tokens``), ``temperature``, ``seed``, ``tools``,
``response_format`` and tool calls with their results. The fields bakeoff sets itself or cannot carry
(``model``, ``stream``, ``n``, ``stop``...) are counted in ``ignored`` so the summary names them.

    result = import_prompts(Path("requests.jsonl"), "openai-requests", default_class="prod")
    result.items[0].messages      # PromptItem
    result.problems               # ["requests.jsonl:17: messages[0].content: image parts ...", ...]
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from harness.config._models import MAX_TURNS, PromptItem
from harness.config._yaml import display_path, format_path

__all__ = [
    "HISTOGRAM_EDGES",
    "IMPORT_FORMATS",
    "ImportFormat",
    "ImportResult",
    "import_prompts",
    "length_histogram",
    "prompt_text_tokens",
]

ImportFormat = Literal["openai-requests", "openai-batch", "sharegpt", "csv"]
IMPORT_FORMATS: tuple[ImportFormat, ...] = ("openai-requests", "openai-batch", "sharegpt", "csv")

_KEPT = {"messages", "max_tokens", "max_completion_tokens", "temperature", "seed", "tools", "response_format"}
_BAD_ID_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


class _Bad(Exception):
    """One problem with one source line: the field (source naming) and what is wrong."""

    def __init__(self, where: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


@dataclass
class ImportResult:
    """The prompts made (in source order), every problem, and the source fields left out."""

    items: list[PromptItem] = field(default_factory=list)  # empty when a sink took them
    problems: list[str] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)
    lines: int = 0  # source records read (lines, CSV records, conversations)
    count: int = 0  # prompts made
    tokens: dict[str, list[int]] = field(default_factory=dict)  # class -> prompt_text_tokens() of each


def import_prompts(
    path: Path,
    fmt: ImportFormat,
    *,
    default_class: str = "imported",
    first_turn_only: bool = False,
    sessions: bool = False,
    sink: Callable[[PromptItem], None] | None = None,
) -> ImportResult:
    """Convert ``path`` (in ``fmt``) to prompts; problems are collected, never raised.

    With ``sink`` each prompt is handed to it as it is made (and not kept in ``items``): a large file
    is converted in constant memory. ``sessions`` (ShareGPT): each conversation becomes one multi-turn
    session whose recorded replies are its ``gpt`` turns, instead of one prompt per human turn.
    """
    if sessions and (fmt != "sharegpt" or first_turn_only):
        raise ValueError("sessions is for the sharegpt format, without first_turn_only")
    shown = display_path(path)
    out = ImportResult()
    seen: dict[str, int] = {}
    try:
        for no, record in _records(path, fmt):
            out.lines += 1
            try:
                made = (
                    [_session_from_sharegpt(record, no, default_class)]
                    if sessions and isinstance(record, dict)
                    else _convert(fmt, record, no, default_class, first_turn_only, out.ignored)
                )
                for item in made:
                    if item.id in seen:
                        raise _Bad(
                            ("id",), f"duplicate prompt id {item.id!r} (first on line {seen[item.id]})"
                        )
                for item in made:
                    seen[item.id] = no
                    out.count += 1
                    out.tokens.setdefault(item.prompt_class, []).append(prompt_text_tokens(item))
                    if sink is None:
                        out.items.append(item)
                    else:
                        sink(item)
            except _Bad as bad:
                field_ = format_path(bad.where)
                out.problems.append(
                    f"{shown}:{no}: {field_}: {bad.message}" if field_ else f"{shown}:{no}: {bad.message}"
                )
    except _SourceError as exc:
        out.problems.append(f"{shown}:{exc.line}: {exc.message}")
    except OSError as exc:
        out.problems.append(f"{shown}:1: cannot read file: {exc.strerror or exc}")
    if not out.count and not out.problems:
        out.problems.append(f"{shown}:1: no prompts in the file")
    return out


# --- reading the source --------------------------------------------------------------------------------


class _SourceError(Exception):
    """The file as a whole cannot be read on (a CSV without a prompt column, a broken JSON list)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _records(path: Path, fmt: ImportFormat) -> Iterator[tuple[int, Any]]:
    """(line number, record) for every record; a record that is not valid JSON is a ``_Bad`` later."""
    if fmt == "csv":
        yield from _csv_records(path)
        return
    with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        text_start = fh.read(4096)
        fh.seek(0)
        if fmt == "sharegpt" and text_start.lstrip().startswith("["):
            yield from _json_list(fh.read())
            return
        for no, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line or line.startswith("//"):
                continue
            try:
                yield no, json.loads(line)
            except json.JSONDecodeError as exc:
                yield no, _NotJson(f"invalid JSON: {exc.msg} (column {exc.colno})")
            except RecursionError:
                yield no, _NotJson("invalid JSON: nested too deeply")


@dataclass
class _NotJson:
    message: str


def _json_list(text: str) -> Iterator[tuple[int, Any]]:
    """The elements of a JSON array, each with the line it starts on."""
    decoder = json.JSONDecoder()
    ws = re.compile(r"\s*")
    pos = ws.match(text, 0).end() + 1  # type: ignore[union-attr]  # past "["
    line = 1 + text.count("\n", 0, pos)
    while True:
        nxt = ws.match(text, pos).end()  # type: ignore[union-attr]
        line += text.count("\n", pos, nxt)
        pos = nxt
        if pos >= len(text):
            raise _SourceError(line, "invalid JSON: the list is not closed with ]")
        if text[pos] == "]":
            return
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise _SourceError(exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
        yield line, value
        line += text.count("\n", pos, end)
        pos = ws.match(text, end).end()  # type: ignore[union-attr]
        line += text.count("\n", end, pos)
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos < len(text) and text[pos] != "]":
            raise _SourceError(line, "invalid JSON: expected ',' or ']' between list items")


_CSV_COLUMNS = {"prompt", "id", "class", "max_tokens", "system"}


def _csv_records(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        if "prompt" not in columns:
            raise _SourceError(1, f"a CSV needs a 'prompt' column (found: {', '.join(columns) or 'none'})")
        unknown = [c for c in columns if c not in _CSV_COLUMNS]
        if unknown:
            raise _SourceError(
                1, f"unknown CSV column(s) {', '.join(unknown)}: known are {', '.join(sorted(_CSV_COLUMNS))}"
            )
        start = reader.line_num + 1
        for row in reader:
            yield start, row
            start = reader.line_num + 1


# --- converting one record -----------------------------------------------------------------------------


def _convert(
    fmt: ImportFormat,
    record: Any,
    no: int,
    default_class: str,
    first_turn_only: bool,
    ignored: Counter[str],
) -> list[PromptItem]:
    if isinstance(record, _NotJson):
        raise _Bad((), record.message)
    if fmt == "csv":
        return [_from_csv(record, no, default_class)]
    if not isinstance(record, dict):
        raise _Bad((), f"expected a JSON object, got {_kind(record)}")
    if fmt == "openai-requests":
        return [_from_body(record, (), f"request-{no}", default_class, ignored)]
    if fmt == "openai-batch":
        return [_from_batch(record, default_class, ignored)]
    return _from_sharegpt(record, no, default_class, first_turn_only)


def _from_batch(record: dict[str, Any], default_class: str, ignored: Counter[str]) -> PromptItem:
    for key in record:
        if key not in {"custom_id", "method", "url", "body"}:
            raise _Bad((key,), "unknown field of a Batch API line (custom_id, method, url, body)")
    cid = record.get("custom_id")
    if not isinstance(cid, str) or not cid:
        raise _Bad(("custom_id",), "required: a non-empty string")
    if record.get("method", "POST") != "POST":
        raise _Bad(("method",), f"only POST requests are prompts (got {record.get('method')!r})")
    url = record.get("url")
    if url not in ("/v1/chat/completions", "/chat/completions"):
        raise _Bad(("url",), f"only /v1/chat/completions lines can be imported (got {url!r})")
    body = record.get("body")
    if not isinstance(body, dict):
        raise _Bad(("body",), "required: the request body (a JSON object)")
    return _from_body(body, ("body",), _prompt_id(cid, ("custom_id",)), default_class, ignored)


def _from_body(
    body: dict[str, Any], at: tuple[str, ...], pid: str, default_class: str, ignored: Counter[str]
) -> PromptItem:
    """A chat-completions request body as a prompt."""
    for key in body:
        if key not in _KEPT and key != "metadata":
            ignored[key] += 1
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise _Bad((*at, "messages"), "required: a non-empty list of messages")
    system: str | None = None
    messages: list[dict[str, Any]] = []
    for i, m in enumerate(raw):
        where: tuple[str | int, ...] = (*at, "messages", i)
        if not isinstance(m, dict):
            raise _Bad(where, f"expected a message object, got {_kind(m)}")
        role = m.get("role")
        if role in ("system", "developer"):
            text = _text(m.get("content"), (*where, "content"))
            if not messages and system is None:
                system = text
            else:
                messages.append({"role": "system", "content": text})
            continue
        if role not in ("user", "assistant", "tool"):
            raise _Bad((*where, "role"), f"expected system, developer, user, assistant or tool, got {role!r}")
        out: dict[str, Any] = {"role": role}
        content = m.get("content")
        if content is not None or not m.get("tool_calls"):
            out["content"] = _text(content, (*where, "content"))
        if role == "tool":
            out["tool_call_id"] = m.get("tool_call_id")
        if m.get("tool_calls"):
            out["tool_calls"] = [
                _tool_call(c, (*where, "tool_calls", k)) for k, c in enumerate(m["tool_calls"])
            ]
        messages.append(out)
    data: dict[str, Any] = {"id": pid, "class": _class_of(body, at, default_class), "messages": messages}
    if system is not None:
        data["system"] = system
    budget = body.get("max_completion_tokens", body.get("max_tokens"))
    if budget is not None:
        data["max_tokens"] = budget
    for key in ("temperature", "seed", "tools", "response_format"):
        if body.get(key) is not None:
            data[key] = body[key]
    return _validated(data, at)


def _class_of(body: dict[str, Any], at: tuple[str, ...], default_class: str) -> str:
    meta = body.get("metadata")
    if isinstance(meta, dict) and "class" in meta:
        if not isinstance(meta["class"], str) or not meta["class"]:
            raise _Bad((*at, "metadata", "class"), "expected a non-empty string")
        return meta["class"]
    return default_class


def _tool_call(call: Any, where: tuple[str | int, ...]) -> dict[str, Any]:
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        raise _Bad(where, "expected {id, type: function, function: {name, arguments}}")
    fn = call["function"]
    args = fn.get("arguments", "{}")
    if isinstance(args, str):
        try:
            args = json.loads(args or "{}")
        except json.JSONDecodeError as exc:
            raise _Bad((*where, "function", "arguments"), f"not valid JSON text: {exc.msg}") from None
    if not isinstance(args, dict):
        raise _Bad((*where, "function", "arguments"), f"expected a JSON object, got {_kind(args)}")
    return {"id": call.get("id"), "name": fn.get("name"), "arguments": args}


def _text(content: Any, where: tuple[str | int, ...]) -> str:
    """Message content as text: a string, or a list of text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for k, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") not in ("text", "input_text"):
                kind = part.get("type") if isinstance(part, dict) else _kind(part)
                raise _Bad((*where, k), f"only text parts can be imported (got {kind!r})")
            parts.append(str(part.get("text", "")))
        return "".join(parts)
    raise _Bad(where, f"expected text or a list of text parts, got {_kind(content)}")


_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}


def _sharegpt_messages(
    record: dict[str, Any], no: int, default_class: str
) -> tuple[dict[str, Any], Iterator[tuple[tuple[str | int, ...], str, str]]]:
    """A conversation's prompt fields (id, class) and its messages in order as (where, role, text), role
    ``system`` (first only), ``user`` or ``assistant``: each checked as it is read."""
    conversation = record.get("conversations")
    if not isinstance(conversation, list) or not conversation:
        raise _Bad(("conversations",), "required: a non-empty list of {from, value}")
    given = record.get("id")
    fields = {
        "id": _prompt_id(str(given), ("id",)) if given is not None else f"conversation-{no}",
        "class": record.get("class", default_class),
    }

    def messages() -> Iterator[tuple[tuple[str | int, ...], str, str]]:
        for i, turn in enumerate(conversation):
            where = ("conversations", i)
            if not isinstance(turn, dict):
                raise _Bad(where, f"expected {{from, value}}, got {_kind(turn)}")
            who, value = turn.get("from"), turn.get("value")
            if not isinstance(value, str):
                raise _Bad((*where, "value"), f"expected text, got {_kind(value)}")
            role = "system" if who == "system" else _SHAREGPT_ROLES.get(str(who))
            if role is None:
                raise _Bad((*where, "from"), f"expected human, gpt or system, got {who!r}")
            if role == "system" and i > 0:
                raise _Bad((*where, "from"), "a system turn must come first")
            yield where, role, value

    return fields, messages()


def _from_sharegpt(
    record: dict[str, Any], no: int, default_class: str, first_turn_only: bool
) -> list[PromptItem]:
    """One prompt per human turn, carrying the conversation before it (the recorded answers included)."""
    fields, messages = _sharegpt_messages(record, no, default_class)
    system: str | None = None
    history: list[dict[str, Any]] = []
    out: list[PromptItem] = []
    for where, role, value in messages:
        if role == "system":
            system = value
            continue
        history.append({"role": role, "content": value})
        if role == "user":
            data = {**fields, "id": f"{fields['id']}-t{len(out) + 1}", "messages": list(history)}
            if system is not None:
                data["system"] = system
            out.append(_validated(data, where))
            if first_turn_only:
                break
    if not out:
        raise _Bad(("conversations",), "no human turn: nothing to send")
    return out


def _session_from_sharegpt(record: dict[str, Any], no: int, default_class: str) -> PromptItem:
    """One multi-turn session: a turn per human message, the ``gpt`` message after it as its recorded reply
    (played back with ``load.history: recorded``; a human message with none has no reply)."""
    data, messages = _sharegpt_messages(record, no, default_class)
    turns: list[dict[str, Any]] = []
    for where, role, value in messages:
        if role == "system":
            data["system"] = value
        elif role == "user":
            if len(turns) == MAX_TURNS:
                raise _Bad(where, f"more than {MAX_TURNS} human turns: a session holds at most {MAX_TURNS}")
            turns.append({"user": value})
        elif not turns:
            raise _Bad((*where, "from"), "a gpt turn before any human turn: a session starts with the user")
        elif "assistant" in turns[-1]:
            raise _Bad((*where, "from"), "two gpt turns in a row: a turn has one recorded reply")
        else:
            turns[-1]["assistant"] = value
    if not turns:
        raise _Bad(("conversations",), "no human turn: nothing to send")
    return _validated({**data, "turns": turns}, ())


def _from_csv(row: dict[str, str | None], no: int, default_class: str) -> PromptItem:
    if None in row:
        raise _Bad((), "more fields than the header has columns")
    prompt = row.get("prompt")
    if not prompt:
        raise _Bad(("prompt",), "empty: a prompt is required")
    data: dict[str, Any] = {
        "id": _prompt_id(str(row["id"]), ("id",)) if row.get("id") else f"row-{no}",
        "class": row.get("class") or default_class,
        "messages": [{"role": "user", "content": prompt}],
    }
    if row.get("system"):
        data["system"] = row["system"]
    if row.get("max_tokens"):
        try:
            data["max_tokens"] = int(str(row["max_tokens"]).strip())
        except ValueError:
            raise _Bad(("max_tokens",), f"expected a whole number, got {row['max_tokens']!r}") from None
    return _validated(data, ())


def _prompt_id(value: str, where: tuple[str, ...]) -> str:
    """A source id as a prompt id: characters a prompt id cannot hold become '_' (too long is an error)."""
    pid = _BAD_ID_CHARS.sub("_", value.strip())
    if pid[:1] in ("_", ".", "-", ""):
        pid = "p" + pid
    if len(pid) > 64:
        raise _Bad(where, f"{value[:40]!r}...: longer than the 64 characters a prompt id can have")
    return pid


def _validated(data: dict[str, Any], at: tuple[str | int, ...]) -> PromptItem:
    try:
        return PromptItem.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise _Bad((*at, *(p for p in err["loc"] if p != "function-after")), err["msg"]) from None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", type(None): "null", bool: "true/false"}.get(
        type(value), "a number"
    )


# --- the summary ------------------------------------------------------------------------------------------

HISTOGRAM_EDGES = (128, 512, 2048, 8192, 32768, 131072)
"""Upper bounds (inclusive) of the token-length buckets of the summary; one more bucket holds the rest."""


def prompt_text_tokens(item: PromptItem) -> int:
    """The prompt's text in ``o200k_base`` tokens: system, message contents and tool-call arguments,
    without the chat framing (the role markers a vendor adds) and without tool definitions. A session
    counts its whole conversation: every turn's user message and recorded reply."""
    from harness.tokens import count_tokens

    parts = [item.system or ""]
    for t in item.turns or ():
        parts += [t.user, t.assistant or ""]
    for m in item.messages:
        parts.append(m.content)
        for call in m.tool_calls or ():
            parts.append(json.dumps(call.arguments, ensure_ascii=False))
    return sum(count_tokens(p) for p in parts if p)


def length_histogram(tokens: dict[str, list[int]]) -> dict[str, dict[str, Any]]:
    """Per class (class -> each prompt's token count): prompts, min/median/max tokens and the count in
    each bucket of ``HISTOGRAM_EDGES``."""
    out: dict[str, dict[str, Any]] = {}
    for cls, unsorted in sorted(tokens.items()):
        sizes = sorted(unsorted)
        buckets = [0] * (len(HISTOGRAM_EDGES) + 1)
        for n in sizes:
            buckets[next((k for k, e in enumerate(HISTOGRAM_EDGES) if n <= e), len(HISTOGRAM_EDGES))] += 1
        out[cls] = {
            "prompts": len(sizes),
            "min": sizes[0],
            "median": sizes[(len(sizes) - 1) // 2],
            "max": sizes[-1],
            "buckets": buckets,
        }
    return out
