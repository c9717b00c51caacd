"""Which model answered, and what a gateway did on the way: the evidence behind "the numbers measure the
model you asked for".

A gateway (LiteLLM, OpenRouter) may fall back to another deployment or another model and still answer
200; the record keeps what it said (``gateway_fallbacks``, ``model_served``). This module tells a served
model that *is* the requested one (a dated snapshot, a version suffix, a provider prefix) from one that
is not, without any I/O.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis._rows import few_names, is_in

__all__ = ["NO_MODEL_CHECK_DIALECTS", "gateway_evidence", "same_model", "same_models"]

NO_MODEL_CHECK_DIALECTS = frozenset({"azure-openai"})
"""Dialects whose ``model_requested`` is no model name (Azure: the deployment name chooses the model)."""

# what may follow the requested name in the served one and still be the same model: dates, version
# numbers, "latest", "preview", "exp" ("gpt-4o-2024-08-06", "gemini-2.0-flash-001", "claude-x-20241022")
_SUFFIX = re.compile(r"(?:[-_@:.](?:\d+|v\d+(?:\.\d+)*|latest|preview|exp))*")
_ALIAS = re.compile(r"[-_@:.]latest$")


def _norm(name: str) -> str:
    """Lower case, without a provider or organisation prefix (``openai/gpt-4o`` → ``gpt-4o``)."""
    return name.strip().lower().rsplit("/", 1)[-1]


def same_model(requested: str, served: str) -> bool:
    """Is ``served`` the model that was ``requested``, as vendors name snapshots of it?

    >>> same_model("gpt-4o", "gpt-4o-2024-08-06"), same_model("x-latest", "x-20241022")
    (True, True)
    >>> same_model("gpt-4o", "gpt-4o-mini"), same_model("gpt-4o", "claude-3-5-haiku-20241022")
    (False, False)
    """
    r, s = _norm(requested), _norm(served)
    if not r or not s or r == s:
        return True
    r = _ALIAS.sub("", r)
    return any(a.startswith(b) and _SUFFIX.fullmatch(a[len(b) :]) for a, b in ((r, s), (s, r)))


def _factorize_with_na(values: Any) -> tuple[np.ndarray, list[Any]]:
    """``pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=False)`` (every missing value one
    NaN group, in order of first appearance): for a Categorical from its codes (-1, missing, one more
    code), for an object array at the cost of the default factorize (half of the other's), or of a few
    comparisons when the array names a few models."""
    if isinstance(values, pd.Categorical):
        codes, firsts = pd.factorize(values.codes)  # the categories in order of first appearance
        categories = np.asarray(values.categories, dtype=object)
        return codes, [categories[c] if c >= 0 else math.nan for c in firsts.tolist()]
    values = np.asarray(values, dtype=object)
    few = few_names(values)
    if few is not None:
        return few
    codes, uniques = pd.factorize(values)
    names = list(uniques)
    missing = codes < 0
    if missing.any():
        first = int(np.argmax(missing))
        before = int(codes[:first].max()) + 1 if first else 0  # distinct values seen before the first NaN
        codes = np.where(missing, before, codes + (codes >= before))
        names.insert(before, math.nan)
    return codes, names


def _pairs(requested: np.ndarray, served: np.ndarray) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Each (requested, served) pair's position among the distinct pairs, and those pairs as strings,
    in order of first appearance (a run names a handful of models however many answers it holds)."""
    r_codes, r_names = _factorize_with_na(requested)
    s_codes, s_names = _factorize_with_na(served)
    codes, keys = pd.factorize(r_codes.astype(np.int64) * max(len(s_names), 1) + s_codes)
    width = max(len(s_names), 1)
    return codes, [(str(r_names[k // width]), str(s_names[k % width])) for k in keys]


def same_models(requested: np.ndarray, served: np.ndarray) -> np.ndarray:
    """:func:`same_model` of each pair, computed once per distinct pair."""
    codes, pairs = _pairs(requested, served)
    verdicts = np.fromiter((same_model(r, s) for r, s in pairs), dtype=bool, count=len(pairs))
    return verdicts[codes] if len(codes) else np.empty(0, dtype=bool)


def gateway_evidence(att: dict[str, np.ndarray], sel: np.ndarray) -> dict[str, Any]:
    """For the attempts ``sel`` of one contender: answers a gateway fell back for or retried before
    answering, answers from another model than requested (with the most common such pair), out of the
    answers that could say so."""
    # the contender's answers by position: every column is read there only, not over every attempt
    ok = np.flatnonzero(sel & att["ok"])
    fell = np.nan_to_num(att["gateway_fallbacks"][ok], nan=0.0) > 0
    retried = np.nan_to_num(att["gateway_retries"][ok], nan=0.0) > 0
    model_served = att["model_served"][ok]
    can_say = pd.notna(model_served) & ~is_in(att["dialect"][ok], list(NO_MODEL_CHECK_DIALECTS))
    served = ok[can_say]
    codes, distinct = _pairs(att["model_requested"][served], model_served[can_say])
    counts = np.bincount(codes, minlength=len(distinct))
    pairs: Counter[tuple[str, str]] = Counter()
    for pair, n in zip(distinct, counts.tolist(), strict=True):  # first seen first: ties as before
        if not same_model(*pair):
            pairs[pair] += n
    top = pairs.most_common(1)
    return {
        "answers": int(ok.size),
        "gateway_fallbacks": int(fell.sum()),
        "gateway_retries": int(retried.sum()),
        "served_checked": int(served.size),
        "served_other": int(sum(pairs.values())),
        "served_other_example": list(top[0][0]) if top else None,
    }
