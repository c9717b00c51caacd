"""The embedded Toxiproxy-compatible server (wire contract: shared/reference/toxiproxy-api.md, section A).

Known, deliberate differences from Toxiproxy 2.12: a proxy whose ``listen`` has no host binds 127.0.0.1
(real Toxiproxy binds every interface); ``--seed`` really seeds the toxicity, jitter and slicer draws
(Toxiproxy's ``-seed`` is a no-op); no ``/metrics``; reset_peer's pending close survives an update of
the toxic instead of blocking the API call.
"""

from __future__ import annotations

from harness.faults._toxiproxy_server._api import TOXIPROXY_VERSION, ToxiproxyApp
from harness.faults._toxiproxy_server._serve import (
    EmbeddedToxiproxy,
    ToxiproxyServer,
    is_loopback,
    run_until_signal,
    serve_proxy_in_thread,
)

__all__ = [
    "TOXIPROXY_VERSION",
    "EmbeddedToxiproxy",
    "ToxiproxyApp",
    "ToxiproxyServer",
    "is_loopback",
    "run_until_signal",
    "serve_proxy_in_thread",
]
