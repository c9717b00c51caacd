"""Links: one direction of one proxied connection, a chain of toxic stages between two sockets.

With no toxic in its direction a link is a straight copy: ``data_received`` writes to the other
transport, and transport flow control pauses the reading side (the fast path). With toxics, every chunk
goes through a chain of :class:`ToxicStage` tasks, one per toxic, as in Toxiproxy's ``link.go``: each stage
runs its toxic's pipe (or a noop, by a toxicity draw made whenever the stage (re)starts) and hands chunks
to the next stage's inbox; the last stage writes to the socket.

Rewiring (add / update / remove a toxic on open connections) is synchronous: everything runs on one
event loop, so a stage is interrupted by cancelling its task and forwarding the chunk it held
(``in_hand``), which is how Toxiproxy flushes data held by a latency toxic at once when it goes away.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import Protocol

from harness.faults._toxiproxy_server._toxics import (
    BUFFER_CHUNKS,
    EOF,
    NOOP_PIPE,
    TIMEOUT,
    Chunk,
    Item,
    ToxicSpec,
    new_state,
    pipe_for,
)

__all__ = ["Link", "LinkEnd", "ToxicStage"]

_SMALL_INBOX = 4  # chunks; Toxiproxy's unbuffered channels hand over one chunk at a time
_INBOX_BYTES = 32 * 1024 * 1024  # bound on bytes queued in one stage's inbox (reads are up to 256 KiB)


class LinkEnd(Protocol):
    """One socket as a link sees it, as the source it reads from or the destination it writes to."""

    @property
    def write_paused(self) -> bool:
        """True while the transport's write buffer is above its high-water mark."""

    @property
    def gone(self) -> bool:
        """True once the socket is closed or lost."""

    def write(self, data: bytes) -> None:
        """Queue bytes on the socket."""

    def close(self) -> None:
        """Close after the queued bytes are written (FIN, or RST when linger 0 was set)."""

    def set_reading(self, on: bool) -> None:
        """Pause or resume reading from the socket."""

    async def wait_writable(self) -> None:
        """Return once the write buffer drained below its low-water mark (or the socket is gone)."""

    def set_linger_zero(self) -> None:
        """Make the eventual close an RST (SO_LINGER 0)."""


