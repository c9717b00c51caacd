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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

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
    """Appends records to a JSONL file; flushed every ``flush_s`` and on close."""

    def __init__(self, path: str | Path, flush_s: float = 0.25) -> None:
        self.path = Path(path)
        self._fh: IO[str] = self.path.open("a", encoding="utf-8", buffering=1 << 16)
        self._flush_s = flush_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._flusher())

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(self._flush_s)
            self._fh.flush()

    def write(self, rec: GroundTruthRecord) -> None:
        d = asdict(rec)
        for k, v in d.items():
            if k.startswith("t_") and v is not None:
                d[k] = round(v, 6)
        d["chunk_times"] = [round(t, 6) for t in rec.chunk_times]
        self._fh.write(json.dumps(d, separators=(",", ":")) + "\n")

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._fh.flush()
        self._fh.close()


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
