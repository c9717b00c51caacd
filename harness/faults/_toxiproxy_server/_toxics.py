"""Toxic definitions of the embedded Toxiproxy-compatible server: JSON shapes, attribute parsing, pipes.

A *toxic spec* is what the API stores and echoes (``name``, ``type``, ``stream``, ``toxicity``,
``attributes``). A *pipe* is the coroutine that moves chunks through one stage of one link, exactly as
Toxiproxy's ``toxics/*.go`` ``Pipe`` functions do, against the small :class:`StageIO` protocol that
``_link.py`` implements. Units are Toxiproxy's: milliseconds, KB/s with 1 KB = 1000 bytes, and µs for the
slicer delay.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

__all__ = [
    "EOF",
    "TIMEOUT",
    "TOXIC_ATTRIBUTES",
    "ApiError",
    "Chunk",
    "StageIO",
    "ToxicSpec",
    "merge_attributes",
    "parse_direction",
    "pipe_for",
    "slice_offsets",
]


class ApiError(Exception):
    """An API failure with Toxiproxy's status code and message (``{"error": msg, "status": code}``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


EOF: Final = _Sentinel("EOF")
"""End of the input stream (Go's nil chunk)."""

TIMEOUT: Final = _Sentinel("TIMEOUT")
"""Returned by :meth:`StageIO.recv` when its timeout elapsed with no input."""


class Chunk:
    """The bytes of one socket read, stamped with their arrival time (``loop.time()``, seconds)."""

    __slots__ = ("data", "ts")

    def __init__(self, data: bytes, ts: float) -> None:
        self.data = data
        self.ts = ts

    def __repr__(self) -> str:
        return f"Chunk({len(self.data)} B @ {self.ts:.6f})"


Item = Chunk | _Sentinel

# Attribute names per toxic type, in Toxiproxy's JSON order. Every attribute is an integer that defaults to 0.
TOXIC_ATTRIBUTES: Final[dict[str, tuple[str, ...]]] = {
    "noop": (),
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
}

# Toxics whose input channel is buffered in Toxiproxy (BufferedToxic); the others hand over chunk by chunk.
BUFFER_CHUNKS: Final[dict[str, int]] = {"latency": 1024}


def parse_direction(stream: object) -> str:
    """Return ``"upstream"``/``"downstream"`` for a stream string (case-insensitive), else raise 400."""
    if isinstance(stream, str) and stream.lower() in ("upstream", "downstream"):
        return stream.lower()
    raise ApiError(400, "stream was invalid, can be either upstream or downstream")


def merge_attributes(toxic_type: str, base: dict[str, int], raw: object) -> dict[str, int]:
    """Decode ``raw`` JSON attributes over ``base`` the way Go's json.Decode fills a struct.

    Unknown keys are ignored, ``null`` leaves a value unchanged, and anything but an integer is a
    ``400 bad request body`` (Go refuses ``1.5``, ``"10"`` and ``true`` for an int64 field).
    """
    out = dict(base)
    if raw is None:
        return out
    if not isinstance(raw, dict):
        raise ApiError(
            400,
            f"bad request body: json: cannot unmarshal {_json_kind(raw)} into Go struct field "
            f"ToxicWrapper.attributes of type toxics.{_go_type(toxic_type)}",
        )
    for key in TOXIC_ATTRIBUTES[toxic_type]:
        if key not in raw or raw[key] is None:
            continue
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ApiError(
                400,
                f"bad request body: json: cannot unmarshal {_json_kind(value)} into Go struct field "
                f"{_go_type(toxic_type)}.attributes.{key} of type int64",
            )
        out[key] = value
    return out


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _go_type(toxic_type: str) -> str:
    names = {
        "noop": "NoopToxic",
        "latency": "LatencyToxic",
        "bandwidth": "BandwidthToxic",
        "slow_close": "SlowCloseToxic",
        "timeout": "TimeoutToxic",
        "reset_peer": "ResetToxic",
        "slicer": "SlicerToxic",
        "limit_data": "LimitDataToxic",
    }
    return names.get(toxic_type, "NoopToxic")


