"""The closed vocabularies every layer shares, each written once.

``DialectName`` is the one list of vendor wire protocols: the config's ``dialect:`` field, the
simulator's endpoints, the sans-I/O dialect registry (:func:`harness.dialects.get_dialect`) and the
simulator's handler registry all use it, and ``tests/test_vocabulary.py`` checks that each registry
covers exactly these names. Imports nothing from the harness, so any layer may import it.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["DIALECT_NAMES", "DialectName"]

DialectName = Literal["openai-chat", "anthropic-messages", "azure-openai", "gemini"]
"""A vendor wire protocol (Azure OpenAI is OpenAI's chat protocol with Azure's URLs and auth)."""

DIALECT_NAMES: tuple[DialectName, ...] = get_args(DialectName)
