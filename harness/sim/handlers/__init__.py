"""The simulated wire dialects (one module per vendor API) behind one small interface."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness._vocab import DialectName
from harness.sim.handlers._anthropic import AnthropicSim
from harness.sim.handlers._base import Ctx, Parsed, SimDialect, SimHTTPError, StreamEncoder
from harness.sim.handlers._gemini import GeminiSim
from harness.sim.handlers._openai import AzureSim, OpenAISim
from harness.sim.handlers._personas import LiteLLMPersona, TGIPersona, VLLMPersona

if TYPE_CHECKING:
    from harness.behaviour import Persona

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

SIM_DIALECTS: dict[DialectName, SimDialect] = {
    "openai-chat": OpenAISim(),
    "anthropic-messages": AnthropicSim(),
    "azure-openai": AzureSim(),
    "gemini": GeminiSim(),
}

PERSONAS: dict[Persona, SimDialect] = {
    "vllm": VLLMPersona(),
    "tgi": TGIPersona(),
    "litellm": LiteLLMPersona(),
}


def dialect_for(dialect: DialectName, persona: Persona = "native") -> SimDialect:
    """The wire behaviour of an endpoint: its dialect, or an OpenAI-compatible persona of it."""
    if persona == "native":
        return SIM_DIALECTS[dialect]
    return PERSONAS[persona]
