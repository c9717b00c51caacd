"""The simulated vendors' prompt cache: prefixes cached as the real APIs cache them.

One :class:`PrefixCache` per endpoint and process holds *hashes* of prompt prefixes (never their
text), each with an expiry on the monotonic clock, in a bounded LRU. A prefix ends at a message
boundary: the tools (always first on the wire), then the system prompt, then each message in order.
Three policies, one per dialect family:

``auto`` (OpenAI, Azure OpenAI; automatic prompt caching)
    every prompt of at least ``min_tokens`` (1,024) is cached whole; a later prompt reads the longest
    live prefix it shares, reported in increments of 128 tokens above the minimum
    (``prompt_tokens_details.cached_tokens``). No write is reported (OpenAI bills none).
``explicit`` (Anthropic; ``cache_control`` breakpoints)
    nothing is cached unless the request marks breakpoints (at most 4): the prefix up to each
    breakpoint of at least ``min_tokens`` is written, for 5 minutes or, with ``ttl: "1h"``, an hour;
    a later request reads the longest live prefix up to its last breakpoint and writes the rest up to
    that breakpoint (``cache_read_input_tokens``, ``cache_creation_input_tokens`` and
    ``cache_creation.ephemeral_5m|1h_input_tokens``; tokens up to the last 1-hour breakpoint are
    1-hour writes). The 20-block look-back window is not modelled: any earlier breakpoint can hit.
``implicit`` (Gemini implicit caching)
    as ``auto`` but reported to the token (``cachedContentTokenCount``).

A hit refreshes the entry's lifetime (5 minutes for ``auto``/``implicit`` and Anthropic's default,
1 hour for Anthropic's ``ttl: "1h"``; ``ttl_override_s`` replaces both, for tests).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from harness.sim._answer import text_tokens, tool_tokens

if TYPE_CHECKING:
    from harness.sim._answer import Prompt

__all__ = ["NO_CACHE", "CacheMode", "CacheUsage", "PrefixCache", "prefix_tokens"]

CacheMode = Literal["auto", "explicit", "implicit"]

TTL_S = {"5m": 300.0, "1h": 3600.0}
"""Lifetimes of Anthropic's two breakpoint kinds (also the automatic caches' lifetime: ``5m``)."""
_AUTO_STEP = 128  # OpenAI reports cached tokens in increments of 128 above the 1,024 minimum


@dataclass(frozen=True, slots=True)
class CacheUsage:
    """What one request read from and wrote to the cache, tokens (all part of its prompt tokens)."""

    read: int = 0
    write_5m: int = 0
    write_1h: int = 0

    @property
    def write(self) -> int:
        return self.write_5m + self.write_1h


NO_CACHE = CacheUsage()


def prefix_tokens(prompt: Prompt) -> list[int]:
    """Prompt tokens up to each message boundary: ``[tools, +text 0, +text 1, ...]`` (as usage counts
    them: 3 framing tokens per message; the reply primer's 3 are never part of a cached prefix)."""
    out = [tool_tokens(prompt)]
    for t in prompt.texts:
        out.append(out[-1] + text_tokens(t) + 3)
    return out


def _hashes(prompt: Prompt) -> list[bytes]:
    """A chained hash per boundary of :func:`prefix_tokens`: equal hashes mean equal prefixes."""
    h = hashlib.blake2b(repr([(t.name, t.schema) for t in prompt.tools]).encode(), digest_size=16).digest()
    out = [h]
    for t in prompt.texts:
        h = hashlib.blake2b(h + t.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        out.append(h)
    return out


class PrefixCache:
    """A bounded LRU of prefix hashes with lifetimes (seconds on ``time.monotonic``)."""

    def __init__(
        self, mode: CacheMode, *, min_tokens: int, max_entries: int, ttl_override_s: float | None = None
    ) -> None:
        self.mode = mode
        self.min_tokens = min_tokens
        self.max_entries = max_entries
        self.ttl_override_s = ttl_override_s
        self._entries: OrderedDict[bytes, tuple[float, float]] = OrderedDict()  # hash -> (expires, ttl)

    def __len__(self) -> int:
        return len(self._entries)

    def _ttl(self, kind: str) -> float:
        return self.ttl_override_s if self.ttl_override_s is not None else TTL_S[kind]

    def _live(self, key: bytes, now: float) -> bool:
        entry = self._entries.get(key)
        if entry is None:
            return False
        if entry[0] <= now:
            del self._entries[key]
            return False
        return True

    def _put(self, key: bytes, ttl_s: float, now: float) -> None:
        old = self._entries.pop(key, None)
        ttl = max(ttl_s, old[1]) if old is not None else ttl_s
        self._entries[key] = (now + ttl, ttl)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def _hit(self, keys: list[bytes], tokens: list[int], upto: int, now: float) -> int:
        """Index of the longest live prefix among boundaries ``1..upto`` (0: none); refreshes it."""
        for k in range(upto, 0, -1):
            if tokens[k] >= self.min_tokens and self._live(keys[k], now):
                _, ttl = self._entries[keys[k]]
                self._put(keys[k], ttl, now)
                return k
        return 0

    def use(self, prompt: Prompt, now: float) -> CacheUsage:
        """Look ``prompt`` up, store what the policy stores, and return what it read and wrote."""
        tokens = prefix_tokens(prompt)
        keys = _hashes(prompt)
        n = len(tokens) - 1
        if self.mode != "explicit":
            hit = self._hit(keys, tokens, n, now)
            ttl = self._ttl("5m")
            for k in range(hit + 1, n + 1):
                if tokens[k] >= self.min_tokens:
                    self._put(keys[k], ttl, now)
            if not hit:
                return NO_CACHE
            read = tokens[hit]
            if self.mode == "auto":
                read = self.min_tokens + (read - self.min_tokens) // _AUTO_STEP * _AUTO_STEP
            return CacheUsage(read=read)
        marks = prompt.breakpoints
        if not marks:
            return NO_CACHE
        last = max(k for k, _ in marks)
        hit = self._hit(keys, tokens, last, now)
        read = tokens[hit] if hit else 0
        last_1h = max((k for k, kind in marks if kind == "1h"), default=0)
        write_1h = max(0, tokens[last_1h] - read) if tokens[last_1h] >= self.min_tokens else 0
        write = max(0, tokens[last] - read) if tokens[last] >= self.min_tokens else 0
        for k, kind in marks:
            if k > hit and tokens[k] >= self.min_tokens:
                self._put(keys[k], self._ttl(kind), now)
        return CacheUsage(read=read, write_5m=write - min(write_1h, write), write_1h=min(write_1h, write))
