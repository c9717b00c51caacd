"""Capacity with a bounded queue in front, continuously refilled token buckets for RPM / TPM, and
fixed-window counters for the nominal limits advertised when none is enforced."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math

__all__ = ["CapacityGate", "TokenBucket", "WindowCounter", "go_duration"]


class TokenBucket:
    """``limit_per_min`` refilled continuously; holds at most ``limit_per_min · window_s / 60``."""

    __slots__ = ("capacity", "level", "limit_per_min", "rate_per_s", "t")

    def __init__(self, limit_per_min: float, window_s: float, now: float) -> None:
        self.limit_per_min = limit_per_min
        self.rate_per_s = limit_per_min / 60.0
        self.capacity = max(1.0, limit_per_min * window_s / 60.0)
        self.level = self.capacity
        self.t = now

    def _refill(self, now: float) -> None:
        if now > self.t:
            self.level = min(self.capacity, self.level + (now - self.t) * self.rate_per_s)
            self.t = now

    def wait_s(self, cost: float, now: float) -> float:
        """Seconds until ``cost`` could be taken (0 if it can be taken now). Does not take."""
        self._refill(now)
        cost = min(cost, self.capacity)
        if self.level >= cost:
            return 0.0
        return (cost - self.level) / self.rate_per_s

    def take(self, cost: float, now: float) -> None:
        self._refill(now)
        self.level = max(0.0, self.level - min(cost, self.capacity))

    def remaining(self, now: float) -> int:
        self._refill(now)
        return int(self.level)

    def reset_s(self, now: float) -> float:
        """Seconds until the bucket is full again."""
        self._refill(now)
        return (self.capacity - self.level) / self.rate_per_s


class WindowCounter(TokenBucket):
    """A limit that is only counted, never enforced: ``take`` adds to the use of the current fixed
    window of ``window_s``; ``remaining`` falls within a window and is full again at its end (what the
    rate-limit headers of a real API show a light user)."""

    __slots__ = ("used", "window_end", "window_s")

    def __init__(self, limit_per_min: float, window_s: float, now: float) -> None:
        super().__init__(limit_per_min, window_s, now)
        self.window_s = window_s
        self.window_end = now + window_s
        self.used = 0.0

    def _roll(self, now: float) -> None:
        if now >= self.window_end:
            self.window_end += self.window_s * (1 + (now - self.window_end) // self.window_s)
            self.used = 0.0

    def wait_s(self, cost: float, now: float) -> float:
        return 0.0

    def take(self, cost: float, now: float) -> None:
        self._roll(now)
        self.used += cost

    def remaining(self, now: float) -> int:
        self._roll(now)
        return max(0, int(self.capacity - self.used))

    def reset_s(self, now: float) -> float:
        self._roll(now)
        return self.window_end - now


def go_duration(seconds: float) -> str:
    """OpenAI's reset format, a Go duration string: ``12ms``, ``1.5s``, ``6m0s``, ``1h2m3s``."""
    if seconds < 1.0:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    if seconds < 60.0:
        return f"{round(seconds, 3):g}s"
    total = round(seconds, 3)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    out = f"{int(h)}h" if h else ""
    return out + f"{int(m)}m{round(s, 3):g}s"


class CapacityGate:
    """``capacity`` concurrent holders; up to ``queue_limit`` more wait in FIFO order; beyond that, refuse."""

    __slots__ = ("active", "capacity", "queue_limit", "waiters")

    def __init__(self, capacity: int, queue_limit: int) -> None:
        self.capacity = capacity
        self.queue_limit = queue_limit
        self.active = 0
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def queued(self) -> int:
        return len(self.waiters)

    async def acquire(self) -> bool:
        """Take a slot, waiting in the queue if needed; False (at once) when the queue is full."""
        if self.active < self.capacity and not self.waiters:
            self.active += 1
            return True
        if len(self.waiters) >= self.queue_limit:
            return False
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            else:
                with contextlib.suppress(ValueError):
                    self.waiters.remove(fut)
            raise
        return True

    def release(self) -> None:
        """Give the slot to the first waiter, or free it."""
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the slot passes on; active stays the same
                return
        self.active -= 1
