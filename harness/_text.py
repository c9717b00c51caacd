"""Untrusted text made safe to show: vendor answers and error bodies on a terminal, secrets out of text.

A model answer or a vendor's error body is data from outside. Printed raw, it can move the cursor,
rewrite the screen, set the window title or plant a hyperlink (ANSI CSI / OSC sequences), or reorder
what a reader sees (Unicode bidi overrides). :func:`terminal_safe` shows every such character as a
visible escape (``\\x1b``, ``\\u202e``) instead, so the evidence stays readable and inert.
:func:`redact` removes known secrets (API keys) from any text before it is written or shown::

    >>> terminal_safe("ok\\x1b[2J\\x1b]0;pwned\\x07")
    'ok\\\\x1b[2J\\\\x1b]0;pwned\\\\x07'
    >>> redact("Incorrect API key provided: sk-canary-123", ["sk-canary-123"])
    'Incorrect API key provided: [redacted]'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

__all__ = ["MIN_SECRET_CHARS", "REDACTED", "redact", "safe_text", "terminal_safe"]

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 4
"""Shorter "secrets" are not redacted: replacing every ``abc`` would mangle text and hide nothing real."""

# C0 controls, DEL, C1 controls (0x80-0x9f: C1 CSI/OSC act like ESC sequences on some terminals),
# bidi embeddings/overrides/isolates and marks (Trojan-Source reordering), line/paragraph separators,
# and the BOM / zero-width no-break space.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_UNSAFE_KEEP_LINES = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]"
)


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    code = ord(ch)
    if ch == "\n":
        return "\\n"
    if ch == "\t":
        return "\\t"
    if ch == "\r":
        return "\\r"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def terminal_safe(text: str, *, keep_newlines: bool = False, limit: int | None = None) -> str:
    """``text`` with every control, escape and bidi character shown as a visible escape.

    ``keep_newlines`` keeps ``\\n`` and ``\\t`` as they are (multi-line answers); otherwise the result is
    one line. ``\\r`` is always escaped (it would let text overwrite what was printed before it).
    ``limit`` cuts the result to that many characters (an ellipsis marks the cut).
    """
    pattern = _UNSAFE_KEEP_LINES if keep_newlines else _UNSAFE
    out = pattern.sub(_escape, text)
    if limit is not None and len(out) > limit:
        out = out[: max(0, limit - 1)] + "…"
    return out


def _variants(secret: str) -> set[str]:
    """The forms a secret takes in text we write: as is, URL-encoded, JSON-escaped."""
    out = {secret, quote(secret, safe=""), quote(secret, safe="/")}
    json_escaped = secret.replace("\\", "\\\\").replace('"', '\\"')
    out.add(json_escaped)
    return {v for v in out if len(v) >= MIN_SECRET_CHARS}


def redact(text: str, secrets: Iterable[str | None], placeholder: str = REDACTED) -> str:
    """``text`` with every occurrence of each secret (and its URL/JSON-escaped forms) replaced.

    ``None`` and secrets shorter than :data:`MIN_SECRET_CHARS` are skipped. Longer secrets are replaced
    first, so a secret that contains another is removed whole.
    """
    forms: set[str] = set()
    for s in secrets:
        if s and len(s) >= MIN_SECRET_CHARS:
            forms |= _variants(s)
    for form in sorted(forms, key=len, reverse=True):
        if form in text:
            text = text.replace(form, placeholder)
    return text


def safe_text(
    text: str,
    secrets: Iterable[str | None] = (),
    *,
    keep_newlines: bool = False,
    limit: int | None = None,
) -> str:
    """Redacted, then terminal-safe: what every probe result and error line shows of vendor text."""
    return terminal_safe(redact(text, secrets), keep_newlines=keep_newlines, limit=limit)
