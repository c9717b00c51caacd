"""The explicit registry of dialects (no import-time discovery), keyed by :data:`DIALECT_NAMES`."""

from __future__ import annotations

from harness._errors import ConfigError
from harness._vocab import DIALECT_NAMES, DialectName
from harness.dialects._anthropic import AnthropicMessagesWire
from harness.dialects._events import WireDialect
from harness.dialects._gemini import GeminiWire
from harness.dialects._openai import AzureOpenAIWire, OpenAIChatWire

__all__ = ["DIALECT_NAMES", "get_dialect"]

_REGISTRY: dict[DialectName, WireDialect] = {
    "openai-chat": OpenAIChatWire(),
    "azure-openai": AzureOpenAIWire(),
    "anthropic-messages": AnthropicMessagesWire(),
    "gemini": GeminiWire(),
}


def get_dialect(name: str) -> WireDialect:
    """The dialect called ``name`` (stateless, shared); an unknown name raises ``ConfigError``."""
    try:
        return _REGISTRY[name]  # type: ignore[index]  # any str may be asked; unknown ones raise below
    except KeyError:
        valid = ", ".join(sorted(DIALECT_NAMES))
        raise ConfigError([f"unknown dialect {name!r}; valid: {valid}"]) from None
