"""HTTP/SSE fault layer in the client path: status injection, rate limits, stream cut, stall, bad chunk.

It sits in front of any vendor (real HTTPS ones included) because it acts inside ``run_attempt``:
status faults answer without sending the request, using the dialect's own error body and headers so
the same classification path runs; stream faults act on the real stream after N content chunks.
Decisions are seeded: ``hash(seed, fault_id, seq, attempt)`` picks whether a request is hit, so the
same schedule position meets the same fault on every contender and in a replay.

A fault is switched on for keys: an endpoint name (the vendor itself: every contender's attempts on it,
one rate-limit window per endpoint) or a network path ``<contender>@<endpoint>`` (that contender's attempts
only, one window per path), as the fault timeline resolves its target (harness.config._paths).
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from harness.config import FaultSpec

__all__ = ["HTTP_FAULT_KINDS", "HttpFaultLayer", "Injection"]

HTTP_FAULT_KINDS = frozenset({"http_status", "rate_limit", "stream_cut", "stall", "malformed_chunk"})
_WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class Injection:
    """What the layer does to one attempt. ``kind`` is a FaultSpec kind; ``fault_id`` goes to the record."""

    fault_id: str
    kind: str
    status: int = 0
    retry_after_s: float | None = None
    after_chunks: int = 0
    stall_for: float = 0.0
    message: str = ""


class _Active:
    __slots__ = ("keys", "lock", "spec", "times", "tokens")

    def __init__(self, keys: frozenset[str], spec: FaultSpec) -> None:
        self.keys = keys
        self.spec = spec
        self.times: dict[str, deque[float]] = {}
        self.tokens: dict[str, deque[tuple[float, int]]] = {}
        self.lock = threading.Lock()


class HttpFaultLayer:
    """Per-request HTTP faults, switched on and off by the fault timeline.

        layer = HttpFaultLayer(seed=42)
        layer.activate("f1", ["alpha-fast"], FaultSpec(kind="http_status", status=429, retry_after=2))
        layer.activate("f2", ["beta@beta-steady"], FaultSpec(kind="stream_cut", after_tokens=3))
        ...  # run_attempt consults it for every attempt: decide("alpha-fast", contender="alpha", ...)
        layer.deactivate("f1")

    Kinds: ``http_status`` (``status``, ``retry_after``; 429/500/503/529 get the dialect's error body),
    ``rate_limit`` (``rpm`` and/or ``tpm`` over a sliding 60 s window per key; excess requests get
    429 with Retry-After until the window frees; not probabilistic), ``stream_cut`` (end the stream after
    ``after_chunks`` content chunks without its terminal event), ``stall`` (stop reading for
    ``stall_for`` after ``after_chunks`` chunks, default 1; the idle timeout still applies),
    ``malformed_chunk`` (a broken event after ``after_chunks`` chunks). ``probability`` applies to every
    kind except ``rate_limit``. Several faults on one endpoint: the first activated that hits wins.
    Thread- and greenlet-safe.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._faults: dict[str, _Active] = {}
        self._lock = threading.Lock()

    def activate(self, fault_id: str, keys: Iterable[str], spec: FaultSpec) -> None:
        """Switch a fault on for ``keys``: endpoint names and/or ``<contender>@<endpoint>`` paths."""
        if spec.kind not in HTTP_FAULT_KINDS:
            raise ValueError(f"HTTP fault layer cannot apply kind {spec.kind!r}")
        if spec.kind == "http_status" and spec.status is None:
            raise ValueError("http_status fault needs `status`")
        if spec.kind == "rate_limit" and spec.rpm is None and spec.tpm is None:
            raise ValueError("rate_limit fault needs `rpm` or `tpm`")
        with self._lock:
            self._faults = {**self._faults, fault_id: _Active(frozenset(keys), spec)}

    def deactivate(self, fault_id: str) -> None:
        with self._lock:
            self._faults = {k: v for k, v in self._faults.items() if k != fault_id}

    def active(self) -> list[str]:
        return list(self._faults)

    def _hit(self, fault_id: str, key: str, probability: float) -> bool:
        if probability >= 1.0:
            return True
        if probability <= 0.0:
            return False
        digest = hashlib.blake2b(f"{self.seed}\x00{fault_id}\x00{key}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2.0**64 < probability

    def decide(
        self,
        endpoint: str,
        *,
        seq: int,
        attempt: int,
        now: float,
        tokens: int = 0,
        contender: str | None = None,
    ) -> Injection | None:
        """The injection for one attempt of ``contender`` on ``endpoint`` at run time ``now`` (``tokens``:
        its size). A fault switched on for the endpoint hits every contender; one switched on for a path
        only that path's contender."""
        faults = self._faults  # copy-on-write: a consistent snapshot without the lock
        if not faults:
            return None
        key = f"{seq}:{attempt}"
        path = f"{contender}@{endpoint}" if contender else None
        for fault_id, act in faults.items():
            if endpoint in act.keys:
                where = endpoint
            elif path is not None and path in act.keys:
                where = path
            else:
                continue
            spec = act.spec
            if spec.kind == "rate_limit":
                inj = self._rate_limit(fault_id, act, where, now, tokens)
                if inj is not None:
                    return inj
                continue
            if not self._hit(fault_id, key, spec.probability):
                continue
            if spec.kind == "http_status":
                status = spec.status or 500
                return Injection(
                    fault_id,
                    "http_status",
                    status=status,
                    retry_after_s=spec.retry_after,
                    message=f"injected HTTP {status} (bakeoff fault {fault_id})",
                )
            after = spec.after_chunks
            if spec.kind == "stall":
                return Injection(
                    fault_id,
                    "stall",
                    after_chunks=1 if after is None else after,
                    stall_for=spec.stall_for if spec.stall_for is not None else 30.0,
                )
            return Injection(fault_id, spec.kind, after_chunks=after or 0)
        return None

    def _rate_limit(
        self, fault_id: str, act: _Active, where: str, now: float, tokens: int
    ) -> Injection | None:
        spec = act.spec
        tpm = spec.tpm
        with act.lock:
            times = act.times.setdefault(where, deque())
            used = act.tokens.setdefault(where, deque())
            while times and times[0] <= now - _WINDOW_S:
                times.popleft()
            while used and used[0][0] <= now - _WINDOW_S:
                used.popleft()
            wait = 0.0
            if spec.rpm is not None and len(times) >= spec.rpm:
                wait = times[len(times) - spec.rpm] + _WINDOW_S - now
            if tpm is not None and used:
                total = sum(n for _, n in used) + tokens
                if total > tpm:
                    freed = 0
                    for t, n in used:  # wait until enough of the window has expired
                        freed += n
                        if total - freed <= tpm:
                            wait = max(wait, t + _WINDOW_S - now)
                            break
            if wait > 0:
                what = "requests" if spec.rpm is not None and len(times) >= spec.rpm else "tokens"
                return Injection(
                    fault_id,
                    "rate_limit",
                    status=429,
                    retry_after_s=round(max(wait, 0.001), 3),
                    message=f"Rate limit reached for {what} per min (bakeoff fault {fault_id})",
                )
            times.append(now)
            used.append((now, tokens))
        return None
