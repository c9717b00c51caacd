"""Incremental Server-Sent Events decoder (WHATWG rules), bytes in, ``(event, data)`` pairs out.

Linear in its input whatever the vendor sends: an unfinished line is kept as the pieces it arrived in
and joined once, when its end arrives (joining on every read made a 64 MB line without a newline cost
33 s), and one line or one event's data is bounded (:class:`SSETooLarge`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MAX_EVENT_BYTES", "SSEDecoder", "SSEEvent", "SSETooLarge"]

MAX_EVENT_BYTES = 1 << 20
"""Default bound on one line, and on one event's data lines together (``limits.event_bytes``)."""

_LINE_END = re.compile(rb"\r\n|\r|\n")


@dataclass(slots=True, frozen=True)
class SSEEvent:
    """One dispatched event: ``event`` is ``None`` when the stream sent no ``event:`` line."""

    event: str | None
    data: str


class SSETooLarge(ValueError):
    """One line, or one event's data, grew past the decoder's bound: the stream cannot go on."""


class SSEDecoder:
    """Split a byte stream into SSE events.

    Lines end with CR, LF or CRLF (a CR at the end of a chunk waits for the next chunk); ``:`` lines
    are comments (keep-alives); several ``data:`` lines are joined with ``\\n``; a blank line
    dispatches. At :meth:`close`, complete lines still waiting for their blank line are dispatched
    (servers that close right after ``data: [DONE]``), but an unterminated last line is dropped: it is
    a cut, not an event. ``max_event_bytes`` bounds one line and one event's data lines together;
    :meth:`feed` raises :class:`SSETooLarge` past it.

        >>> d = SSEDecoder()
        >>> d.feed(b"event: ping\\ndata: {}\\n\\ndata: [DO")
        [SSEEvent(event='ping', data='{}')]
        >>> d.feed(b"NE]\\n\\n")
        [SSEEvent(event=None, data='[DONE]')]
    """

    __slots__ = ("_cr", "_data", "_event", "_limit", "_parts", "_pending", "_size")

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._parts: list[bytes] = []  # the unfinished last line, as the pieces it arrived in
        self._pending = 0  # its length
        self._cr = False  # it ends with a CR that may be the first half of a CRLF
        self._event: str | None = None
        self._data: list[str] = []
        self._size = 0  # bytes of the current event's data lines
        self._limit = max_event_bytes

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        cr = self._cr or b"\r" in chunk
        if not cr and b"\n" not in chunk:  # the line goes on
            if chunk:
                self._parts.append(chunk)
                self._pending += len(chunk)
                if self._pending > self._limit:
                    raise SSETooLarge(f"one SSE line over {self._limit} bytes")
            return []
        if self._parts:
            buf = b"".join(self._parts) + chunk
            self._parts = []
        else:
            buf = chunk
        out: list[SSEEvent] = []
        if not cr:  # fast path: LF-only streams (nearly every server)
            lines = buf.split(b"\n")
            tail = lines.pop()
            data = self._data
            size = self._size
            limit = self._limit
            for line in lines:
                if not line:  # blank line: dispatch
                    if data:
                        out.append(SSEEvent(self._event, "\n".join(data)))
                        self._data = data = []
                        size = 0
                    self._event = None
                elif line.startswith(b"data: "):  # the common line, as _line would read it
                    size += len(line) - 6
                    if size > limit:
                        raise SSETooLarge(f"one SSE event's data over {limit} bytes")
                    data.append(line[6:].decode("utf-8", errors="replace"))
                else:
                    self._size = size
                    self._line(line, out)
                    data = self._data
                    size = self._size
            self._size = size
            if tail:  # _keep, inlined: this path runs once per read
                self._parts.append(tail)
                self._pending = len(tail)
                if self._pending > limit:
                    raise SSETooLarge(f"one SSE line over {limit} bytes")
            else:
                self._pending = 0
            return out
        pos = 0
        n = len(buf)
        for m in _LINE_END.finditer(buf):
            if m.end() == n and m.group() == b"\r":
                self._keep(buf[pos:], cr=True)  # may be the first half of CRLF
                return out
            self._line(buf[pos : m.start()], out)
            pos = m.end()
        self._keep(buf[pos:], cr=False)
        return out

    def _keep(self, tail: bytes, *, cr: bool) -> None:
        self._cr = cr
        self._pending = len(tail)
        if tail:
            self._parts.append(tail)
            if self._pending > self._limit:
                raise SSETooLarge(f"one SSE line over {self._limit} bytes")

    def close(self) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        if self._cr:
            self._line(b"".join(self._parts)[:-1], out)
        self._parts = []
        self._pending = 0
        self._cr = False
        if self._data:
            out.append(SSEEvent(self._event, "\n".join(self._data)))
        self._data = []
        self._size = 0
        self._event = None
        return out

    def _line(self, raw: bytes, out: list[SSEEvent]) -> None:
        if not raw:
            if self._data:
                out.append(SSEEvent(self._event, "\n".join(self._data)))
            self._data = []
            self._size = 0
            self._event = None
            return
        line = raw.decode("utf-8", errors="replace")
        if line[0] == ":":
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._size += len(value)
            if self._size > self._limit:
                raise SSETooLarge(f"one SSE event's data over {self._limit} bytes")
            self._data.append(value)
        elif name == "event":
            self._event = value
        # id / retry / unknown fields are ignored
