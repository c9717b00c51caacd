"""Pydantic models of every user-written file: scenario, endpoints, contenders, prompts, load,
faults, SLOs, prices.

All models forbid unknown keys. Durations accept ``500ms``/``10s``/``2m``; rates accept ``5/s``/``300/min``.
API keys are never written in files: an endpoint names the environment variable that holds its key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ByteSize, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from harness._model import Duration, EnvName, Name, PositiveDuration, PositiveRate, Rate, UserModel
from harness._vocab import DIALECT_NAMES, DialectName
from harness.behaviour import SimBehaviour

__all__ = [
    "AFTER_TOKENS_RENAMED",
    "DIALECT_NAMES",
    "SLO",
    "CapacityNeed",
    "Check",
    "Contender",
    "Decision",
    "DecisionWeights",
    "Endpoint",
    "FaultEntry",
    "FaultFile",
    "FaultSpec",
    "Limits",
    "LoadProfile",
    "Message",
    "Price",
    "PriceTier",
    "PromptCache",
    "PromptItem",
    "Reasoning",
    "Scenario",
    "Search",
    "Stage",
    "Sweep",
    "Timeouts",
    "ToolCall",
    "Turn",
]


class Timeouts(UserModel):
    """Separate limits per phase of one attempt (seconds)."""

    connect: PositiveDuration = Field(5.0, description="TCP (+TLS) connect")
    ttft: PositiveDuration = Field(60.0, description="dispatch to first token")
    idle: PositiveDuration = Field(30.0, description="longest gap between two chunks")
    total: PositiveDuration = Field(300.0, description="whole attempt")


class Limits(UserModel):
    """Bounds on what one attempt takes from a vendor; crossing one ends that attempt as
    ``response_too_large`` (and nothing else suffers).

    The defaults are far above any real answer (a 128k-token stream at one token per event is about
    130,000 events and 32 MB); lower them to catch a vendor that floods, raise them only for a vendor
    that really sends more. Sizes accept ``64KiB``, ``1MiB``, ``64MB`` or a number of bytes. The one
    wall-clock limit per attempt is ``timeouts.total``.
    """

    head_bytes: ByteSize = Field(
        ByteSize(64 * 1024), ge=1024, description="response head (status line and headers, 1xx included)"
    )
    headers: int = Field(256, ge=8, description="response header fields")
    event_bytes: ByteSize = Field(
        ByteSize(1 << 20), ge=1024, description="one SSE line, or one event's data lines together"
    )
    body_bytes: ByteSize = Field(
        ByteSize(64 << 20), ge=1024, description="response body of one attempt (streamed or not)"
    )
    chunks: int = Field(262_144, ge=16, description="stream events of one attempt")
    field_chars: int = Field(
        256,
        ge=16,
        description="vendor text stored in a record field (request id, served model, finish reason)",
    )


class PriceTier(UserModel):
    """Prices that replace the base ones when the prompt has more than ``above_input_tokens`` tokens."""

    above_input_tokens: int = Field(ge=0)
    input_per_mtok: float | None = Field(None, ge=0)
    cached_input_per_mtok: float | None = Field(None, ge=0)
    output_per_mtok: float | None = Field(None, ge=0)


class Price(UserModel):
    """USD per million tokens (``*_per_mtok``) plus an optional fee per request.

    Either written inline or imported from LiteLLM's ``model_prices_and_context_window.json`` with
    ``litellm: {file: prices.json, model: gpt-4o}`` (per-token prices there are converted).
    """

    input_per_mtok: float = Field(0.0, ge=0, description="uncached input")
    cached_input_per_mtok: float | None = Field(None, ge=0, description="cache read; defaults to input price")
    cache_write_per_mtok: float | None = Field(
        None, ge=0, description="cache write (Anthropic: 5-minute lifetime); defaults to input price"
    )
    cache_write_1h_per_mtok: float | None = Field(
        None, ge=0, description="Anthropic 1-hour cache write; defaults to cache_write_per_mtok"
    )
    output_per_mtok: float = Field(0.0, ge=0, description="output, reasoning included unless priced apart")
    reasoning_per_mtok: float | None = Field(None, ge=0, description="reasoning; defaults to output price")
    per_request: float = Field(0.0, ge=0, description="flat fee per attempt that got an answer")
    tiers: list[PriceTier] = Field(default_factory=list)
    litellm: dict[str, str] | None = Field(None, description="{file, model}: import from LiteLLM's price map")


_CREDENTIAL_HEADERS = frozenset(
    {"authorization", "x-api-key", "api-key", "proxy-authorization", "x-goog-api-key", "cookie"}
)


_SECRET_QUERY_NAMES = frozenset(
    {"key", "api_key", "apikey", "api-key", "access_token", "token", "auth", "password", "secret", "sig"}
)


def url_credential_problem(url: str, field: str = "base_url") -> str | None:
    """Why ``url`` cannot be a base URL because it carries a credential (never quoting it), or None.

    A password in ``http://user:secret@host/v1`` or a key in ``?key=...`` would be written to the
    manifest, the resolved scenario, the report and every bundle, and httpx would send the user:password
    as Basic auth instead of the endpoint's key.
    """
    from urllib.parse import parse_qsl, urlsplit

    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        return f"{field} contains whitespace or a control character"
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return f"{field} is not a valid URL"
    if "@" in parts.netloc:
        return (
            f"{field} carries credentials (user:password@host): they would be written to the manifest, "
            "the report and bundles; remove them and name the variable holding the key with api_key_env"
        )
    secret = sorted(
        {k for k, _v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() in _SECRET_QUERY_NAMES}
    )
    if secret:
        return (
            f"{field} carries a credential in its query string ({', '.join(secret)}=...): it would be "
            "written to the manifest, the report and bundles; remove it and use api_key_env"
        )
    return None


def _set(field: str) -> dict[str, Any]:
    """JSON Schema: ``field`` is given and not null."""
    return {"required": [field], "properties": {field: {"not": {"type": "null"}}}}


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


def _endpoint_schema(schema: dict[str, Any]) -> None:
    """What ``Endpoint``'s validators check, for editors: one target, http(s) URLs, Azure's api_version,
    no credential headers."""
    schema["oneOf"] = [_set("sim"), _set("base_url")]
    base_url = schema["properties"]["base_url"]
    base_url["anyOf"][0]["pattern"] = "^https?://"
    schema["if"] = {
        "required": ["dialect"],
        "properties": {"dialect": {"const": "azure-openai"}},
        "not": _set("sim"),
    }
    schema["then"] = _set("api_version")
    names = "|".join(_any_case(h) for h in sorted(_CREDENTIAL_HEADERS))
    schema["properties"]["headers"]["propertyNames"] = {"not": {"pattern": f"^({names})$"}}


class PromptCache(UserModel):
    """Where requests ask the vendor to cache their prompt. Only Anthropic needs asking: the
    anthropic-messages dialect marks ``cache_control`` on the system prompt (``system``) and also on the
    last message (``system+history``, so a conversation's earlier turns are read from the cache). OpenAI,
    Azure OpenAI and Gemini cache long prompts by themselves; for them nothing is sent."""

    breakpoints: Literal["none", "system", "system+history"] = Field(
        "system", description="what to mark: nothing, the system prompt, or it and the last message"
    )
    ttl: Literal["5m", "1h"] = Field(
        "5m", description="lifetime asked for: 5 minutes (the default, writes 1.25x input) or 1 hour (2x)"
    )


ReasoningEffort = Literal["minimal", "low", "medium", "high"]

THINKING_BUDGET_FOR_EFFORT: dict[str, int] = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
"""The token budget sent to a dialect that takes one (Anthropic ``budget_tokens``, Gemini
``thinkingBudget``) when a scenario gives only ``reasoning.effort``."""

ANTHROPIC_MIN_THINKING_BUDGET = 1024
"""Anthropic refuses ``thinking.budget_tokens`` below this (and at or above the request's ``max_tokens``)."""


class Reasoning(UserModel):
    """Ask a reasoning model to think before it answers, in the endpoint's dialect::

        reasoning: {effort: high}              # openai-chat / azure-openai: reasoning_effort
        reasoning: {budget_tokens: 4096}       # anthropic-messages: thinking {type: enabled, budget_tokens}
                                               # gemini: generationConfig.thinkingConfig.thinkingBudget

    A dialect that takes a budget and is given only ``effort`` gets the budget of that effort
    (minimal 1,024, low 2,048, medium 8,192, high 24,576 tokens); OpenAI's takes no budget, so an
    openai-chat or azure-openai endpoint needs ``effort``. Anthropic refuses temperature with thinking: a
    prompt's temperature is not sent there while thinking is on. Reasoning tokens are billed as output
    (``price.reasoning_per_mtok`` prices them apart).
    """

    effort: ReasoningEffort | None = Field(
        None, description="how hard to think: minimal | low | medium | high (OpenAI reasoning_effort)"
    )
    budget_tokens: int | None = Field(
        None,
        ge=0,
        description="most thinking tokens (Anthropic budget_tokens: at least 1,024 and below each prompt's "
        "max_tokens; Gemini thinkingBudget, 0 turns thinking off)",
    )

    @model_validator(mode="after")
    def _something_asked(self) -> Reasoning:
        if self.effort is None and self.budget_tokens is None:
            raise ValueError("give effort (minimal|low|medium|high), budget_tokens, or both")
        return self

    def budget(self) -> int:
        """The thinking budget a budget-taking dialect is sent."""
        if self.budget_tokens is not None:
            return self.budget_tokens
        return THINKING_BUDGET_FOR_EFFORT[self.effort or "medium"]


class Endpoint(UserModel):
    """One vendor API target. Either ``sim`` (a simulated vendor the harness starts) or ``base_url``."""

    model_config = UserModel.model_config | {"json_schema_extra": _endpoint_schema}

    name: Name
    dialect: DialectName
    model: str = Field(description="model (or Azure deployment) requested")
    base_url: str | None = Field(None, description="what you would pass to the vendor's SDK as base URL")
    sim: str | None = Field(None, description="simulated vendor profile: a preset or a key of sim_profiles")
    api_key_env: EnvName | None = Field(
        None, description="name of the environment variable holding the API key"
    )
    api_version: str | None = Field(None, description="Azure api-version query parameter")
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    stream: bool = True
    region: str | None = None
    headers: dict[str, str] = Field(default_factory=dict, description="extra non-secret request headers")
    cache: PromptCache | None = Field(
        None, description="prompt caching breakpoints (anthropic-messages); none by default"
    )
    price: Price = Field(default_factory=Price)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    limits: Limits = Field(default_factory=Limits)
    reasoning: Reasoning | None = Field(
        None, description="ask for thinking before the answer, converted to the dialect's own field"
    )
    metrics_url: str | None = Field(
        None,
        description="the server's Prometheus metrics URL, scraped during the run into server_metrics.parquet "
        "(a simulated vendor's own /metrics by default)",
    )

    @field_validator("base_url", "metrics_url")
    @classmethod
    def _no_url_credentials(cls, url: str | None, info: ValidationInfo) -> str | None:
        if url is not None:
            problem = url_credential_problem(url, info.field_name or "base_url")
            if problem:
                raise ValueError(problem)
        return url

    @field_validator("metrics_url")
    @classmethod
    def _metrics_url_is_http(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("metrics_url must start with http:// or https://")
        return url

    @field_validator("headers")
    @classmethod
    def _no_credentials(cls, headers: dict[str, str]) -> dict[str, str]:
        for name in headers:
            if name.lower() in _CREDENTIAL_HEADERS:
                raise ValueError(
                    f"header {name!r} carries a credential: API keys are never written in files; "
                    "name the variable with api_key_env"
                )
        return headers

    @model_validator(mode="after")
    def _one_target(self) -> Endpoint:
        if (self.sim is None) == (self.base_url is None):
            raise ValueError("give exactly one of `sim` (simulated vendor) or `base_url`")
        if self.base_url is not None and not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        if self.dialect == "azure-openai" and self.api_version is None and self.sim is None:
            raise ValueError("azure-openai endpoints need api_version")
        r = self.reasoning
        if r is not None:
            if self.dialect in ("openai-chat", "azure-openai") and r.effort is None:
                raise ValueError(
                    f"reasoning.effort: {self.dialect} takes reasoning_effort (minimal|low|medium|high), "
                    "not a token budget; give effort"
                )
            if self.dialect == "anthropic-messages" and r.budget() < ANTHROPIC_MIN_THINKING_BUDGET:
                raise ValueError(
                    f"reasoning.budget_tokens: anthropic-messages needs at least "
                    f"{ANTHROPIC_MIN_THINKING_BUDGET}, got {r.budget()}"
                )
        return self


RetryClass = Literal[
    "connect_refused",
    "connect_timeout",
    "read_timeout",
    "conn_reset",
    "conn_closed_early",
    "http_429",
    "http_5xx",
    "overloaded",
    "stream_truncated",
    "stream_error_event",
    "malformed_response",
    "response_too_large",
    "unrequested_encoding",
]
"""The error classes (:data:`harness._vocab.ErrorClass`) a retry or a fallback may answer: all but
``http_4xx`` (the request itself is wrong), ``deadline_exceeded`` (never sent), ``run_ended`` and
``not_sent`` (the run was over) and ``client_error`` (a harness bug). tests/test_vocabulary.py keeps the
two lists in step."""

_DEFAULT_RETRY_ON: tuple[RetryClass, ...] = (
    "connect_refused",
    "connect_timeout",
    "conn_reset",
    "conn_closed_early",
    "http_429",
    "http_5xx",
    "overloaded",
)


class Contender(UserModel):
    """What is compared: a primary endpoint, an ordered fallback chain and the routing policy."""

    name: Name
    primary: Name
    fallbacks: list[Name] = Field(default_factory=list)
    retries: int = Field(
        0, ge=0, le=10, description="extra attempts on the same endpoint before falling back"
    )
    retry_on: list[RetryClass] = Field(default_factory=lambda: list(_DEFAULT_RETRY_ON))
    fallback_on: list[RetryClass] | None = Field(
        None, description="classes that trigger fallback; default: any"
    )
    backoff_base: Duration = Field(0.5, ge=0, description="first backoff; doubles per retry")
    backoff_cap: Duration = Field(8.0, ge=0, description="longest backoff, Retry-After included")
    cooldown_after: int = Field(3, ge=1, description="consecutive failures that cool an endpoint down")
    cooldown: Duration = Field(5.0, ge=0, description="how long a cooled-down endpoint is skipped")
    deadline: PositiveDuration = Field(120.0, description="per logical request, all attempts included")


class Check(UserModel):
    """An expectation on the answer; exactly one kind."""

    model_config = UserModel.model_config | {
        "json_schema_extra": {"oneOf": [_set(k) for k in ("contains", "regex", "exact", "json_schema")]}
    }

    contains: str | None = None
    regex: str | None = None
    exact: str | None = None
    json_schema: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Check:
        kinds = [k for k in ("contains", "regex", "exact", "json_schema") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a check needs exactly one of contains, regex, exact, json_schema")
        return self


class ToolCall(UserModel):
    """A tool call an assistant message made: one neutral shape that every dialect converts
    (OpenAI ``tool_calls``, Anthropic ``tool_use`` blocks, Gemini ``functionCall`` parts)."""

    id: str = Field(min_length=1, description="the call's id; the tool message answering it names it")
    name: str = Field(min_length=1, description="the tool called")
    arguments: dict[str, Any] = Field(description="the call's arguments (a JSON object)")

    @field_validator("arguments", mode="before")
    @classmethod
    def _object_not_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(
                "arguments is a JSON object, not a string of JSON: write {...} unquoted "
                "(each dialect encodes it as its vendor expects)"
            )
        return value


class _Missing:
    """Marks a ``content`` the message left out (its default ``""`` is only for tool-calling messages)."""


_NO_CONTENT = _Missing()


class Message(UserModel):
    """One turn of a conversation. A tool round trip is written as an assistant message with
    ``tool_calls``, then one ``tool`` message per call (``tool_call_id`` = the call's ``id``)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str = Field(
        "", description="the text; may be left out only by an assistant message with tool_calls"
    )
    tool_call_id: str | None = Field(
        None, description="tool messages: the id of the call this result answers"
    )
    tool_calls: list[ToolCall] | None = Field(
        None, min_length=1, description="assistant messages: the tool calls it made"
    )

    # the exported schema says what the validators check: content unless the message calls tools; tool
    # messages name their call; only assistants call tools
    model_config = UserModel.model_config | {
        "json_schema_extra": {
            "anyOf": [{"required": ["content"]}, _set("tool_calls")],
            "allOf": [
                {
                    "if": {"required": ["role"], "properties": {"role": {"const": "tool"}}},
                    "then": {
                        "required": ["tool_call_id"],
                        "properties": {"tool_call_id": {"type": "string", "minLength": 1}},
                    },
                },
                {"if": _set("tool_calls"), "then": {"properties": {"role": {"const": "assistant"}}}},
            ],
        }
    }

    @model_validator(mode="before")
    @classmethod
    def _content_required(cls, data: Any) -> Any:
        if isinstance(data, dict) and "content" not in data and not data.get("tool_calls"):
            return {**data, "content": _NO_CONTENT}  # reported as missing by _content_given
        return data

    @field_validator("content", mode="before")
    @classmethod
    def _content_given(cls, value: Any) -> Any:
        if value is _NO_CONTENT:
            raise PydanticCustomError("missing", "Field required")
        return value

    @field_validator("tool_call_id")
    @classmethod
    def _tool_result_names_its_call(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("role") == "tool" and not value:
            raise ValueError("a tool message needs tool_call_id: the id of the tool call it answers")
        return value

    @field_validator("tool_calls")
    @classmethod
    def _only_assistants_call_tools(
        cls, value: list[ToolCall] | None, info: ValidationInfo
    ) -> list[ToolCall] | None:
        role = info.data.get("role")
        if value is not None and role is not None and role != "assistant":
            raise ValueError(f"only an assistant message can carry tool_calls (this one is a {role} message)")
        return value


EXTRA_BODY_RESERVED = frozenset(
    {"model", "messages", "stream", "stream_options", "contents", "system", "systemInstruction"}
)
"""Request fields a prompt's ``extra_body`` may never hold: the model, the conversation and streaming,
which bakeoff sets in every dialect. Other fields conflict only where a dialect sets them too (the
dialect refuses those when it builds the request)."""


class JsonSchemaFormat(UserModel):
    """A JSON Schema the answer must follow (OpenAI's ``response_format.json_schema``)."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9_-]{1,64}$", description="the schema's name (letters, digits, _ and -)"
    )
    schema_: dict[str, Any] = Field(alias="schema", description="the JSON Schema of the answer")
    description: str | None = None
    strict: bool | None = Field(None, description="OpenAI: follow the schema exactly")

    model_config = UserModel.model_config | {"populate_by_name": True}


class ResponseFormat(UserModel):
    """The answer's form, written as OpenAI writes it and converted per dialect: ``{"type": "json_object"}``
    (any JSON object) or ``{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}``."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = Field(None, description="with type json_schema: the schema")

    model_config = UserModel.model_config | {
        "json_schema_extra": {
            "if": {"required": ["type"], "properties": {"type": {"const": "json_schema"}}},
            "then": {"required": ["json_schema"]},
            "else": {"properties": {"json_schema": {"type": "null"}}},
        }
    }

    @model_validator(mode="after")
    def _schema_iff_json_schema(self) -> ResponseFormat:
        if (self.type == "json_schema") != (self.json_schema is not None):
            raise ValueError("json_schema is given with type json_schema, and only then")
        return self


class Turn(UserModel):
    """One turn of a session: what the user says, and optionally the reply recorded for it (sent back as
    the assistant's answer in the later turns' history with ``load.history: recorded``)."""

    user: str = Field(min_length=1, description="the user's message of this turn")
    assistant: str | None = Field(
        None,
        min_length=1,
        description="the recorded reply (the history of later turns with history: recorded)",
    )
    max_tokens: int | None = Field(
        None, ge=1, description="this turn's answer budget (default: the session's)"
    )
    check: Check | None = Field(None, description="an expectation on this turn's answer")


MAX_TURNS = 100
"""Turns a session may hold."""


_NO_MESSAGES = _Missing()
_EMPTY_MESSAGES = _Missing()


class PromptItem(UserModel):
    """One prompt of a prompt set (one JSON object per line of a ``.jsonl`` file): a single request with
    ``messages``, or a multi-turn session with ``turns`` (exactly one of the two)."""

    id: Name
    prompt_class: str = Field("chat", alias="class")
    system: str | None = None
    messages: list[Message] = Field(
        default_factory=list, description="the conversation of a single request (not with turns)"
    )
    turns: list[Turn] | None = Field(
        None,
        min_length=1,
        max_length=MAX_TURNS,
        description="a multi-turn session: one request per turn, in order, each carrying the conversation so "
        "far (not with messages)",
    )
    max_tokens: int = Field(256, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    seed: int | None = None
    tools: list[dict[str, Any]] | None = None
    response_format: ResponseFormat | None = Field(
        None, description="JSON mode or a JSON Schema for the answer (OpenAI form; converted per dialect)"
    )
    extra_body: dict[str, Any] | None = Field(
        None,
        description="extra request fields merged into the body as sent (vendor-specific options); "
        "a field bakeoff sets (model, messages, stream, ...) cannot be overwritten",
    )
    check: Check | None = None

    model_config = UserModel.model_config | {
        "populate_by_name": True,
        "json_schema_extra": {
            "oneOf": [
                {"required": ["messages"], "properties": {"messages": {"minItems": 1}}, "not": _set("turns")},
                {
                    "required": ["turns"],
                    "properties": {"turns": {"not": {"type": "null"}}, "messages": {"maxItems": 0}},
                    "not": _set("check"),
                },
            ]
        },
    }

    @model_validator(mode="before")
    @classmethod
    def _messages_unless_turns(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("turns") is None and not data.get("messages"):
            # reported on the messages field by _messages_given (missing, or an empty list)
            return {**data, "messages": _NO_MESSAGES if "messages" not in data else _EMPTY_MESSAGES}
        return data

    @field_validator("messages", mode="before")
    @classmethod
    def _messages_given(cls, value: Any) -> Any:
        if value is _NO_MESSAGES:
            raise PydanticCustomError("missing", "Field required (or turns, for a multi-turn session)")
        if value is _EMPTY_MESSAGES:
            raise PydanticCustomError(
                "too_short", "List should have at least 1 item (or give turns, for a multi-turn session)"
            )
        return value

    @model_validator(mode="after")
    def _messages_or_turns(self) -> PromptItem:
        if self.turns is not None:
            if self.messages:
                raise ValueError("give either messages (one request) or turns (a session), not both")
            if self.check is not None:
                raise ValueError("a session's checks go on its turns (turns[i].check), not on the session")
        return self

    @field_validator("extra_body")
    @classmethod
    def _extra_body_adds_only(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        taken = sorted(k for k in value or () if k in EXTRA_BODY_RESERVED)
        if taken:
            raise ValueError(
                f"{', '.join(taken)}: bakeoff sets {'these' if len(taken) > 1 else 'this'} itself; "
                "extra_body may only add fields (set the model on the endpoint, streaming with stream:)"
            )
        return value


class Stage(UserModel):
    """A piece of an open-model load: hold or ramp the arrival rate for a while."""

    duration: PositiveDuration = Field(description="how long the stage lasts")
    rate: Rate = Field(description="arrival rate at the end of the stage (requests/s)")
    ramp: bool = Field(False, description="ramp linearly from the previous rate instead of stepping")


class Sweep(UserModel):
    """Walk the arrival rate up in equal steps to find where a contender breaks (open model)."""

    start: PositiveRate = Field(description="rate of the first step (requests/s)")
    end: PositiveRate = Field(description="rate of the last step (requests/s)")
    steps: int = Field(ge=2, le=100)
    step_duration: PositiveDuration = Field(description="how long each step lasts")

    def rates(self) -> list[float]:
        return [self.start + (self.end - self.start) * k / (self.steps - 1) for k in range(self.steps)]


class Search(UserModel):
    """Find each contender's sustainable rate adaptively (open model): a shared geometric ramp, each
    contender stopped at its first failing step, then bisection of its own bracket to ``precision``."""

    start: PositiveRate = Field(description="rate of the first step (requests/s)")
    max: PositiveRate = Field(description="highest rate the ramp offers (requests/s)")
    factor: float = Field(2.0, gt=1, le=10, description="the ramp multiplies the rate by this each step")
    step_duration: PositiveDuration = Field(description="how long each step lasts")
    precision: float = Field(
        0.1, gt=0, lt=1, description="stop refining when the knee is known to ± this fraction of itself"
    )
    max_steps: int = Field(12, ge=2, le=100, description="steps at most, ramp and refinement together")

    @model_validator(mode="after")
    def _range(self) -> Search:
        if self.max < self.start:
            raise ValueError("max must be at least start")
        if self.start * self.step_duration < 2:
            raise ValueError("start × step_duration must hold at least 2 requests: a step needs evidence")
        return self

    def ramp_rate(self, k: int) -> float:
        """The rate of ramp step ``k`` (0-based): ``start × factor^k``, at most ``max``."""
        return float(min(self.start * self.factor**k, self.max))


class LoadProfile(UserModel):
    """How requests arrive. Open model: a seeded arrival schedule. Closed model: N users in a loop.

    Shapes: ``rate`` alone holds one rate; ``stages`` step or ramp it (a spike is a short high stage);
    ``sweep`` walks it up in equal steps. Warm-up and cool-down windows are excluded from metrics.
    """

    # the exported schema refuses stages and a sweep together (the sums are checked by the loader only)
    model_config = UserModel.model_config | {
        "json_schema_extra": {
            "allOf": [
                {
                    "not": {
                        "required": ["stages", "sweep"],
                        "properties": {"stages": {"minItems": 1}, "sweep": {"type": "object"}},
                    }
                },
                {
                    "not": {
                        "required": ["stages", "search"],
                        "properties": {"stages": {"minItems": 1}, "search": {"type": "object"}},
                    }
                },
                {
                    "not": {
                        "required": ["sweep", "search"],
                        "properties": {"sweep": {"type": "object"}, "search": {"type": "object"}},
                    }
                },
            ]
        }
    }

    model: Literal["open", "closed"] = "open"
    mode: Literal["parallel", "sequential"] = Field("parallel", description="contenders at once or in turn")
    arrival: Literal["constant", "poisson", "gamma"] = "poisson"
    rate: PositiveRate = Field(2.0, description="open model: requests/s per contender")
    burstiness: float = Field(1.0, gt=0, description="gamma shape; < 1 is burstier than Poisson")
    stages: list[Stage] = Field(default_factory=list, description="open model: overrides rate over time")
    sweep: Sweep | None = Field(None, description="open model: step the rate up; sets duration")
    search: Search | None = Field(
        None, description="open model: find each contender's knee adaptively (docs/capacity.md)"
    )
    users: int = Field(4, ge=1, description="closed model: concurrent users per contender; open: pool size")
    spawn_rate: float = Field(10.0, gt=0, description="closed model: users started per second per contender")
    think_time: Duration = Field(
        0.0,
        ge=0,
        description="closed model: pause after each request; sessions: from a turn's answer to the next turn",
    )
    history: Literal["own", "recorded"] = Field(
        "own",
        description="sessions: the answers later turns carry, the contender's own or the replies recorded "
        "in the prompt file",
    )
    duration: PositiveDuration = Field(60.0, description="how long requests are scheduled")
    warmup: Duration = Field(0.0, ge=0, description="excluded from metrics")
    cooldown: Duration = Field(0.0, ge=0, description="excluded from metrics")
    max_requests: int | None = Field(
        None, ge=1, description="stop after this many logical requests per contender"
    )
    max_error_rate: float | None = Field(None, gt=0, le=1, description="stop when the error rate exceeds it")
    grace: Duration = Field(10.0, ge=0, description="time in-flight requests get to finish at the end")

    @model_validator(mode="after")
    def _shape(self) -> LoadProfile:
        if self.sweep is not None:
            if self.stages:
                raise ValueError("give either stages or sweep, not both")
            if self.search is not None:
                raise ValueError("give either sweep or search, not both")
            total = self.sweep.steps * self.sweep.step_duration
            if "duration" in self.model_fields_set and abs(self.duration - total) > 1e-9:
                raise ValueError(
                    f"duration must equal sweep.steps × sweep.step_duration ({total:g} s) or be omitted"
                )
            object.__setattr__(self, "duration", total)
        elif self.search is not None:
            if self.stages:
                raise ValueError("give either stages or search, not both")
            if self.model != "open" or self.mode != "parallel":
                raise ValueError("search needs the open model with contenders in parallel")
            if self.warmup or self.cooldown:
                raise ValueError("search judges every step whole: leave warmup and cooldown at 0")
            if self.max_error_rate is not None:
                raise ValueError("search stops a failing contender itself: leave max_error_rate unset")
            if "duration" not in self.model_fields_set:  # room for the pauses between steps
                object.__setattr__(self, "duration", 1.5 * self.search.max_steps * self.search.step_duration)
            elif self.duration < self.search.step_duration:
                raise ValueError("duration (the search's time budget) is shorter than one step")
        elif self.stages and "duration" not in self.model_fields_set:
            object.__setattr__(self, "duration", sum(st.duration for st in self.stages))
        if self.warmup + self.cooldown >= self.duration:
            raise ValueError("warmup + cooldown leave no measured window")
        return self

    def effective_stages(self) -> list[Stage]:
        """The stages the arrival process follows (a sweep expanded into steps)."""
        if self.sweep is not None:
            return [Stage(duration=self.sweep.step_duration, rate=r) for r in self.sweep.rates()]
        return list(self.stages)


FaultKind = Literal[
    # TCP level, through Toxiproxy
    "outage",
    "latency",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
    # HTTP/SSE level, in the harness's client path
    "http_status",
    "rate_limit",
    "stream_cut",
    "stall",
    "malformed_chunk",
]


AFTER_TOKENS_RENAMED = (
    "after_tokens is now after_chunks: it always counted content chunks (SSE events), not tokens; "
    "the old name is still read"
)


def _fault_spec_schema(schema: dict[str, Any]) -> None:
    """What ``FaultSpec``'s validators check, for editors; after_tokens is read as after_chunks."""
    schema.setdefault("properties", {})["after_tokens"] = {
        "anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}],
        "deprecated": True,
        "description": "the former name of after_chunks",
    }
    schema["allOf"] = [
        {"not": {"required": ["after_tokens", "after_chunks"]}},
        {
            "if": {"required": ["kind"], "properties": {"kind": {"const": "http_status"}}},
            "then": _set("status"),
        },
        {
            "if": {"required": ["kind"], "properties": {"kind": {"const": "rate_limit"}}},
            "then": {"anyOf": [_set("rpm"), _set("tpm")]},
        },
    ]


class FaultSpec(UserModel):
    """One fault. TCP kinds map to Toxiproxy toxics (attributes in Toxiproxy's units); HTTP kinds act
    per request in the client path."""

    # after_tokens (its first name) is read as after_chunks; the exported schema accepts it too
    model_config = UserModel.model_config | {"json_schema_extra": _fault_spec_schema}

    @model_validator(mode="after")
    def _needs(self) -> FaultSpec:
        if self.kind == "http_status" and self.status is None:
            raise ValueError("an http_status fault needs status (the HTTP status to answer)")
        if self.kind == "rate_limit" and self.rpm is None and self.tpm is None:
            raise ValueError("a rate_limit fault needs rpm or tpm (or both)")
        return self

    @model_validator(mode="before")
    @classmethod
    def _after_tokens_renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "after_tokens" in data:
            if "after_chunks" in data:
                raise ValueError("give after_chunks only (after_tokens is its former name)")
            data = {("after_chunks" if k == "after_tokens" else k): v for k, v in data.items()}
        return data

    kind: FaultKind
    description: str = ""
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: float = Field(1.0, ge=0, le=1, description="TCP: share of connections affected")
    attributes: dict[str, int | float] = Field(default_factory=dict, description="Toxiproxy toxic attributes")
    probability: float = Field(1.0, ge=0, le=1, description="HTTP: share of requests affected (seeded)")
    status: int | None = Field(None, ge=400, le=599, description="http_status: status to answer")
    retry_after: Duration | None = Field(None, description="http_status 429/503: Retry-After to send")
    after_chunks: int | None = Field(
        None,
        ge=0,
        description="stream_cut / stall / malformed_chunk: act after N content chunks (SSE events with "
        "text; a vendor may put several tokens in one). Formerly after_tokens, still read.",
    )
    stall_for: Duration | None = Field(None, description="stall: how long the stream stops")
    rpm: int | None = Field(None, ge=1, description="rate_limit: requests per minute allowed")
    tpm: int | None = Field(
        None, ge=1, description="rate_limit: tokens per minute (prompt estimate + max_tokens)"
    )


class FaultFile(FaultSpec):
    """A reusable fault in ``faults/<name>.yaml``: a spec with a name a reader understands."""

    name: Name
    description: str = Field(min_length=1, description="one line, used by the report")


class FaultEntry(UserModel):
    """One entry of the fault timeline: at ``at`` for ``duration``, on an endpoint, a contender, or every
    contender at once (``each-contender``). Every contender reaches every endpoint on a network path of
    its own, so a target says which paths the fault acts on (docs/scenarios.md)."""

    model_config = UserModel.model_config | {
        "json_schema_extra": {
            "if": {"required": ["fault"], "properties": {"fault": {"type": "string"}}},
            "then": {"not": _set("name")},
        }
    }

    at: Duration
    duration: PositiveDuration | None = Field(None, description="omit to keep the fault until the run ends")
    target: Name = Field(
        description="an endpoint (the vendor itself fails, for every contender using it), a contender "
        "(its own paths only), or each-contender (every contender at the same offset, each on its own "
        "path to its primary)"
    )
    fault: Annotated[Name | FaultSpec, Field(description="a library fault's name, or an inline spec")]
    name: Name | None = Field(None, description="inline faults: the name the report uses (default: the kind)")

    @model_validator(mode="after")
    def _name_only_inline(self) -> FaultEntry:
        if self.name is not None and isinstance(self.fault, str):
            raise ValueError("name is for inline faults; a library fault is named by its file")
        return self


class SLO(UserModel):
    """Per-request thresholds that make a request "good", and run-level limits that make a contender pass."""

    ttft: PositiveDuration | None = Field(
        None, description="user TTFT a good request stays within (from when it was scheduled)"
    )
    ttfot: PositiveDuration | None = Field(
        None,
        description="user time to first output token a good request stays within: the answer's first "
        "token, after any reasoning (from when it was scheduled)",
    )
    tpot: PositiveDuration | None = Field(
        None, description="time per output token a good request stays within"
    )
    e2e: PositiveDuration | None = Field(
        None, description="user latency a good request stays within (retries and fallbacks included)"
    )
    max_error_rate: float = Field(0.05, ge=0, le=1)
    min_good_fraction: float = Field(0.9, ge=0, le=1)


Gate = Literal["max_error_rate", "min_good_fraction", "ttft", "ttfot", "tpot", "e2e"]
"""A must-pass check: ``max_error_rate`` / ``min_good_fraction`` compare the contender's error rate and good
fraction with the SLO; ``ttft`` / ``ttfot`` / ``tpot`` / ``e2e`` ask that at least ``min_good_fraction`` of
its requests met that one per-request threshold (``ttfot``: time to first output token, after any
reasoning)."""


_DEFAULT_GATES: tuple[Gate, ...] = ("max_error_rate", "min_good_fraction")


class DecisionWeights(UserModel):
    """How much each objective counts in the ranking, relative to the others (0 leaves one out)."""

    ttft: float = Field(1.0, ge=0, description="p95 user TTFT")
    latency: float = Field(1.0, ge=0, description="p95 and p99 user latency (half each)")
    good_fraction: float = Field(1.0, ge=0, description="share of requests that succeeded and met every SLO")
    cost: float = Field(
        1.0, ge=0, description="cost per good request (left out when a contender is unpriced)"
    )
    resilience: float = Field(
        1.0,
        ge=0,
        description="under the faults every contender faced: requests lost, latency added and time to "
        "recover (a third each)",
    )


class Decision(UserModel):
    """How the verdict ranks: must-pass gates first, then a weighted comparison of objectives in which
    differences the run cannot prove are ties::

        decision:
          gates: [max_error_rate, min_good_fraction, ttft]
          weights: {cost: 2, resilience: 0.5}
    """

    gates: list[Gate] = Field(
        default_factory=lambda: list(_DEFAULT_GATES),
        description="SLO checks a contender must pass to rank above every contender that fails one",
    )
    weights: DecisionWeights = Field(default_factory=DecisionWeights)
    confidence: float = Field(
        0.95, ge=0.5, le=0.999, description="a difference is proven when its bootstrap interval excludes 0"
    )
    bootstrap: int = Field(500, ge=100, le=20_000, description="bootstrap resamples of the logical requests")

    @model_validator(mode="after")
    def _something_to_rank_on(self) -> Decision:
        if not any(self.weights.model_dump().values()):
            raise ValueError("at least one objective weight must be above 0")
        if len(set(self.gates)) != len(self.gates):
            raise ValueError("a gate is listed twice")
        return self


SECONDS_PER_MONTH = 30 * 86_400
"""The month of ``monthly_requests``: 30 days."""


class CapacityNeed(UserModel):
    """The rate each contender must sustain at your peak, which the scorecard's capacity criterion measures
    the sustainable rate of a stepped load against: ``peak_rps`` when given, else ``monthly_requests``
    spread over a 30-day month × ``peak_factor``::

        monthly_requests: 10000000
        capacity: {peak_factor: 4}        # 10 M / 2,592,000 s × 4 ≈ 15.4 req/s
        # or: capacity: {peak_rps: 20/s}
    """

    peak_rps: PositiveRate | None = Field(
        None, description="the peak rate each contender must sustain (requests/s); overrides the estimate"
    )
    peak_factor: float = Field(
        3.0, ge=1, le=1000, description="peak over the average rate of monthly_requests"
    )

    def need_rps(self, monthly_requests: int | None) -> float | None:
        """The declared need (requests/s per contender), or None when there is nothing to derive it from."""
        if self.peak_rps is not None:
            return float(self.peak_rps)
        if monthly_requests:
            return monthly_requests / SECONDS_PER_MONTH * self.peak_factor
        return None


class Scenario(UserModel):
    """A bake-off: who is compared, on which prompts, under which load, with which faults and SLOs."""

    name: Name
    description: str = ""
    seed: int = 1
    prompts: str = Field(description="path of a .jsonl prompt set, relative to this file")
    prompt_limit: int | None = Field(None, ge=1, description="use only the first N prompts")
    endpoints: list[Endpoint] = Field(min_length=1)
    contenders: list[Contender] = Field(min_length=1)
    load: LoadProfile = Field(default_factory=LoadProfile)
    faults: list[FaultEntry] = Field(default_factory=list)
    slo: SLO = Field(default_factory=SLO)
    decision: Decision = Field(default_factory=Decision, description="how the verdict ranks contenders")
    sim_profiles: dict[Name, SimBehaviour] = Field(default_factory=dict)
    monthly_requests: int | None = Field(None, ge=1, description="declared volume for the cost projection")
    capacity: CapacityNeed = Field(
        default_factory=CapacityNeed,
        description="the peak rate the capacity criterion checks a stepped load's sustainable rate against",
    )
    metrics_interval: PositiveDuration = Field(
        2.0,
        description="how often each endpoint's server metrics (metrics_url; simulated vendors' /metrics) "
        "are scraped during the load",
    )
