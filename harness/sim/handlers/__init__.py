"""The simulated wire dialects (one module per vendor API) behind one small interface."""

from __future__ import annotations

from harness.sim.handlers._anthropic import AnthropicDialect
from harness.sim.handlers._base import Ctx, Dialect, Parsed, SimHTTPError, StreamEncoder
from harness.sim.handlers._gemini import GeminiDialect
from harness.sim.handlers._openai import AzureDialect, OpenAIDialect
from harness.sim.handlers._personas import LiteLLMPersona, TGIPersona, VLLMPersona

__all__ = [
    "DIALECTS",
    "PERSONAS",
    "AnthropicDialect",
    "AzureDialect",
    "Ctx",
    "Dialect",
    "GeminiDialect",
    "OpenAIDialect",
    "Parsed",
    "SimHTTPError",
    "StreamEncoder",
    "dialect_for",
]

DIALECTS: dict[str, Dialect] = {
    "openai-chat": OpenAIDialect(),
    "anthropic-messages": AnthropicDialect(),
    "azure-openai": AzureDialect(),
    "gemini": GeminiDialect(),
}

PERSONAS: dict[str, Dialect] = {"vllm": VLLMPersona(), "tgi": TGIPersona(), "litellm": LiteLLMPersona()}


def dialect_for(dialect: str, persona: str = "native") -> Dialect:
    """The wire behaviour of an endpoint: its dialect, or an OpenAI-compatible persona of it."""
    if persona == "native":
        return DIALECTS[dialect]
    return PERSONAS[persona]
