"""Deterministic answers: the same seed and prompt always give the same text, tool call and usage.

Simple tasks in the last user message are answered correctly so prompt checks mean something:
arithmetic ("What is 17 + 25?"), "Repeat the word X", "Reply with exactly: …", "Answer in JSON …"
(and OpenAI ``response_format`` json_object / json_schema). Everything else gets fluent filler text of
the configured length. Output is split into chunks of ``tokens_per_chunk`` o200k tokens, and usage is
counted with the same tokenizer, so it is exact.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.tokens import count_tokens, decode, encode

__all__ = [
    "EFFORT_SCALE",
    "Plan",
    "Prompt",
    "ToolSpec",
    "make_plan",
    "prompt_tokens",
    "reasoning_tokens",
    "text_tokens",
    "tool_tokens",
    "with_reasoning",
]

FinishKind = Literal["stop", "length", "tool"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    schema: dict[str, Any]


@dataclass(slots=True)
class Prompt:
    """The dialect-neutral view of a request that decides the answer."""

    texts: list[str]  # every message's text (system first), for prompt token counting
    last_user: str
    max_tokens: int | None
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: str | None = None  # None/"auto", "none", "required", or a tool name
    after_tool_result: bool = False
    json_mode: bool = False
    json_schema: dict[str, Any] | None = None
    stop: tuple[str, ...] = ()
    # cache breakpoints (Anthropic cache_control): (boundary, "5m"|"1h"); boundary k = the tools and the
    # first k texts; they change what the cache stores, never the answer (not part of key())
    breakpoints: tuple[tuple[int, str], ...] = ()
    # what the request asked of a reasoning model (not part of ``key``: the answer is the same either way)
    reasoning_asked: bool = False
    reasoning_effort: str | None = None
    reasoning_budget: int | None = None  # None: no budget given; 0: thinking turned off (Gemini)
    reasoning_include: bool = True  # the thinking text may be sent (Gemini includeThoughts)

    def key(self) -> str:
        blob = json.dumps(
            [
                self.texts,
                self.last_user,
                self.max_tokens,
                [(t.name, t.schema) for t in self.tools],
                self.tool_choice,
                self.after_tool_result,
                self.json_mode,
                self.json_schema,
                self.stop,
            ],
            sort_keys=True,
            default=str,
        )
        return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class Plan:
    """What to answer: text or one tool call, already split into stream pieces, with exact usage."""

    kind: Literal["text", "tool"]
    text: str  # the whole text answer ("" for a tool call)
    pieces: tuple[str, ...]  # text pieces, or argument-JSON fragments for a tool call
    prompt_tokens: int
    completion_tokens: int
    finish: FinishKind
    tool_name: str = ""
    tool_args: str = ""  # JSON text of the arguments
    stop_sequence: str | None = None  # the stop sequence that ended the text, if one did
    # thinking before the answer (not in ``completion_tokens``: each dialect counts it its own way)
    reasoning_pieces: tuple[str, ...] = ()
    reasoning_tokens: int = 0

    @property
    def reasoning_text(self) -> str:
        return "".join(self.reasoning_pieces)


_NOUNS = [
    "system",
    "model",
    "service",
    "request",
    "response",
    "stream",
    "token",
    "vendor",
    "network",
    "answer",
    "cluster",
    "region",
    "budget",
    "team",
    "result",
    "report",
    "queue",
    "router",
    "cache",
    "engine",
    "client",
    "server",
    "schedule",
    "window",
]
_VERBS = [
    "measures",
    "returns",
    "sends",
    "reads",
    "writes",
    "builds",
    "checks",
    "keeps",
    "moves",
    "starts",
    "stops",
    "runs",
    "holds",
    "makes",
    "shows",
    "gives",
    "takes",
    "finds",
    "uses",
    "handles",
    "serves",
    "routes",
    "caches",
    "scales",
    "balances",
    "tracks",
    "compares",
]
_ADJ = [
    "new",
    "fast",
    "steady",
    "small",
    "large",
    "early",
    "late",
    "good",
    "useful",
    "stable",
    "simple",
    "modern",
    "careful",
    "quiet",
    "bright",
    "open",
    "shared",
    "local",
    "remote",
    "public",
    "private",
]
_ADV = ["quickly", "reliably", "carefully", "often", "rarely", "usually", "clearly", "simply", "also"]
_PREP = [
    "in",
    "on",
    "at",
    "by",
    "with",
    "from",
    "into",
    "over",
    "under",
    "between",
    "across",
    "through",
    "during",
    "without",
    "within",
    "for",
]


def _rng_for(seed: int, *parts: str) -> random.Random:
    h = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(h, "big"))


def _sentence(rng: random.Random) -> str:
    words = [
        rng.choice(("The", "A", "Each", "Every", "One")),
        rng.choice(_ADJ),
        rng.choice(_NOUNS),
        rng.choice(_ADV),
        rng.choice(_VERBS),
        rng.choice(("the", "a", "each")),
        rng.choice(_NOUNS),
    ]
    if rng.random() < 0.6:
        words += [rng.choice(_PREP), "the", rng.choice(_ADJ), rng.choice(_NOUNS)]
    return " ".join(words) + "."


def _filler(rng: random.Random, n_tokens: int) -> str:
    parts: list[str] = []
    total = 0
    while total < n_tokens + 4:
        s = _sentence(rng)
        parts.append(s)
        total += len(s.split()) + 1  # filler words are one token each, plus the period
    toks = encode(" ".join(parts))
    return decode(toks[:n_tokens])


_NUM = r"(-?\d+(?:\.\d+)?)"
_ARITH_RE = re.compile(
    _NUM + r"\s*(\+|-|\*|x|×|/|÷|plus|minus|times|multiplied by|divided by)\s*" + _NUM, re.I
)
_REPEAT_RE = re.compile(
    r"repeat\s+(?:the\s+|this\s+)?word\s*[:\-]?\s*[\"'“`]?([^\s\"'”`.,!?]+)"
    r"(?:[\"'”`]?\s*(?:exactly\s+)?(\d+)\s+times)?",
    re.I,
)
_EXACT_RE = re.compile(
    r"(?:reply|respond|answer|say|output)\s+(?:with\s+)?exactly\s*[:\-]?\s*(.+?)\s*$", re.I | re.S
)
_JSON_RE = re.compile(r"\b(?:in|as|with|using|valid)\s+(?:a\s+|an\s+)?json\b|\bjson\s+object\b", re.I)
_KEYS_RE = re.compile(r"\b(?:keys?|fields?|properties)\b\s*:?\s*((?:[\"'`][\w .-]+[\"'`][\s,and]*)+)", re.I)
_WORDS_RE = re.compile(r"\b(?:in|about|around|exactly|write)\s+(\d{1,5})\s+words\b", re.I)


def _fmt_num(v: float) -> str:
    if v == int(v):
        return str(int(v))
    return f"{v:.6f}".rstrip("0").rstrip(".")


def _arith(text: str) -> str | None:
    m = _ARITH_RE.search(text)
    if not m:
        return None
    a, op, b = float(m.group(1)), m.group(2).lower(), float(m.group(3))
    if op in ("+", "plus"):
        r = a + b
    elif op in ("-", "minus"):
        r = a - b
    elif op in ("*", "x", "×", "times", "multiplied by"):
        r = a * b
    else:
        if b == 0:
            return "Division by zero is undefined."
        r = a / b
    return f"{m.group(1)} {m.group(2)} {m.group(3)} = {_fmt_num(r)}. The answer is {_fmt_num(r)}."


def _strip_quotes(s: str) -> str:
    s = s.strip()
    for a, b in (('"', '"'), ("'", "'"), ("“", "”"), ("`", "`")):
        if len(s) >= 2 and s.startswith(a) and s.endswith(b):
            return s[1:-1]
    return s


def _value_for(schema: dict[str, Any], name: str, rng: random.Random, depth: int = 0) -> Any:
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "string")
    if t == "integer":
        lo = int(schema.get("minimum", 1))
        return lo + rng.randrange(10)
    if t == "number":
        flo = float(schema.get("minimum", 1))
        return flo + rng.randrange(100) / 4
    if t == "boolean":
        return True
    if t == "array":
        raw_items = schema.get("items")
        items: dict[str, Any] = raw_items if isinstance(raw_items, dict) else {"type": "string"}
        n = max(1, int(schema.get("minItems", 1)))
        return [_value_for(items, name, rng, depth + 1) for _ in range(n)] if depth < 4 else []
    if t == "object" or "properties" in schema:
        return _object_for(schema, rng, depth + 1) if depth < 4 else {}
    if t == "null":
        return None
    fmt = schema.get("format")
    if fmt == "date":
        return "2025-01-15"
    if fmt == "date-time":
        return "2025-01-15T12:00:00Z"
    return f"{name.replace('_', ' ')} {rng.choice(_NOUNS)}".strip()


def _object_for(schema: dict[str, Any], rng: random.Random, depth: int = 0) -> dict[str, Any]:
    props = schema.get("properties")
    if not isinstance(props, dict):
        return {}
    required = schema.get("required")
    names = [n for n in props if n in required] if isinstance(required, list) and required else list(props)
    return {n: _value_for(props[n] if isinstance(props[n], dict) else {}, n, rng, depth) for n in names}


def _json_answer(prompt: Prompt, rng: random.Random) -> str:
    if prompt.json_schema:
        obj: dict[str, Any] = _object_for(prompt.json_schema, rng)
    else:
        keys: list[str] = []
        m = _KEYS_RE.search(prompt.last_user)
        if m:
            keys = re.findall(r"[\"'`]([\w .-]+)[\"'`]", m.group(1))
        solved = _arith(prompt.last_user)
        obj = {k: rng.choice(_NOUNS) for k in keys} if keys else {"answer": solved or _sentence(rng)}
        if solved and keys:
            obj[keys[0]] = solved
    return json.dumps(obj)


def _answer_text(prompt: Prompt, seed: int, default_tokens: int, jitter_frac: float) -> str:
    rng = _rng_for(seed, prompt.key())
    text = prompt.last_user
    if prompt.json_mode or prompt.json_schema or _JSON_RE.search(text):
        return _json_answer(prompt, rng)
    m = _EXACT_RE.search(text)
    if m:
        return _strip_quotes(m.group(1).splitlines()[0] if "\n" in m.group(1) else m.group(1))
    m = _REPEAT_RE.search(text)
    if m:
        n = int(m.group(2)) if m.group(2) else 1
        return " ".join([m.group(1)] * max(1, min(n, 200)))
    solved = _arith(text)
    if solved:
        return solved
    m = _WORDS_RE.search(text)
    if m:
        n_words = max(1, min(int(m.group(1)), 20000))
        return _filler(rng, n_words)
    n = default_tokens
    if jitter_frac > 0:
        n = max(1, round(n * (1 + rng.uniform(-jitter_frac, jitter_frac))))
    return _filler(rng, n)


def _pieces(tokens: list[int], per_chunk: int) -> tuple[str, ...]:
    out = [decode(tokens[i : i + per_chunk]) for i in range(0, len(tokens), per_chunk)]
    return tuple(p for p in out if p) or ("",)


def prompt_tokens(prompt: Prompt) -> int:
    """Input tokens of a prompt, as the simulator reports them in usage."""
    return _prompt_tokens(prompt)


_counts: dict[bytes, int] = {}
_COUNTS_MAX = 4096
_COUNT_DIRECT_CHARS = 512  # shorter texts are counted each time: hashing would save nothing


def text_tokens(text: str) -> int:
    """``count_tokens(text)``, remembered for long texts by a hash of the text (never the text): a long
    system prompt or conversation resent with every request is counted once (~0.1 s per 4k tokens)."""
    if len(text) < _COUNT_DIRECT_CHARS:
        return count_tokens(text)
    key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    n = _counts.get(key)
    if n is None:
        n = count_tokens(text)
        if len(_counts) >= _COUNTS_MAX:
            _counts.pop(next(iter(_counts)))
        _counts[key] = n
    return n


def tool_tokens(prompt: Prompt) -> int:
    """Prompt tokens of the tool definitions (first on the wire, so first in every cached prefix)."""
    return sum(count_tokens(t.name) + count_tokens(json.dumps(t.schema)) + 4 for t in prompt.tools)


def _prompt_tokens(prompt: Prompt) -> int:
    # OpenAI cookbook framing heuristic: ~3 tokens per message plus 3 for the reply primer.
    return sum(text_tokens(t) + 3 for t in prompt.texts) + 3 + tool_tokens(prompt)


def _pick_tool(prompt: Prompt) -> ToolSpec | None:
    if not prompt.tools or prompt.tool_choice == "none" or prompt.after_tool_result:
        return None
    if prompt.tool_choice not in (None, "auto", "required"):
        for t in prompt.tools:
            if t.name == prompt.tool_choice:
                return t
    return prompt.tools[0]


_cache: dict[tuple[Any, ...], Plan] = {}
_CACHE_MAX = 8192


def make_plan(
    prompt: Prompt,
    *,
    seed: int,
    tokens_per_chunk: int,
    output_tokens_default: int,
    output_tokens_jitter_frac: float,
) -> Plan:
    """The answer to ``prompt`` (cached: the same inputs always give the same, shared Plan)."""
    key = (prompt.key(), seed, tokens_per_chunk, output_tokens_default, output_tokens_jitter_frac)
    plan = _cache.get(key)
    if plan is None:
        plan = _build(prompt, seed, tokens_per_chunk, output_tokens_default, output_tokens_jitter_frac)
        if len(_cache) >= _CACHE_MAX:
            _cache.pop(next(iter(_cache)))
        _cache[key] = plan
    return plan


def _build(prompt: Prompt, seed: int, per_chunk: int, default_tokens: int, jitter: float) -> Plan:
    p_tokens = _prompt_tokens(prompt)
    cap = prompt.max_tokens if prompt.max_tokens is not None and prompt.max_tokens > 0 else None
    tool = _pick_tool(prompt)
    if tool is not None:
        rng = _rng_for(seed, prompt.key(), "tool")
        args = json.dumps(_object_for(tool.schema, rng))
        toks = encode(args)
        n_out = len(toks) + count_tokens(tool.name) + 3
        if cap is not None and n_out > cap:  # too short to finish the call: a truncated text answer instead
            text_toks = encode(_filler(rng, cap))[:cap]
            text = decode(text_toks)
            return Plan("text", text, _pieces(text_toks, per_chunk), p_tokens, len(text_toks), "length")
        return Plan("tool", "", _pieces(toks, per_chunk), p_tokens, n_out, "tool", tool.name, args)
    text = _answer_text(prompt, seed, default_tokens, jitter)
    stop_hit: tuple[int, str] | None = None
    for s in prompt.stop:
        at = text.find(s) if s else -1
        if at >= 0 and (stop_hit is None or at < stop_hit[0]):
            stop_hit = (at, s)
    if stop_hit is not None:
        text = text[: stop_hit[0]]
    toks = encode(text)
    finish: FinishKind = "stop"
    if cap is not None and len(toks) > cap:
        toks = toks[:cap]
        text = decode(toks)
        finish = "length"
        stop_hit = None
    stop_seq = stop_hit[1] if stop_hit is not None else None
    return Plan("text", text, _pieces(toks, per_chunk), p_tokens, len(toks), finish, stop_sequence=stop_seq)


EFFORT_SCALE: dict[str, float] = {"none": 0.0, "minimal": 0.25, "low": 0.5, "medium": 1.0, "high": 2.0}
"""Thinking length per requested effort, relative to ``SimBehaviour.reasoning_tokens`` (medium = 1)."""


def reasoning_tokens(prompt: Prompt, *, typical: int, always: bool) -> int:
    """How many tokens the model thinks before answering ``prompt``: none unless the request asked for
    reasoning (or the model ``always`` reasons); ``typical`` scaled by the requested effort, then capped by
    the request's budget and by ``max_tokens`` less one (thinking counts against it, and the answer
    needs a token)."""
    if not (prompt.reasoning_asked or always):
        return 0
    n = round(typical * EFFORT_SCALE.get(prompt.reasoning_effort or "medium", 1.0))
    if prompt.reasoning_budget is not None and prompt.reasoning_budget >= 0:
        n = min(n, prompt.reasoning_budget)
    if prompt.max_tokens is not None:
        n = min(n, prompt.max_tokens - 1)
    return max(0, n)


_THOUGHT_OPENERS = (
    "Let me think about this step by step.",
    "First, what is being asked here?",
    "I should check the request carefully before answering.",
)


@functools.lru_cache(maxsize=1024)
def _thinking(key: str, seed: int, n_tokens: int, per_chunk: int) -> tuple[str, ...]:
    rng = _rng_for(seed, key, "reasoning")
    text = rng.choice(_THOUGHT_OPENERS) + " " + _filler(rng, n_tokens)
    return _pieces(encode(text)[:n_tokens], per_chunk)


def with_reasoning(plan: Plan, prompt: Prompt, n_tokens: int, *, seed: int, tokens_per_chunk: int) -> Plan:
    """``plan`` preceded by ``n_tokens`` of deterministic thinking text. Thinking counts against
    ``max_tokens``, as on the real APIs: a text answer longer than what is left is cut (finish ``length``)."""
    if n_tokens <= 0:
        return plan
    pieces = _thinking(prompt.key(), seed, n_tokens, tokens_per_chunk)
    room = None if prompt.max_tokens is None else max(1, prompt.max_tokens - n_tokens)
    if plan.kind == "text" and room is not None and plan.completion_tokens > room:
        toks = encode(plan.text)[:room]
        return dataclasses.replace(
            plan,
            text=decode(toks),
            pieces=_pieces(toks, tokens_per_chunk),
            completion_tokens=len(toks),
            finish="length",
            stop_sequence=None,
            reasoning_pieces=pieces,
            reasoning_tokens=n_tokens,
        )
    return dataclasses.replace(plan, reasoning_pieces=pieces, reasoning_tokens=n_tokens)
