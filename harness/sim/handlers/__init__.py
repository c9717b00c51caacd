"""The simulated wire dialects (one module per vendor API) behind one small interface."""

from __future__ import annotations

from harness.sim.handlers._anthropic import AnthropicDialect
from harness.sim.handlers._base import Ctx, Dialect, Parsed, SimHTTPError, StreamEncoder
from harness.sim.handlers._openai import AzureDialect, OpenAIDialect

__all__ = [
    "DIALECTS",
    "AnthropicDialect",
    "AzureDialect",
    "Ctx",
    "Dialect",
    "OpenAIDialect",
    "Parsed",
    "SimHTTPError",
    "StreamEncoder",
]

DIALECTS: dict[str, Dialect] = {
    "openai-chat": OpenAIDialect(),
    "anthropic-messages": AnthropicDialect(),
    "azure-openai": AzureDialect(),
}
