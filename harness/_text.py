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

import base64
import functools
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

__all__ = ["MIN_SECRET_CHARS", "REDACTED", "redact", "redact_bytes", "safe_text", "terminal_safe"]

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 4
"""Shorter "secrets" are not redacted: replacing every ``abc`` would mangle text and hide nothing real."""
_MIN_BASE64_CHARS = 8  # a shorter base64 fragment of a secret matches ordinary text too often

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


def _base64_cores(secret: str) -> set[str]:
    """The base64 text a secret becomes inside a longer encoded value (``Basic base64(user:secret)``).

    Where the secret starts in the encoded bytes changes its encoding, so there is one form per offset
    modulo 3, each cut to the 4-character groups made of the secret's bytes alone (the groups it shares
    with its neighbours depend on them). Standard and URL-safe alphabets.
    """
    raw = secret.encode("utf-8", "surrogatepass")
    out: set[str] = set()
    for offset in range(3):
        enc = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        first = -(-offset // 3)  # first group holding secret bytes only
        last = (offset + len(raw)) // 3  # groups before this one are complete
        core = enc[4 * first : 4 * last]
        if len(core) >= _MIN_BASE64_CHARS:
            out |= {core, core.replace("+", "-").replace("/", "_")}
    return out


@functools.lru_cache(maxsize=256)
def _variants(secret: str) -> frozenset[str]:
    """The forms a secret takes in text we write: as is, URL-encoded (percent and plus forms),
    JSON-escaped, Python ``repr`` of the text and of its bytes (``b'Bearer sk-…\\n'`` in an exception
    message), and base64 (Basic auth)."""
    out = {secret, quote(secret, safe=""), quote(secret, safe="/"), quote_plus(secret)}
    out.add(json.dumps(secret)[1:-1])
    out.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    out.add(secret.replace("\\", "\\\\").replace('"', '\\"'))
    out.add(repr(secret)[1:-1])
    out.add(ascii(secret)[1:-1])
    out.add(repr(secret.encode("utf-8", "surrogatepass"))[2:-1])
    out |= _base64_cores(secret)
    return frozenset(v for v in out if len(v) >= MIN_SECRET_CHARS)


def _pattern_of(form: str) -> str:
    """A regex matching ``form``; percent escapes match in either case (``%2f`` as well as ``%2F``)."""
    return re.sub(
        r"%([0-9A-F])([0-9A-F])",
        lambda m: "%" + "".join(f"[{c}{c.lower()}]" if c.isalpha() else c for c in m.groups()),
        re.escape(form),
    )


@functools.lru_cache(maxsize=64)
def _compiled(secrets: tuple[str, ...]) -> tuple[re.Pattern[str] | None, tuple[str, ...]]:
    forms = sorted({f for s in secrets for f in _variants(s)}, key=len, reverse=True)
    if not forms:
        return None, ()
    return re.compile("|".join(_pattern_of(f) for f in forms)), tuple(forms)


def redact(text: str, secrets: Iterable[str | None], placeholder: str = REDACTED) -> str:
    """``text`` with every occurrence of each secret, in every form it takes (see ``_variants``), replaced.

    ``None`` and secrets shorter than :data:`MIN_SECRET_CHARS` are skipped. Longer forms are matched
    first, so a secret that contains another is removed whole. Text that was shortened (it ends with
    "…") may end in the first characters of a secret, which a whole match misses: that prefix goes too.
    Redact before anything shortens text: a secret cut in the middle is only recognised at the end.
    """
    usable = tuple(sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}))
    if not usable or not text:
        return text
    pattern, forms = _compiled(usable)
    if pattern is None:
        return text
    text = pattern.sub(placeholder, text)
    if text.endswith("…"):
        head = text[:-1]
        for form in forms:
            for n in range(len(form) - 1, MIN_SECRET_CHARS - 1, -1):
                if head.endswith(form[:n]):
                    return head[:-n] + placeholder + "…"
    return text


def redact_bytes(data: bytes, secrets: Iterable[str | None], placeholder: str = REDACTED) -> bytes:
    """:func:`redact` over bytes (a response body before anything parses or shortens it). Bytes that
    are not UTF-8 are kept exactly; ``data`` itself comes back when nothing was found."""
    text = data.decode("utf-8", "surrogateescape")
    clean = redact(text, secrets, placeholder)
    return data if clean == text else clean.encode("utf-8", "surrogateescape")


def safe_text(
    text: str,
    secrets: Iterable[str | None] = (),
    *,
    keep_newlines: bool = False,
    limit: int | None = None,
) -> str:
    """Redacted, then terminal-safe: what every probe result and error line shows of vendor text."""
    return terminal_safe(redact(text, secrets), keep_newlines=keep_newlines, limit=limit)