@dataclass
class ToxicSpec:
    """One toxic as the API stores it. ``direction`` is the parsed ``stream``; ``stream`` is echoed as is."""

    name: str
    type: str
    stream: str
    direction: str
    toxicity: float = 1.0
    attributes: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The wire shape, in Toxiproxy's field order; a whole toxicity is written as Go writes it (``1``)."""
        tox: float | int = int(self.toxicity) if float(self.toxicity).is_integer() else self.toxicity
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": tox,
        }


class StageIO(Protocol):
    """What a pipe sees of its stage (implemented by ``_link.ToxicStage``)."""

    rng: random.Random
    in_hand: Item | None

    async def recv(self, timeout: float | None = None) -> Item:
        """Next input item; it becomes ``in_hand`` (forwarded if the stage is interrupted)."""

    async def send(self, chunk: Chunk) -> None:
        """Pass a chunk on to the next stage (or the socket), waiting for room."""

    def close(self) -> None:
        """Close this stage's output (Go's ``stub.Close()``): EOF flows on and the link ends."""

    def hold_close(self, delay_s: float) -> None:
        """Close the output after ``delay_s`` even if the stage is interrupted meanwhile (reset_peer)."""

    def now(self) -> float:
        """The loop clock, seconds."""


Pipe = Callable[[StageIO, dict[str, int]], Coroutine[Any, Any, None]]


async def _pipe_noop(st: StageIO, attrs: dict[str, int]) -> None:
    while True:
        c = await st.recv()
        if not isinstance(c, Chunk):
            st.close()
            return
        await st.send(c)
        st.in_hand = None


async def _pipe_latency(st: StageIO, attrs: dict[str, int]) -> None:
    latency = attrs.get("latency", 0)
    jitter = attrs.get("jitter", 0)
    while True:
        c = await st.recv()
        if not isinstance(c, Chunk):
            st.close()
            return
        delay_ms = latency
        if jitter > 0:
            delay_ms += st.rng.randrange(2 * jitter) - jitter
        # Held until arrival + delay, measured from the chunk's own timestamp: chunks are handled in order,
        # so a later chunk with a smaller draw just follows the one before it (never reordered).
        sleep = delay_ms / 1000.0 - (st.now() - c.ts)
        if sleep > 0:
            await asyncio.sleep(sleep)
        c.ts += sleep
        await st.send(c)
        st.in_hand = None


async def _pipe_bandwidth(st: StageIO, attrs: dict[str, int]) -> None:
    rate = attrs.get("rate", 0)  # KB/s, 1 KB = 1000 bytes: len bytes take len / rate ms
    sleep = 0.0
    while True:
        c = await st.recv()
        if not isinstance(c, Chunk):
            st.close()
            return
        if rate <= 0:
            sleep = 0.0
        else:
            sleep += len(c.data) / rate / 1000.0
        slice_bytes = rate * 100  # bytes per 100 ms
        while rate > 0 and len(c.data) > slice_bytes:
            await asyncio.sleep(0.1)
            head, rest = c.data[:slice_bytes], c.data[slice_bytes:]
            await st.send(Chunk(head, c.ts))
            c = Chunk(rest, c.ts)
            st.in_hand = c
            sleep -= 0.1
        start = st.now()
        if sleep > 0:
            await asyncio.sleep(sleep)
        sleep -= st.now() - start  # carry the timer's error into the next chunk, as Toxiproxy does
        await st.send(c)
        st.in_hand = None


async def _pipe_slow_close(st: StageIO, attrs: dict[str, int]) -> None:
    delay = attrs.get("delay", 0)
    while True:
        c = await st.recv()
        if not isinstance(c, Chunk):
            # EOF stays in hand while waiting: an interrupt forwards it instead of losing it.
            await asyncio.sleep(delay / 1000.0)
            st.close()
            return
        await st.send(c)
        st.in_hand = None


