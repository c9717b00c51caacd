"""Network paths: every contender reaches every endpoint of its chain through a path of its own.

A path is one Toxiproxy proxy, named by its key ``<contender>@<endpoint>`` (``alpha@alpha-fast``). Two
contenders that use the same endpoint (``gamma``'s primary is ``alpha``'s fallback) never share a path, so
a fault put on one contender's path cannot touch the other's. An endpoint no contender uses (probed only)
gets one path keyed by its bare name. ``@`` is not allowed in names, so a key always splits back.

Fault targets (``faults[].target``) say which paths a fault acts on:

    an endpoint name     the vendor endpoint itself fails: every path to it (every contender using it)
    a contender name     that contender's own paths (its whole chain), nobody else's
    each-contender       every contender at once, each on its own path to its primary
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from harness.config._models import Contender, Endpoint

__all__ = ["EACH_CONTENDER", "FaultScope", "network_paths", "path_key", "split_path_key", "target_paths"]

EACH_CONTENDER = "each-contender"
"""The fault target meaning "every contender at the same offset, each on its own path to its primary"."""

FaultScope = Literal["endpoint", "contender", "each-contender"]


def path_key(contender: str | None, endpoint: str) -> str:
    """``alpha@alpha-fast``: the path of ``contender`` to ``endpoint`` (no contender: the bare name)."""
    return f"{contender}@{endpoint}" if contender else endpoint


def split_path_key(key: str) -> tuple[str | None, str]:
    """(contender or None, endpoint) of a path key."""
    contender, sep, endpoint = key.rpartition("@")
    return (contender, endpoint) if sep else (None, key)


def network_paths(endpoints: Sequence[Endpoint], contenders: Sequence[Contender]) -> list[str]:
    """Every path of a scenario, contender by contender along its chain, then endpoints nobody uses."""
    keys = [path_key(c.name, e) for c in contenders for e in (c.primary, *c.fallbacks)]
    used = {e for c in contenders for e in (c.primary, *c.fallbacks)}
    return keys + [path_key(None, ep.name) for ep in endpoints if ep.name not in used]


def target_paths(
    target: str, endpoints: Sequence[Endpoint], contenders: Sequence[Contender]
) -> tuple[FaultScope, tuple[str, ...], tuple[str, ...]] | None:
    """(scope, endpoints, path keys) a fault target stands for, or None when it names nothing."""
    if target == EACH_CONTENDER:
        eps = tuple(dict.fromkeys(c.primary for c in contenders))
        return "each-contender", eps, tuple(path_key(c.name, c.primary) for c in contenders)
    if any(ep.name == target for ep in endpoints):
        users = [c.name for c in contenders if target in (c.primary, *c.fallbacks)]
        keys = tuple(path_key(c, target) for c in users) or (path_key(None, target),)
        return "endpoint", (target,), keys
    for c in contenders:
        if c.name == target:
            chain = (c.primary, *c.fallbacks)
            return "contender", chain, tuple(path_key(c.name, e) for e in chain)
    return None
