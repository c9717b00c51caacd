"""Untrusted text helpers: nothing a vendor sends can drive the terminal, and secrets never survive."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness._text import REDACTED, redact, redact_bytes, safe_text, terminal_safe

# Sequences a hostile answer or error body could carry.
HOSTILE = [
    "\x1b[2J\x1b[H",  # clear screen, cursor home
    "\x1b]0;owned\x07",  # set window title (OSC ... BEL)
    "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\",  # OSC 8 hyperlink
    "\x9b31m",  # C1 CSI (single byte form)
    "\x9d0;title\x9c",  # C1 OSC ... ST
    "line\roverwritten",  # carriage return rewrites the line
    "abc\x08\x08\x08xyz",  # backspaces
    "\u202eevil\u202c",  # bidi override (Trojan Source)
    "\u2066isolate\u2069",
    "\x00nul\x7fdel",
]

_RAW_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize("text", HOSTILE)
def test_terminal_safe_leaves_no_control_or_bidi_character(text: str) -> None:
    out = terminal_safe(text)
    assert not _RAW_UNSAFE.search(out)
    assert "\x1b" not in out and "\r" not in out and "\n" not in out


def test_escapes_are_visible_not_dropped() -> None:
    assert terminal_safe("a\x1b[31mred") == "a\\x1b[31mred"
    assert terminal_safe("x\u202ey") == "x\\u202ey"
    assert terminal_safe("one\ntwo\tthree") == "one\\ntwo\\tthree"
    assert terminal_safe("one\ntwo\tthree", keep_newlines=True) == "one\ntwo\tthree"
    assert terminal_safe("cr\r", keep_newlines=True) == "cr\\r"


def test_plain_text_and_unicode_pass_through() -> None:
    text = "Hello, 世界 — naïve café ±5 µs 👍"
    assert terminal_safe(text) == text


def test_limit_cuts_with_ellipsis() -> None:
    out = terminal_safe("x" * 50, limit=10)
    assert len(out) == 10 and out.endswith("…")


@given(st.text())
def test_terminal_safe_never_emits_escape_or_control(text: str) -> None:
    out = terminal_safe(text, keep_newlines=True)
    assert not _RAW_UNSAFE.search(out)
    assert "\x1b" not in out


def test_redact_replaces_every_form_of_the_secret() -> None:
    key = "sk-canary/42+x"
    text = f"bad key {key}; url ?key=sk-canary%2F42%2Bx; again {key}"
    out = redact(text, [key])
    assert "canary" not in out
    assert out.count(REDACTED) == 3


def test_redact_json_escaped_secret() -> None:
    key = 'k"ey\\with-quote'
    body = '{"message": "bad key k\\"ey\\\\with-quote"}'
    assert "with-quote" not in redact(body, [key])


def test_redact_skips_none_and_tiny_secrets() -> None:
    assert redact("abc abc", [None, "", "abc"]) == "abc abc"


def test_redact_longest_first() -> None:
    assert redact("key-long-secret", ["key-long", "key-long-secret"]) == REDACTED


@given(
    st.text(alphabet="0123456789ABCDEF-_+/%", min_size=4, max_size=40),
    st.text(max_size=40),
    st.text(max_size=40),
)
def test_redacted_text_never_contains_the_secret(secret: str, before: str, after: str) -> None:
    out = redact(before + secret + after, [secret])
    # the placeholder shares no character with the secret's alphabet, so no secret can be re-formed
    # across the placeholder's edges; what is left of ``before``/``after`` is checked as is
    assert secret not in out.replace(REDACTED, "\0")


def test_safe_text_redacts_before_escaping() -> None:
    key = "sk-\x1bweird-key"
    out = safe_text(f"echo {key}\x1b[2J", [key])
    assert "weird" not in out and "\x1b" not in out


KEY = "sk-live-0123456789abcdefXYZ/+="


@pytest.mark.parametrize(
    "text",
    [
        f"Illegal header value b'Bearer {KEY}\\n'",  # an exception's repr of the header bytes
        f"value {KEY!r} and {KEY.encode()!r}",
        f"url ?k={quote(KEY, safe='')}&x=1",
        f"form k={quote_plus(KEY)}",
        json.dumps({"error": f'key "{KEY}" refused'}),
        json.dumps({"error": f"key {KEY}\u2028"}, ensure_ascii=True),
    ],
)
def test_every_form_of_a_key_is_redacted(text: str) -> None:
    out = redact(text, [KEY])
    assert REDACTED in out
    for piece in (KEY, KEY[:12], quote(KEY, safe="")[:14]):
        assert piece not in out


def test_percent_escapes_match_in_either_case() -> None:
    escaped = re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(KEY, safe=""))
    assert redact(f"k={escaped}", [KEY]) == f"k={REDACTED}"


@pytest.mark.parametrize("user", ["", "a", "ab", "abc", "alice", "x" * 40])
def test_basic_auth_base64_of_user_and_key_is_redacted_at_every_alignment(user: str) -> None:
    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        token = enc(f"{user}:{KEY}".encode()).decode()
        out = redact(f"Authorization: Basic {token}", [KEY])
        assert REDACTED in out
        left = out.split("Basic ", 1)[1].replace(REDACTED, " ")
        assert max(len(part) for part in left.split()) <= len(enc(f"{user}:".encode())) + 4


def test_a_key_cut_by_truncation_loses_its_prefix_too() -> None:
    for keep in range(4, len(KEY)):
        out = redact("error: " + KEY[:keep] + "…", [KEY])
        assert out == f"error: {REDACTED}…", keep


def test_redact_bytes_keeps_undecodable_bytes_exactly() -> None:
    body = b"\xff\xfe " + KEY.encode() + b" \x80"
    assert redact_bytes(body, [KEY]) == b"\xff\xfe " + REDACTED.encode() + b" \x80"
    assert redact_bytes(b"\xff nothing", [KEY]) == b"\xff nothing"
