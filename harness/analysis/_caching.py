"""Prompt caching per contender: hit ratio, TTFT with and without a hit, money saved (pure).

Read from the attempts in the measured window whose usage the vendor reported (``input_tokens`` counts
every prompt token, cache reads and writes included; see ``harness.dialects.Usage``):

* ``token_hit_ratio`` = Σ cached_input_tokens / Σ input_tokens; ``request_hit_share`` = share of those
  attempts that read anything from the cache;
* ``ttft_hit_p50|p95_s`` and ``ttft_miss_p50|p95_s``: attempt TTFT (first token − dispatch) of the
  succeeded attempts with and without a cache read;
* ``saved_usd`` = Σ cached·(input − cache read price) − Σ writes·(write price − input price): what the
  cached tokens would have cost at the input price minus what they cost, less the writes' premium
  (1-hour writes at their own price), at each attempt's endpoint price (the tier its prompt size
  selects); ``saved_share`` = saved / (cost + saved), the part of the uncached bill caching removed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harness._percentile import percentile
from harness.analysis._rows import Codes

if TYPE_CHECKING:
    from harness.config import Price
    from harness.record import Manifest, RecordFrame

__all__ = ["caching"]


def _num(records: RecordFrame, col: str, rows: np.ndarray) -> np.ndarray:
    if col not in records.columns or not len(records):
        return np.full(len(rows), np.nan)
    out: np.ndarray = pd.to_numeric(records[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)[
        rows
    ]
    return out


def _take(records: RecordFrame, col: str, rows: np.ndarray) -> np.ndarray:
    """A column's values at ``rows`` as objects (only those rows converted)."""
    return np.asarray(records[col].take(rows).to_numpy(dtype=object), dtype=object)


def _unit_prices(price: Price, prompt_tokens: float) -> tuple[float, float, float, float]:
    """(input, cache read, 5-minute write, 1-hour write) USD per million tokens at this prompt size."""
    inp, read = price.input_per_mtok, price.cached_input_per_mtok
    for t in sorted(price.tiers, key=lambda t: t.above_input_tokens):
        if prompt_tokens > t.above_input_tokens:
            inp = t.input_per_mtok if t.input_per_mtok is not None else inp
            read = t.cached_input_per_mtok if t.cached_input_per_mtok is not None else read
    read = inp if read is None else read
    write = price.cache_write_per_mtok if price.cache_write_per_mtok is not None else inp
    write_1h = price.cache_write_1h_per_mtok if price.cache_write_1h_per_mtok is not None else write
    return inp, read, write, write_1h


def _at(values: np.ndarray, q: float) -> float | None:
    """The shared percentile, None (not NaN) when there are no samples."""
    return float(percentile(values, q)) if values.size else None


def caching(
    records: RecordFrame, rows: np.ndarray, contenders: list[str], manifest: Manifest
) -> dict[str, dict[str, Any]]:
    """Contender → prompt-cache figures over ``rows`` (attempt rows of the measured window); ``{}`` when
    no attempt of the run read from or wrote to a cache (the report then leaves the section out)."""
    if not len(records) or not rows.size:
        return {}
    cached = np.nan_to_num(_num(records, "cached_input_tokens", rows))
    write = np.nan_to_num(_num(records, "cache_write_tokens", rows))
    if not (cached.sum() > 0 or write.sum() > 0):
        return {}
    write_1h = np.minimum(np.nan_to_num(_num(records, "cache_write_1h_tokens", rows)), write)
    inp = _num(records, "input_tokens", rows)
    cost = np.nan_to_num(_num(records, "cost_usd", rows))
    ttft = _num(records, "t_first_token", rows) - _num(records, "t_dispatch", rows)
    contender = Codes(_take(records, "contender", rows))
    endpoint = _take(records, "endpoint", rows)
    reported = (_take(records, "usage_source", rows) == "reported") & ~np.isnan(inp)
    ok = _take(records, "outcome", rows) == "ok"
    prices = {e.name: e.price for e in manifest.endpoints}
    saved = np.zeros(len(rows))
    # by endpoint and price tier (a handful of groups), not attempt by attempt: the unit prices depend on
    # the endpoint and on which tiers the prompt size passes, nothing else
    cand = np.flatnonzero(reported & ((cached > 0) | (write > 0)))
    ep_codes, ep_names = pd.factorize(endpoint[cand], use_na_sentinel=False)
    for e, name in enumerate(ep_names):
        at = cand[ep_codes == e]
        price = prices.get(str(name))
        if price is None:
            saved[at] = np.nan
            continue
        above = np.sort(np.array([t.above_input_tokens for t in price.tiers], dtype=float))
        tier = np.searchsorted(above, inp[at], side="left")  # how many tiers the prompt is above
        for b in np.unique(tier).tolist():
            i = at[tier == b]
            p_in, p_read, p_write, p_write_1h = _unit_prices(price, inp[i[0]])
            saved[i] = (
                cached[i] * (p_in - p_read)
                - (write[i] - write_1h[i]) * (p_write - p_in)
                - write_1h[i] * (p_write_1h - p_in)
            ) / 1e6
    out: dict[str, dict[str, Any]] = {}
    for c in contenders:
        sel = reported & (contender.codes == contender.code(c))
        n = int(sel.sum())
        hit = sel & (cached > 0)
        timed = ok & ~np.isnan(ttft)
        total_in = float(inp[sel].sum())
        spent = float(cost[sel].sum())
        saving = float(saved[sel].sum()) if not np.isnan(saved[sel]).any() else None
        out[c] = {
            "requests": n,
            "requests_with_hit": int(hit.sum()),
            "request_hit_share": hit.sum() / n if n else None,
            "input_tokens": int(total_in),
            "cached_input_tokens": int(cached[sel].sum()),
            "cache_write_tokens": int(write[sel].sum()),
            "cache_write_1h_tokens": int(write_1h[sel].sum()),
            "token_hit_ratio": float(cached[sel].sum()) / total_in if total_in > 0 else None,
            "ttft_hit_p50_s": _at(ttft[hit & timed], 50),
            "ttft_hit_p95_s": _at(ttft[hit & timed], 95),
            "ttft_miss_p50_s": _at(ttft[sel & ~hit & timed], 50),
            "ttft_miss_p95_s": _at(ttft[sel & ~hit & timed], 95),
            "cost_usd": spent,
            "saved_usd": saving,
            "saved_share": saving / (spent + saving) if saving is not None and spent + saving > 0 else None,
        }
    return out
