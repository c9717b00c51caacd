"""Prompts at exact input lengths (standard length tiers) from the shipped public-domain corpus.

Public vendor comparisons measure at about 100, 1k, 10k and 100k input tokens with a few hundred to two
thousand output tokens. ``synth_prompts`` builds ``per_tier`` prompts for every (input, output) pair:
one user message of exactly ``input`` ``o200k_base`` tokens (``harness.tokens``; the message text only,
or less the OpenAI chat framing with ``framing=True``, see ``FRAMING_TOKENS``), asking for an answer of
``max_tokens = output``. The text is the corpus (``prompts/corpus/coriolanus-act1.txt``, Shakespeare,
public domain) repeated as far as needed, starting at a seeded line, behind a first line that no other
prompt shares: no prefix cache can serve one prompt from another, within a set or across sets built
with different seeds.

    items = synth_prompts([100, 1000], [300], per_tier=2, seed=1)
    [p.prompt_class for p in items]   # ["in100-out300", "in100-out300", "in1k-out300", "in1k-out300"]
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from pathlib import Path

from harness._errors import ConfigError
from harness.config._models import PromptItem
from harness.tokens import count_tokens

__all__ = ["FRAMING_TOKENS", "synth_prompts", "tier_name"]

FRAMING_TOKENS = 6
"""Tokens the OpenAI chat framing adds to one user message, as OpenAI's cookbook counts them (3 for
the message, 3 priming the reply) and as the simulated vendors report them in ``prompt_tokens``."""

_MAX_STEPS = 50
_PAD = " and"


def tier_name(n: int) -> str:
    """``100`` → ``100``, ``1000`` → ``1k``, ``100000`` → ``100k``, ``1500`` → ``1500``."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def _corpus() -> list[str]:
    from harness.config._builtin import builtin_dir

    path: Path = builtin_dir("prompts") / "corpus" / "coriolanus-act1.txt"
    return path.read_text(encoding="utf-8").splitlines()


def synth_prompts(
    inputs: Sequence[int],
    outputs: Sequence[int],
    *,
    per_tier: int = 10,
    seed: int = 0,
    framing: bool = False,
) -> list[PromptItem]:
    """``per_tier`` unique prompts for every (input, output) pair, inputs outermost, in that order."""
    lines = _corpus()
    whole = "\n".join(lines) + "\n\n"
    chars_per_token = len(whole) / count_tokens(whole)
    rng = random.Random(seed)
    items: list[PromptItem] = []
    for n_in in inputs:
        target = n_in - FRAMING_TOKENS if framing else n_in
        for n_out in outputs:
            cls = f"in{tier_name(n_in)}-out{tier_name(n_out)}"
            for k in range(1, per_tier + 1):
                nonce = hashlib.sha256(f"{seed}/{cls}/{k}/{rng.random()}".encode()).hexdigest()[:12]
                head = (
                    f"Request {nonce} ({cls}, #{k}).\nRead the document, then write a detailed commentary "
                    f"on it of about {max(1, n_out * 3 // 4)} words.\n<document>\n"
                )
                tail = "\n</document>\nNow write the commentary."
                fixed = count_tokens(head) + count_tokens(tail)
                if target < fixed + 1:
                    raise ConfigError(
                        [f"--in: {n_in} tokens is too short: the instructions alone take {fixed} tokens"]
                    )
                start = rng.randrange(len(lines))
                chunk = "\n".join(lines[start:] + lines[:start]) + "\n\n"
                need = (target - fixed) * chars_per_token * 1.2 + 2000
                body = chunk * (int(need // len(chunk)) + 1)
                items.append(
                    PromptItem.model_validate(
                        {
                            "id": f"{cls}-{k}-{nonce[:6]}",
                            "class": cls,
                            "messages": [{"role": "user", "content": _fit(head, tail, body, target)}],
                            "max_tokens": n_out,
                        }
                    )
                )
    return items


def _safe_cut(text: str, before: int) -> int:
    """A position ``p <= before`` with ``text[p] == " "`` between two non-spaces: o200k never joins that
    space to the text before it, so ``count(a + text[:p]) + count(text[p:] + b)`` is the whole count."""
    p = text.rfind(" ", 0, before + 1)
    while p > 0 and (text[p - 1].isspace() or p + 1 >= len(text) or text[p + 1].isspace()):
        p = text.rfind(" ", 0, p)
    return max(p, 0)


def _fit(head: str, tail: str, body: str, target: int) -> str:
    """``head + body[:q] + pad + tail`` of exactly ``target`` tokens (``body[:q]`` ends at a word end;
    ``pad`` is a few ``_PAD`` words, only when no word end hits the target exactly).

    The text up to a safe cut about 200 tokens before the end is counted once; the search runs over the
    rest (see ``_safe_cut``), and the result is counted whole once more."""
    budget = target - count_tokens(head) - count_tokens(tail)
    sample = body[:20_000]
    chars_per_token = len(sample) / max(1, count_tokens(sample))
    p = _safe_cut(body, int(max(0, budget - 200) * chars_per_token))
    base = count_tokens(head + body[:p])
    while p > 0 and base > target - 100:  # the estimate overshot: cut further back
        p = _safe_cut(body, p - 2000)
        base = count_tokens(head + body[:p])
    lead = head if p == 0 else ""  # no safe cut before the end (a short prompt): count it all each time
    want = target if p == 0 else target - base
    found: str | None = None
    below: list[int] = []
    for q in range(p + 1, len(body)):
        if not body[q].isspace() or body[q - 1].isspace():
            continue  # only word ends
        n = count_tokens(lead + body[p:q] + tail)
        if n == want:
            found = body[:q]
            break
        if n > want:
            break
        below.append(q)
    for q in reversed(below[-8:] if found is None else []):
        pads = next((k for k in range(1, 8) if count_tokens(lead + body[p:q] + _PAD * k + tail) == want), 0)
        if pads:
            found = body[:q] + _PAD * pads
            break
    if found is not None and count_tokens(head + found + tail) == target:
        return head + found + tail
    raise ConfigError([f"--in: could not build a prompt of exactly {target} tokens"])  # pragma: no cover