async def _pipe_timeout(st: StageIO, attrs: dict[str, int]) -> None:
    timeout = attrs.get("timeout", 0)
    while True:
        # The timer restarts on every dropped chunk (Go re-creates time.After on each loop pass).
        c = await st.recv(timeout / 1000.0 if timeout > 0 else None)
        if c is TIMEOUT or c is EOF:
            st.in_hand = None
            st.close()
            return
        st.in_hand = None  # dropped on the floor


async def _pipe_reset_peer(st: StageIO, attrs: dict[str, int]) -> None:
    timeout = attrs.get("timeout", 0)
    c = await st.recv()
    st.in_hand = None  # the first chunk is dropped
    if c is EOF:
        st.close()
        return
    # Toxiproxy's wait cannot be interrupted: the close happens even if the toxic is changed meanwhile.
    st.hold_close(timeout / 1000.0)
    await asyncio.Event().wait()


async def _pipe_slicer(st: StageIO, attrs: dict[str, int]) -> None:
    avg = attrs.get("average_size", 0)
    var = attrs.get("size_variation", 0)
    delay_s = attrs.get("delay", 0) / 1_000_000.0
    while True:
        c = await st.recv()
        if not isinstance(c, Chunk):
            st.close()
            return
        offsets = slice_offsets(0, len(c.data), avg, var, st.rng)
        data = c.data
        for i in range(1, len(offsets), 2):
            await st.send(Chunk(data[offsets[i - 1] : offsets[i]], c.ts))
            st.in_hand = Chunk(data[offsets[i] :], c.ts) if offsets[i] < len(data) else None
            await asyncio.sleep(delay_s)  # after every piece, the last one included (as Toxiproxy)
        st.in_hand = None


class _LimitState:
    __slots__ = ("transmitted",)

    def __init__(self) -> None:
        self.transmitted = 0


def _limit_data_pipe(state: _LimitState) -> Pipe:
    async def pipe(st: StageIO, attrs: dict[str, int]) -> None:
        limit = attrs.get("bytes", 0)
        remaining = limit - state.transmitted
        while True:
            c = await st.recv()
            if not isinstance(c, Chunk):
                st.close()
                return
            remaining = max(remaining, 0)
            if remaining < len(c.data):
                c.data = c.data[:remaining]
            if c.data:
                await st.send(c)
                state.transmitted += len(c.data)
                remaining = limit - state.transmitted
            st.in_hand = None
            if remaining <= 0:
                st.close()
                return

    return pipe


def slice_offsets(start: int, end: int, average: int, variation: int, rng: random.Random) -> list[int]:
    """Toxiproxy's slicer split: offsets ``[s0, e0, s1, e1, ...]`` by recursive halving.

    A span no longer than ``average + variation`` is kept whole; otherwise it is cut near its middle
    (moved by a uniform draw in ``[-variation, variation)``) and both halves are split again.
    """
    if (end - start) - average <= variation or end - start <= 1:
        return [start, end]
    mid = start + (end - start) // 2
    if variation > 0:
        mid += rng.randrange(variation * 2) - variation
    mid = min(max(mid, start + 1), end - 1)  # guard against a variation larger than the span
    return slice_offsets(start, mid, average, variation, rng) + slice_offsets(
        mid, end, average, variation, rng
    )


_PIPES: Final[dict[str, Pipe]] = {
    "noop": _pipe_noop,
    "latency": _pipe_latency,
    "bandwidth": _pipe_bandwidth,
    "slow_close": _pipe_slow_close,
    "timeout": _pipe_timeout,
    "reset_peer": _pipe_reset_peer,
    "slicer": _pipe_slicer,
}


def pipe_for(toxic_type: str, state: object | None) -> Pipe:
    """The pipe of a toxic type; ``state`` is the per-link state made by :func:`new_state` (limit_data)."""
    if toxic_type == "limit_data":
        assert isinstance(state, _LimitState)
        return _limit_data_pipe(state)
    return _PIPES[toxic_type]


def new_state(toxic_type: str) -> object | None:
    """Per-link state of a stateful toxic (created when the toxic is attached to a link), else None."""
    return _LimitState() if toxic_type == "limit_data" else None


NOOP_PIPE: Final[Pipe] = _pipe_noop
