"""The closed vocabularies every layer shares, each written once: dialect names and error classes.

``DialectName`` is the one list of vendor wire protocols: the config's ``dialect:`` field, the
simulator's endpoints, the sans-I/O dialect registry (:func:`harness.dialects.get_dialect`) and the
simulator's handler registry all use it, and ``tests/test_vocabulary.py`` checks that each registry
covers exactly these names. ``ErrorClass`` is the taxonomy of failed attempts (DESIGN.md): a record,
a dialect's classification and the config's ``retry_on`` / ``fallback_on`` speak it. Imports nothing
from the harness, so any layer may import it.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["DIALECT_NAMES", "ERROR_CLASSES", "DialectName", "ErrorClass"]

DialectName = Literal["openai-chat", "anthropic-messages", "azure-openai", "gemini"]
"""A vendor wire protocol (Azure OpenAI is OpenAI's chat protocol with Azure's URLs and auth)."""

DIALECT_NAMES: tuple[DialectName, ...] = get_args(DialectName)

ErrorClass = Literal[
    "connect_refused",
    "connect_timeout",
    "read_timeout",
    "conn_reset",
    "conn_closed_early",
    "http_429",
    "http_4xx",
    "http_5xx",
    "overloaded",
    "stream_truncated",
    "stream_error_event",
    "malformed_response",
    "deadline_exceeded",
    "client_error",
]
"""One class per failed attempt (DESIGN.md). ``client_error`` is a harness bug and must stay at zero.

``deadline_exceeded`` marks an attempt that was never sent because the logical request's deadline
had passed (or a cooled-down chain had nothing left to try).
"""

ERROR_CLASSES: tuple[ErrorClass, ...] = get_args(ErrorClass)
