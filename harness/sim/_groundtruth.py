"""Ground truth: what the simulator really did per request, as JSON lines, for checking measurements.

Times are ``time.monotonic()`` seconds (CLOCK_MONOTONIC, shared by every process on the machine, so
they compare directly with a client's ``time.monotonic()``); ``wall_received`` is ``time.time()``.
One line per request, written when the request ends::

    {"endpoint": "a", "request_id": "req_…", "dialect": "openai-chat", "stream": true, "status": 200,
     "outcome": "ok", "t_received": …, "t_admitted": …, "t_headers": …, "t_first_token": …,
     "t_last": …, "t_end": …, "chunk_times": [...], "prompt_tokens": 12, "output_tokens": 64,
     "retry_count": 0, "wall_received": …}

``outcome``: ``ok``, ``http_error`` (status ≠ 200), ``error_event`` (error sent mid-stream),
``closed`` / ``reset`` (cut mid-stream by FIN / RST), ``client_gone`` (the client went away first).
``chunk_times`` are the write times of every content chunk (the first is ``t_first_token``).
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["GroundTruthRecord", "GroundTruthWriter", "read_ground_truth"]


@dataclass(slots=True)
class GroundTruthRecord:
    endpoint: str
    request_id: str
    dialect: str
    stream: bool = False
    status: int = 0
    outcome: str = "ok"
    t_received: float = 0.0
    t_admitted: float | None = None
    t_headers: float | None = None
    t_first_token: float | None = None
    t_last: float | None = None
    t_end: float = 0.0
    chunk_times: list[float] = field(default_factory=list)
    prompt_tokens: int = 0
    output_tokens: int = 0
    retry_count: int | None = None
    wall_received: float = 0.0


class GroundTruthWriter:
    """Appends records to a JSONL file, flushed every ``flush_s`` and on close.

    Each flush is one ``write()`` of whole lines on an ``O_APPEND`` descriptor, so several simulator
    processes (``--workers``) can share one file without tearing each other's lines.
    """

    def __init__(self, path: str | Path, flush_s: float = 0.25) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._buf: list[str] = []
        self._flush_s = flush_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._flusher())

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(self._flush_s)
            self.flush()

    def write(self, rec: GroundTruthRecord) -> None:
        d = asdict(rec)
        for k, v in d.items():
            if k.startswith("t_") and v is not None:
                d[k] = round(v, 6)
        d["chunk_times"] = [round(t, 6) for t in rec.chunk_times]
        self._buf.append(json.dumps(d, separators=(",", ":")) + "\n")
        if len(self._buf) >= 2000:
            self.flush()

    def flush(self) -> None:
        if not self._buf or self._fd < 0:
            return
        data = "".join(self._buf).encode()
        self._buf.clear()
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.flush()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_ground_truth(path: str | Path) -> list[GroundTruthRecord]:
    """Every record in a ground-truth file (a torn last line is skipped)."""
    out: list[GroundTruthRecord] = []
    with Path(path).open(encoding="utf-8") as fh:
        for raw in fh:
            line = raw.strip()
            if not line:
                continue
            try:
                out.append(GroundTruthRecord(**json.loads(line)))
            except (ValueError, TypeError):
                continue
    return out
