"""The simulator's prefix cache on its own (no sockets): lifetimes on an explicit clock, the LRU bound,
Anthropic's breakpoints and 1-hour/5-minute split, OpenAI's 128-token steps."""

from __future__ import annotations

from harness.sim._answer import Prompt
from harness.sim._cache import PrefixCache, prefix_tokens
from harness.tokens import count_tokens

LONG = "word " * 2000  # 2,000 tokens of " word" (one token each) after the first "word"
SYS = count_tokens(LONG) + 3  # the system message and its framing


def _prompt(*texts: str, marks: tuple[tuple[int, str], ...] = ()) -> Prompt:
    return Prompt(texts=list(texts), last_user=texts[-1], max_tokens=10, breakpoints=marks)


def test_prefix_tokens_add_up_to_the_reported_prompt_tokens() -> None:
    p = _prompt(LONG, "Hi")
    assert prefix_tokens(p) == [0, SYS, SYS + count_tokens("Hi") + 3]


def test_auto_cache_lifetime_is_refreshed_by_a_hit_and_ends_without_one() -> None:
    c = PrefixCache("auto", min_tokens=1024, max_entries=100, ttl_override_s=10.0)
    step = 1024 + (SYS - 1024) // 128 * 128
    assert c.use(_prompt(LONG, "a"), now=0.0).read == 0  # first: stored, nothing read
    assert c.use(_prompt(LONG, "b"), now=9.0).read == step  # 9 s later: hit, lifetime now ends at 19 s
    assert c.use(_prompt(LONG, "c"), now=18.0).read == step  # alive only thanks to the refresh
    assert c.use(_prompt(LONG, "d"), now=28.5).read == 0  # 10.5 s without a hit: expired


def test_prompts_below_the_minimum_are_never_cached() -> None:
    c = PrefixCache("implicit", min_tokens=1024, max_entries=100)
    for t in (0.0, 1.0):
        assert c.use(_prompt("short system", "same question"), now=t).read == 0
    assert len(c) == 0


def test_the_lru_keeps_at_most_max_entries_hashes() -> None:
    c = PrefixCache("implicit", min_tokens=1, max_entries=3)
    for i in range(10):
        c.use(_prompt(f"system {i}", "q"), now=float(i))
    assert len(c) == 3
    assert c.use(_prompt("system 0", "q"), now=11.0).read == 0  # evicted long ago
    assert c.use(_prompt("system 9", "q"), now=11.0).read > 0  # among the newest


def test_explicit_cache_needs_breakpoints_and_splits_one_hour_writes() -> None:
    c = PrefixCache("explicit", min_tokens=1024, max_entries=100)
    history = (LONG, "first question", "an answer", "second question")
    assert c.use(_prompt(*history), now=0.0).write == 0  # no breakpoint: nothing cached
    tokens = prefix_tokens(_prompt(*history))
    marks = ((1, "1h"), (4, "5m"))  # the system prompt for an hour, the whole history for 5 minutes
    first = c.use(_prompt(*history, marks=marks), now=1.0)
    assert (first.read, first.write_1h, first.write_5m) == (0, tokens[1], tokens[4] - tokens[1])
    # the next turn: reads the whole previous history, writes only the new turns
    longer = (*history, "another answer", "third question")
    marks2 = ((1, "1h"), (6, "5m"))
    longer_tokens = prefix_tokens(_prompt(*longer))
    second = c.use(_prompt(*longer, marks=marks2), now=2.0)
    assert (second.read, second.write_1h, second.write_5m) == (tokens[4], 0, longer_tokens[6] - tokens[4])
    # 10 minutes on, the 5-minute entries are gone and the 1-hour system prompt is still there
    third = c.use(_prompt(*longer, marks=marks2), now=602.0)
    assert (third.read, third.write_5m) == (tokens[1], longer_tokens[6] - tokens[1])
