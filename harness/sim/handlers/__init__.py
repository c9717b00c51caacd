"""The simulated wire dialects (one module per vendor API) behind one small interface."""

from __future__ import annotations

from harness.sim.handlers._anthropic import AnthropicSim
from harness.sim.handlers._base import Ctx, Parsed, SimDialect, SimHTTPError, StreamEncoder
from harness.sim.handlers._gemini import GeminiSim
from harness.sim.handlers._openai import AzureSim, OpenAISim
from harness.sim.handlers._personas import LiteLLMPersona, TGIPersona, VLLMPersona

__all__ = [
    "PERSONAS",
    "SIM_DIALECTS",
    "AnthropicSim",
    "AzureSim",
    "Ctx",
    "GeminiSim",
    "OpenAISim",
    "Parsed",
    "SimDialect",
    "SimHTTPError",
    "StreamEncoder",
    "dialect_for",
]

SIM_DIALECTS: dict[str, SimDialect] = {
    "openai-chat": OpenAISim(),
    "anthropic-messages": AnthropicSim(),
    "azure-openai": AzureSim(),
    "gemini": GeminiSim(),
}

PERSONAS: dict[str, SimDialect] = {"vllm": VLLMPersona(), "tgi": TGIPersona(), "litellm": LiteLLMPersona()}


def dialect_for(dialect: str, persona: str = "native") -> SimDialect:
    """The wire behaviour of an endpoint: its dialect, or an OpenAI-compatible persona of it."""
    if persona == "native":
        return SIM_DIALECTS[dialect]
    return PERSONAS[persona]
