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

__all__ = ["DIALECT_NAMES", "ERROR_CLASSES", "RUN_CLASSES", "DialectName", "ErrorClass"]

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
    "response_too_large",
    "unrequested_encoding",
    "deadline_exceeded",
    "run_ended",
    "not_sent",
    "client_error",
]
"""One class per failed attempt (DESIGN.md). ``client_error`` is a harness bug and must stay at zero.

``response_too_large`` marks an answer that crossed one of the endpoint's ``limits`` (response head size
or header count, one SSE line or event, total body bytes, stream events); ``unrequested_encoding`` a 2xx
body sent with a ``Content-Encoding`` bakeoff did not ask for (it asks for ``identity`` and never
decodes). Both are the vendor's defects.

``deadline_exceeded`` marks an attempt that was never sent because the logical request's deadline
had passed (or a cooled-down chain had nothing left to try).

``run_ended`` and ``not_sent`` belong to the run, not to the vendor: ``run_ended`` is an attempt that
was still in flight when the load ended (its deadline, planned end + grace, passed, or a stop cut it),
with the timings it had reached kept; ``not_sent`` a scheduled request (or a planned retry) that was
never dispatched because the load ended first (``t_dispatch = t_end`` = when it was given up). With
them every scheduled request of every contender ends as a record.
"""

RUN_CLASSES: frozenset[ErrorClass] = frozenset({"run_ended", "not_sent"})
"""Classes that say how the run ended, not how the vendor behaved: never retried or rerouted, never a
reason for a cooldown."""

ERROR_CLASSES: tuple[ErrorClass, ...] = get_args(ErrorClass)