class ToxicStage:
    """One toxic on one link: an inbox, the toxic's pipe running as a task, and the chunk it holds."""

    __slots__ = (
        "_space",
        "_waiter",
        "closed",
        "in_hand",
        "inbox",
        "inbox_bytes",
        "link",
        "max_chunks",
        "next",
        "rng",
        "spec",
        "state",
        "task",
        "timers",
    )

    def __init__(self, link: Link, spec: ToxicSpec) -> None:
        self.link = link
        self.spec = spec
        self.rng = link.rng
        self.inbox: deque[Item] = deque()
        self.inbox_bytes = 0
        self.max_chunks = BUFFER_CHUNKS.get(spec.type, _SMALL_INBOX)
        self.next: ToxicStage | None = None
        self.in_hand: Item | None = None
        self.state = new_state(spec.type)
        self.task: asyncio.Task[None] | None = None
        self.closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._space: asyncio.Future[None] | None = None
        self.timers: list[asyncio.TimerHandle] = []

    # -- the StageIO protocol used by pipes ---------------------------------------------------------------

    def now(self) -> float:
        return self.link.loop.time()

    async def recv(self, timeout: float | None = None) -> Item:
        loop = self.link.loop
        while not self.inbox:
            fut: asyncio.Future[None] = loop.create_future()
            self._waiter = fut
            handle = loop.call_later(timeout, _wake, fut) if timeout is not None else None
            try:
                await fut
            finally:
                if self._waiter is fut:
                    self._waiter = None
                if handle is not None:
                    handle.cancel()
            if not self.inbox and timeout is not None:
                return TIMEOUT
        item = self.inbox.popleft()
        if isinstance(item, Chunk):
            self.inbox_bytes -= len(item.data)
        self.in_hand = item
        self._room_made()
        return item

    async def send(self, chunk: Chunk) -> None:
        nxt = self.next
        if nxt is None:
            dest = self.link.dest
            while dest.write_paused and not dest.gone:
                await dest.wait_writable()
            self.link.write_out(chunk.data)
            return
        while nxt.full():
            fut: asyncio.Future[None] = self.link.loop.create_future()
            nxt._space = fut
            try:
                await fut
            finally:
                if nxt._space is fut:
                    nxt._space = None
        nxt.put(chunk)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.in_hand = None
        self.forward(EOF)

    def hold_close(self, delay_s: float) -> None:
        self.timers.append(self.link.loop.call_later(delay_s, self.close))

    # -- used by the link ---------------------------------------------------------------------------------

    def full(self) -> bool:
        return len(self.inbox) >= self.max_chunks or self.inbox_bytes >= _INBOX_BYTES

    def put(self, item: Item) -> None:
        """Append to the inbox, whatever its size (rewiring forwards synchronously), and wake the pipe."""
        self.inbox.append(item)
        if isinstance(item, Chunk):
            self.inbox_bytes += len(item.data)
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _room_made(self) -> None:
        if self.full():
            return
        s = self._space
        if s is not None and not s.done():
            s.set_result(None)
        if self.link.stages and self.link.stages[0] is self:
            self.link.update_reading()

    def forward(self, item: Item) -> None:
        """Hand an item to the next stage (or the socket) now, ignoring flow control."""
        if self.next is not None:
            self.next.put(item)
        elif isinstance(item, Chunk):
            self.link.write_out(item.data)
        else:
            self.link.finish(close_dest=True)

    def start(self) -> None:
        """Run the toxic (toxicity drawn now, as at every Toxiproxy stub (re)start) or a noop."""
        if self.closed or self.link.finished:
            return
        toxic = self.rng.random() < self.spec.toxicity
        pipe = pipe_for(self.spec.type, self.state) if toxic else NOOP_PIPE
        self.task = self.link.loop.create_task(pipe(self, dict(self.spec.attributes)))

    def interrupt(self) -> None:
        """Stop the pipe and pass on the chunk it held (a latency toxic's held data goes out at once)."""
        task, self.task = self.task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        item, self.in_hand = self.in_hand, None
        if item is not None and not self.closed:
            self.forward(item)

    def stop(self) -> None:
        """Cancel the pipe and timers for good (the link is finished)."""
        task, self.task = self.task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        for t in self.timers:
            t.cancel()
        self.timers.clear()
        self.inbox.clear()
        self.in_hand = None


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Link:
    """One direction of one connection: ``source`` → toxic stages → ``dest``."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        direction: str,
        source: LinkEnd,
        dest: LinkEnd,
        chain: list[ToxicSpec],
        rng: random.Random,
        on_finish: Callable[[Link], None] | None = None,
    ) -> None:
        self.loop = loop
        self.direction = direction
        self.source = source
        self.dest = dest
        self.rng = rng
        self.stages: list[ToxicStage] = []
        self.finished = False
        self.eof_fed = False
        self._reading = True
        self._on_finish = on_finish
        for spec in chain:
            st = ToxicStage(self, spec)
            if self.stages:
                self.stages[-1].next = st
            self.stages.append(st)

    def mark_source_paused(self) -> None:
        """The source socket is paused right now (the client waits while the upstream is dialled)."""
        self._reading = False

    def start(self) -> None:
        """Start the stages (toxicity drawn for each) and reading."""
        for st in self.stages:
            st.start()
        self.update_reading()

    @property
    def has_reset_peer(self) -> bool:
        return any(st.spec.type == "reset_peer" for st in self.stages)

    # -- input from the source ----------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self.finished or self.eof_fed:
            return
        if not self.stages:
            self.dest.write(data)  # fast path: a straight copy, flow control pauses the source
            return
        head = self.stages[0]
        head.put(Chunk(data, self.loop.time()))
        if head.full():
            self.update_reading()

    def feed_eof(self) -> None:
        if self.finished or self.eof_fed:
            return
        self.eof_fed = True
        if not self.stages:
            self.finish(close_dest=True)
        else:
            self.stages[0].put(EOF)

    def update_reading(self) -> None:
        """Pause the source while the destination (fast path) or the first stage's inbox is full."""
        if self.finished:
            return
        full = self.stages[0].full() if self.stages else self.dest.write_paused
        if full == self._reading:
            self._reading = not full
            self.source.set_reading(not full)

    def write_out(self, data: bytes) -> None:
        if not self.finished and not self.dest.gone:
            self.dest.write(data)

    def dest_lost(self) -> None:
        """The destination socket is gone: nothing more can be delivered (Go's write error)."""
        self.finish(close_dest=False)

    def finish(self, *, close_dest: bool) -> None:
        """End the link (Go's ``link.write`` returning): stop every stage and close the destination."""
        if self.finished:
            return
        self.finished = True
        for st in self.stages:
            st.stop()
        if close_dest and not self.dest.gone:
            self.dest.close()
        if self._on_finish is not None:
            self._on_finish(self)

    # -- rewiring on open connections (Toxiproxy's AddToxic / UpdateToxic / RemoveToxic) ------------------

    def add_toxic(self, spec: ToxicSpec) -> None:
        if self.finished:
            return
        new = ToxicStage(self, spec)
        if not self.stages:
            self.stages.append(new)
            new.start()
            self.update_reading()
            return
        last = self.stages[-1]
        self.stages.append(new)
        if last.closed:
            new.closed = True  # the real output is already closed
            return
        last.interrupt()  # its held chunk goes to the old output, before the new toxic
        last.next = new
        new.start()
        last.start()

    def update_toxic(self, index: int) -> None:
        if self.finished or index >= len(self.stages):
            return
        st = self.stages[index]
        if st.closed:
            return
        st.interrupt()
        st.start()

    def remove_toxic(self, index: int) -> None:
        if self.finished or index >= len(self.stages):
            return
        st = self.stages[index]
        if st.closed:
            # Its EOF is already on the way out; whatever is before it can never be delivered. Drop it
            # (and them) so the stage list stays aligned with the collection's chain.
            for dead in self.stages[: index + 1]:
                dead.stop()
                dead.closed = True
            self.stages.pop(index)
            if index > 0:
                self.stages[index - 1].next = st.next
            return
        st.interrupt()
        if st.spec.type == "timeout":
            # Cleanup: removing a timeout toxic closes the links it was on (a stream it dropped data
            # from is corrupt), whatever the toxicity draw was.
            st.close()
            return
        prev = self.stages[index - 1] if index > 0 else None
        if prev is not None and not prev.closed:
            prev.interrupt()  # its held chunk lands in st's inbox, after what st already has
        for t in st.timers:
            t.cancel()
        while st.inbox:
            item = st.inbox.popleft()
            st.forward(item)
            if self.finished:
                return
        st.inbox_bytes = 0
        self.stages.pop(index)
        if prev is not None:
            prev.next = st.next
            prev.start()
        s = st._space  # a producer waiting for room in st: let it retry against its new next stage
        if s is not None and not s.done():
            s.set_result(None)
        self.update_reading()

    def abort(self) -> None:
        """Stop the link without delivering anything more (the proxy is disabled or deleted)."""
        self.finish(close_dest=False)


def set_linger_zero(sock: socket.socket) -> None:
    """SO_LINGER on, 0 s: close() sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
