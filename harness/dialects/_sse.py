"""Incremental Server-Sent Events decoder (WHATWG rules), bytes in, ``(event, data)`` pairs out."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SSEDecoder", "SSEEvent"]

_LINE_END = re.compile(rb"\r\n|\r|\n")


@dataclass(slots=True, frozen=True)
class SSEEvent:
    """One dispatched event: ``event`` is ``None`` when the stream sent no ``event:`` line."""

    event: str | None
    data: str


class SSEDecoder:
    """Split a byte stream into SSE events.

    Lines end with CR, LF or CRLF (a CR at the end of a chunk waits for the next chunk); ``:`` lines
    are comments (keep-alives); several ``data:`` lines are joined with ``\\n``; a blank line
    dispatches. At :meth:`close`, complete lines still waiting for their blank line are dispatched
    (servers that close right after ``data: [DONE]``), but an unterminated last line is dropped: it is
    a cut, not an event.

        >>> d = SSEDecoder()
        >>> d.feed(b"event: ping\\ndata: {}\\n\\ndata: [DO")
        [SSEEvent(event='ping', data='{}')]
        >>> d.feed(b"NE]\\n\\n")
        [SSEEvent(event=None, data='[DONE]')]
    """

    __slots__ = ("_buf", "_data", "_event")

    def __init__(self) -> None:
        self._buf = b""
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._buf + chunk if self._buf else chunk
        out: list[SSEEvent] = []
        if b"\r" not in buf:  # fast path: LF-only streams (nearly every server)
            lines = buf.split(b"\n")
            self._buf = lines.pop()
            data = self._data
            for line in lines:
                if not line:  # blank line: dispatch
                    if data:
                        out.append(SSEEvent(self._event, "\n".join(data)))
                        self._data = data = []
                    self._event = None
                elif line.startswith(b"data: "):  # the common line, as _line would read it
                    data.append(line[6:].decode("utf-8", errors="replace"))
                else:
                    self._line(line, out)
            return out
        pos = 0
        n = len(buf)
        for m in _LINE_END.finditer(buf):
            if m.end() == n and m.group() == b"\r":
                break  # may be the first half of CRLF
            self._line(buf[pos : m.start()], out)
            pos = m.end()
        self._buf = buf[pos:]
        return out

    def close(self) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        if self._buf.endswith(b"\r"):
            self._line(self._buf[:-1], out)
        self._buf = b""
        if self._data:
            out.append(SSEEvent(self._event, "\n".join(self._data)))
        self._data = []
        self._event = None
        return out

    def _line(self, raw: bytes, out: list[SSEEvent]) -> None:
        if not raw:
            if self._data:
                out.append(SSEEvent(self._event, "\n".join(self._data)))
            self._data = []
            self._event = None
            return
        line = raw.decode("utf-8", errors="replace")
        if line[0] == ":":
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        # id / retry / unknown fields are ignored
