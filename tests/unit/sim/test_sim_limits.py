"""Token buckets, Go-style reset durations and the capacity gate."""

from __future__ import annotations

import asyncio

import pytest

from harness.sim._limits import CapacityGate, TokenBucket, WindowCounter, go_duration


def test_bucket_refills_continuously() -> None:
    b = TokenBucket(600, window_s=1.0, now=0.0)  # 10/s, holds 10
    assert b.capacity == 10
    for _ in range(10):
        assert b.wait_s(1, 0.0) == 0
        b.take(1, 0.0)
    assert b.wait_s(1, 0.0) == pytest.approx(0.1)
    assert b.remaining(0.05) == 0
    assert b.wait_s(1, 0.1) == 0
    assert b.reset_s(0.1) == pytest.approx(0.9)


def test_window_counter_counts_down_within_a_window_and_never_refuses() -> None:
    c = WindowCounter(1_000, window_s=60.0, now=100.0)
    assert (c.remaining(100.0), c.reset_s(100.0)) == (1_000, 60.0)
    c.take(1, 100.0)
    c.take(1, 130.0)  # no refill within the window
    assert c.remaining(130.0) == 998 and c.reset_s(130.0) == pytest.approx(30.0)
    c.take(5_000, 131.0)
    assert c.remaining(131.0) == 0 and c.wait_s(1, 131.0) == 0  # only counted, never enforced
    assert c.remaining(160.0) == 1_000 and c.reset_s(160.0) == pytest.approx(60.0)  # a new window
    assert c.reset_s(410.0) == pytest.approx(50.0)  # windows stay aligned after idle time (400..460)


@pytest.mark.parametrize(
    ("s", "text"), [(0.0121, "13ms"), (1.0, "1s"), (1.5, "1.5s"), (360.0, "6m0s"), (3723.0, "1h2m3s")]
)
def test_go_duration(s: float, text: str) -> None:
    assert go_duration(s) == text


def test_capacity_gate_queues_fifo_and_refuses_beyond_the_bound() -> None:
    async def go() -> None:
        gate = CapacityGate(capacity=1, queue_limit=1)
        assert await gate.acquire()
        waiter = asyncio.ensure_future(gate.acquire())
        await asyncio.sleep(0)
        assert gate.queued == 1
        assert await gate.acquire() is False  # queue full
        gate.release()
        assert await waiter
        assert gate.active == 1 and gate.queued == 0
        gate.release()
        assert gate.active == 0

    asyncio.run(asyncio.wait_for(go(), 5))


def test_cancelled_waiter_leaves_the_queue() -> None:
    async def go() -> None:
        gate = CapacityGate(capacity=1, queue_limit=2)
        await gate.acquire()
        w = asyncio.ensure_future(gate.acquire())
        await asyncio.sleep(0)
        w.cancel()
        await asyncio.sleep(0)
        assert gate.queued == 0
        gate.release()
        assert gate.active == 0

    asyncio.run(asyncio.wait_for(go(), 5))
