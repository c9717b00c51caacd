"""Price one attempt from its usage and the endpoint's price table (USD)."""

from __future__ import annotations

from harness.config import Price

__all__ = ["price_attempt", "uncached_input_tokens"]


def uncached_input_tokens(
    input_tokens: int | None, cached_input_tokens: int | None, cache_write_tokens: int | None, dialect: str
) -> int:
    """Prompt tokens billed at the plain input rate, from the vendor's own convention.

    OpenAI-style ``prompt_tokens`` *include* cached (and cache-written) tokens, so they are subtracted;
    Anthropic's ``input_tokens`` already *exclude* cache reads and writes.
    """
    inp = input_tokens or 0
    if dialect == "anthropic-messages":
        return inp
    return max(0, inp - (cached_input_tokens or 0) - (cache_write_tokens or 0))


def price_attempt(
    price: Price,
    *,
    input_tokens: int | None,
    cached_input_tokens: int | None,
    cache_write_tokens: int | None,
    output_tokens: int | None,
    reasoning_tokens: int | None,
    dialect: str,
    cache_write_1h_tokens: int | None = None,
) -> float:
    """Cost in USD of one attempt that reached the vendor.

    ``input_tokens`` is in the *vendor's* convention (see :func:`uncached_input_tokens`): for
    ``anthropic-messages`` it excludes cache reads/writes, for OpenAI/Azure it includes them.
    The tier with the highest ``above_input_tokens`` below the total prompt size replaces the base
    prices it names. ``cache_write_1h_tokens`` (Anthropic's 1-hour writes, part of ``cache_write_tokens``)
    cost ``cache_write_1h_per_mtok``, the other writes ``cache_write_per_mtok``. Reasoning tokens are
    part of ``output_tokens``; they cost ``reasoning_per_mtok`` when set, else the output price.
    ``per_request`` is added once.

        >>> from harness.config import Price
        >>> p = Price(input_per_mtok=3.0, cached_input_per_mtok=0.3, output_per_mtok=15.0)
        >>> round(price_attempt(p, input_tokens=1000, cached_input_tokens=800, cache_write_tokens=0,
        ...                     output_tokens=100, reasoning_tokens=None, dialect="openai-chat"), 8)
        0.00234
    """
    cached = cached_input_tokens or 0
    write = cache_write_tokens or 0
    uncached = uncached_input_tokens(input_tokens, cached, write, dialect)
    total_prompt = uncached + cached + write
    inp_p = price.input_per_mtok
    cached_p = price.cached_input_per_mtok
    out_p = price.output_per_mtok
    tier = None
    for t in sorted(price.tiers, key=lambda t: t.above_input_tokens):
        if total_prompt > t.above_input_tokens:
            tier = t
    if tier is not None:
        inp_p = tier.input_per_mtok if tier.input_per_mtok is not None else inp_p
        cached_p = tier.cached_input_per_mtok if tier.cached_input_per_mtok is not None else cached_p
        out_p = tier.output_per_mtok if tier.output_per_mtok is not None else out_p
    if cached_p is None:
        cached_p = inp_p
    write_p = price.cache_write_per_mtok if price.cache_write_per_mtok is not None else inp_p
    write_1h = min(cache_write_1h_tokens or 0, write)
    write_1h_p = price.cache_write_1h_per_mtok if price.cache_write_1h_per_mtok is not None else write_p
    out = output_tokens or 0
    reasoning = min(reasoning_tokens or 0, out)
    reasoning_p = price.reasoning_per_mtok if price.reasoning_per_mtok is not None else out_p
    usd = (
        uncached * inp_p
        + cached * cached_p
        + (write - write_1h) * write_p
        + write_1h * write_1h_p
        + (out - reasoning) * out_p
        + reasoning * reasoning_p
    ) / 1e6
    return usd + price.per_request
