"""Faults: the Toxiproxy client, the embedded Toxiproxy-compatible server, and the fault timeline."""

from __future__ import annotations

from harness.faults._timeline import TCP_KINDS, FaultTimeline
from harness.faults._toxiproxy_client import ToxiproxyClient
from harness.faults._toxiproxy_server import EmbeddedToxiproxy, ToxiproxyServer, serve_proxy_in_thread

__all__ = [
    "TCP_KINDS",
    "EmbeddedToxiproxy",
    "FaultTimeline",
    "ToxiproxyClient",
    "ToxiproxyServer",
    "serve_proxy_in_thread",
]
