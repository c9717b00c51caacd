"""Pydantic models of every user-written file and the loader that reports ``file:line: field: message``."""

from __future__ import annotations

from harness.config._load import (
    ResolvedFault,
    ResolvedScenario,
    api_key_problem,
    load_fault_file,
    load_scenario,
    resolve_price,
)
from harness.config._models import (
    DIALECT_NAMES,
    SLO,
    Check,
    Contender,
    Endpoint,
    FaultEntry,
    FaultFile,
    FaultSpec,
    LoadProfile,
    Message,
    Price,
    PriceTier,
    PromptItem,
    Scenario,
    Stage,
    Sweep,
    Timeouts,
    ToolCall,
)
from harness.config._prompts import PromptSet, as_prompt_set, load_prompts

__all__ = [
    "DIALECT_NAMES",
    "SLO",
    "Check",
    "Contender",
    "Endpoint",
    "FaultEntry",
    "FaultFile",
    "FaultSpec",
    "LoadProfile",
    "Message",
    "Price",
    "PriceTier",
    "PromptItem",
    "PromptSet",
    "ResolvedFault",
    "ResolvedScenario",
    "Scenario",
    "Stage",
    "Sweep",
    "Timeouts",
    "ToolCall",
    "api_key_problem",
    "as_prompt_set",
    "load_fault_file",
    "load_prompts",
    "load_scenario",
    "resolve_price",
]
