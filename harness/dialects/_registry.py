"""The explicit registry of dialects (no import-time discovery)."""

from __future__ import annotations

from harness._errors import ConfigError
from harness.dialects._anthropic import AnthropicMessagesWire
from harness.dialects._events import WireDialect
from harness.dialects._gemini import GeminiWire
from harness.dialects._openai import AzureOpenAIWire, OpenAIChatWire

__all__ = ["DIALECT_NAMES", "get_dialect"]

_REGISTRY: dict[str, WireDialect] = {
    "openai-chat": OpenAIChatWire(),
    "azure-openai": AzureOpenAIWire(),
    "anthropic-messages": AnthropicMessagesWire(),
    "gemini": GeminiWire(),
}
DIALECT_NAMES: tuple[str, ...] = tuple(sorted(_REGISTRY))


def get_dialect(name: str) -> WireDialect:
    """The dialect called ``name`` (stateless, shared); an unknown name raises ``ConfigError``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError([f"unknown dialect {name!r}; valid: {', '.join(DIALECT_NAMES)}"]) from None
