from __future__ import annotations

from client_loopback import client, serve

__all__ = ["client", "serve"]
