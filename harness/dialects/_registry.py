"""The explicit registry of dialects (no import-time discovery)."""

from __future__ import annotations

from harness._errors import ConfigError
from harness.dialects._anthropic import AnthropicMessagesDialect
from harness.dialects._events import Dialect
from harness.dialects._gemini import GeminiDialect
from harness.dialects._openai import AzureOpenAIDialect, OpenAIChatDialect

__all__ = ["DIALECT_NAMES", "get_dialect"]

_REGISTRY: dict[str, Dialect] = {
    "openai-chat": OpenAIChatDialect(),
    "azure-openai": AzureOpenAIDialect(),
    "anthropic-messages": AnthropicMessagesDialect(),
    "gemini": GeminiDialect(),
}
DIALECT_NAMES: tuple[str, ...] = tuple(sorted(_REGISTRY))


def get_dialect(name: str) -> Dialect:
    """The dialect called ``name`` (stateless, shared); an unknown name raises ``ConfigError``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError([f"unknown dialect {name!r}; valid: {', '.join(DIALECT_NAMES)}"]) from None
