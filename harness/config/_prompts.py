"""Prompt sets (JSONL) without a million objects in memory.

A prompt set is read once, line by line: each line is validated (``file:line: field: message`` for every
problem) and only where it lies in the file is kept, plus its class. A prompt becomes a ``PromptItem``
when a request uses it (about 13 µs), and the last few thousand are cached, so the contenders sending the
same prompt at the same moment parse it once. Measured on a 1,000,000-line set (218 MB, a shared 2-core
machine): validate went from 75.7 s / 2.58 GB to 29.7 s / 171 MB peak RSS, a run from 2.6 GB to 233 MB.

    prompts, sha256, problems = load_prompts(Path("prompts/default.jsonl"))
    prompts[3].messages          # parsed now (cached)
    prompts.classes              # {"chat": 40, "json": 8, ...}
    prompts.subset([3, 9])       # the same set with only those lines kept (what a worker receives)
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from array import array
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

from pydantic import ValidationError

from harness.config._models import PromptItem
from harness.config._yaml import Located, display_path, validate_located

__all__ = ["MAX_PROMPT_PROBLEMS", "PromptSet", "as_prompt_set", "load_prompts"]

MAX_PROMPT_PROBLEMS = 1000
"""A prompt file with more problems than this lists the first ones and says how many more there are."""
_CACHE_ITEMS = 4096


class PromptSet(Sequence[PromptItem]):
    """A sequence of prompts kept as their JSON lines (in memory, or as places in a file).

    ``len()`` is the number of prompts; ``set[i]`` parses prompt ``i`` (cached); ``raw(i)`` is its line;
    ``classes`` counts prompts per class. A *sparse* set (``subset``) keeps the length of the whole set
    but only some lines: what a distributed worker needs for its share of the schedule.
    """

    def __init__(
        self,
        count: int,
        line: Callable[[int], bytes],
        class_of: Callable[[int], str],
        *,
        describe: str = "",
        known: Callable[[], Iterable[int]] | None = None,
        file: _FileLines | None = None,
    ) -> None:
        self._file = file
        self._count = count
        self._line = line
        self._class_of = class_of
        self._known = known
        self._describe = describe
        self._cache: OrderedDict[int, PromptItem] = OrderedDict()
        self._lock = threading.Lock()

    # --- constructors ---------------------------------------------------------------------------------
    @classmethod
    def from_items(cls, items: Iterable[PromptItem]) -> PromptSet:
        """A set held in memory (tests, replays, small sets)."""
        items = list(items)
        lines = [_line_of(p) for p in items]
        classes = [p.prompt_class for p in items]
        out = cls(len(items), lines.__getitem__, classes.__getitem__, describe="in memory")
        out._cache.update(enumerate(items[:_CACHE_ITEMS]))
        return out

    @classmethod
    def from_lines(cls, count: int, lines: Mapping[int, bytes]) -> PromptSet:
        """A sparse set: ``count`` prompts of which only ``lines`` (index → JSON line) are present."""
        held = dict(lines)

        def line(i: int) -> bytes:
            try:
                return held[i]
            except KeyError:
                raise IndexError(f"prompt {i} is not part of this share of the prompt set") from None

        def class_of(i: int) -> str:
            return PromptItem.model_validate_json(line(i)).prompt_class

        return cls(count, line, class_of, describe=f"{len(held)} of {count} held", known=held.keys)

    # --- the Sequence -----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> PromptItem: ...
    @overload
    def __getitem__(self, index: slice) -> PromptSet: ...
    def __getitem__(self, index: int | slice) -> PromptItem | PromptSet:
        if isinstance(index, slice):
            return self._slice(index)
        i = index + self._count if index < 0 else index
        if not 0 <= i < self._count:
            raise IndexError(f"prompt index {index} out of range ({self._count} prompts)")
        with self._lock:
            item = self._cache.get(i)
            if item is not None:
                self._cache.move_to_end(i)
                return item
        item = PromptItem.model_validate_json(self._line(i))
        with self._lock:
            self._cache[i] = item
            if len(self._cache) > _CACHE_ITEMS:
                self._cache.popitem(last=False)
        return item

    def __iter__(self) -> Iterator[PromptItem]:
        for i in range(self._count):
            yield self[i]

    def __repr__(self) -> str:
        return f"PromptSet({self._count} prompts, {self._describe})"

    def _slice(self, s: slice) -> PromptSet:
        picked = range(self._count)[s]
        if picked.step == 1 and picked.start == 0:  # a prefix (prompt_limit): the same lines, fewer of them
            return PromptSet(
                len(picked), self._line, self._class_of, describe=f"first {len(picked)}", file=self._file
            )
        return PromptSet(
            len(picked),
            lambda i: self._line(picked[i]),
            lambda i: self._class_of(picked[i]),
            describe=f"{len(picked)} picked",
        )

    # --- what the run needs -----------------------------------------------------------------------------
    def read_from(self, path: Path) -> None:
        """Read the lines from ``path`` from now on: a byte-for-byte copy of the file this set was loaded
        from (the run folder's ``prompts.jsonl``), so an edit of the original during the run changes
        nothing. A set that is not read from a file ignores it."""
        if self._file is not None:
            self._file.reopen(path)

    def line_number(self, index: int) -> int | None:
        """The 1-based line of prompt ``index`` in the file the set was read from (None for a set held in
        memory or a slice of one). Reads the file up to that line: for error messages, not hot paths."""
        if self._file is None or not 0 <= index < self._count:
            return None
        return self._file.line_number(index)

    def raw(self, index: int) -> bytes:
        """Prompt ``index`` as its JSON line (validated when the set was loaded)."""
        return self._line(index)

    def is_session(self, index: int) -> bool:
        """Whether prompt ``index`` is a multi-turn session (a line that never says ``"turns"`` is not
        parsed to tell)."""
        return b'"turns"' in self._line(index) and bool(self[index].turns)

    @property
    def classes(self) -> dict[str, int]:
        """Prompts per class (of the prompts held, for a sparse set)."""
        indices = self._known() if self._known is not None else range(self._count)
        return dict(Counter(self._class_of(i) for i in indices))

    def subset(self, indices: Iterable[int]) -> PromptSet:
        """The same set (same length, same indices) holding only these prompts' lines."""
        return PromptSet.from_lines(self._count, {i: self._line(i) for i in sorted(set(indices))})

    def lines(self, indices: Iterable[int] | None = None) -> dict[int, bytes]:
        """Index → JSON line, for ``indices`` (default: every prompt held)."""
        if indices is None:
            indices = self._known() if self._known is not None else range(self._count)
        return {i: self._line(i) for i in indices}


def as_prompt_set(prompts: Sequence[PromptItem]) -> PromptSet:
    """``prompts`` as a ``PromptSet`` (a plain list of items is copied into one)."""
    return prompts if isinstance(prompts, PromptSet) else PromptSet.from_items(prompts)


def _line_of(item: PromptItem) -> bytes:
    return item.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8")


class _FileLines:
    """Lines of a file by (offset, length), read with ``pread`` from one descriptor opened on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.starts = array("q")
        self.lengths = array("l")
        self.class_codes = array("H")
        self.class_names: list[str] = []
        self._codes: dict[str, int] = {}
        self.replaced: dict[int, bytes] = {}  # lines only the lenient path accepted, normalised
        self._fd: int | None = None

    def add(self, start: int, length: int, prompt_class: str) -> None:
        code = self._codes.get(prompt_class)
        if code is None:
            code = self._codes[prompt_class] = len(self.class_names)
            self.class_names.append(prompt_class)
        self.starts.append(start)
        self.lengths.append(length)
        self.class_codes.append(code)

    def reopen(self, path: Path) -> None:
        fd, self._fd, self.path = self._fd, None, path
        if fd is not None:
            os.close(fd)

    def line(self, i: int) -> bytes:
        if self.replaced and i in self.replaced:
            return self.replaced[i]
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        return os.pread(self._fd, self.lengths[i], self.starts[i])

    def class_of(self, i: int) -> str:
        return self.class_names[self.class_codes[i]]

    def line_number(self, i: int) -> int:
        start = self.starts[i]
        lines = 1
        with self.path.open("rb") as fh:
            while start > 0:
                block = fh.read(min(start, 1 << 20))
                if not block:
                    break
                lines += block.count(b"\n")
                start -= len(block)
        return lines

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)


def load_prompts(path: Path, shown: str | None = None) -> tuple[PromptSet, str, list[str]]:
    """Read a JSONL prompt set: (prompts, sha256 of the file, problems), streaming the file once.

    Blank lines and lines starting with ``//`` are skipped. Every problem is ``file:line: field: message``
    (at most :data:`MAX_PROMPT_PROBLEMS` of them, then a count of the rest).
    """
    shown = shown or display_path(path)
    store = _FileLines(path)
    sha = hashlib.sha256()
    problems: list[tuple[int, str]] = []
    more = 0
    id_hash = array("q")
    line_no = array("l")

    def problem(no: int, text: str) -> None:
        nonlocal more
        if len(problems) < MAX_PROMPT_PROBLEMS:
            problems.append((no, text))
        else:
            more += 1

    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return PromptSet.from_items(()), "", [f"{shown}:1: file not found"]
    except OSError as exc:
        return PromptSet.from_items(()), "", [f"{shown}:1: cannot read file: {exc}"]
    offset = 0
    with fh:
        for no, raw in enumerate(fh, start=1):
            sha.update(raw)
            start, offset = offset, offset + len(raw)
            body = raw.rstrip(b"\r\n") if raw.endswith(b"\n") else raw
            stripped = body.strip()
            if not stripped or stripped.startswith(b"//"):
                continue
            try:
                item = PromptItem.model_validate_json(body)
            except (ValidationError, ValueError):
                lenient = _lenient(body, shown, no, problem)
                if lenient is None:
                    continue
                item = lenient
                store.replaced[len(store.starts)] = _line_of(item)
            store.add(start, len(body), item.prompt_class)
            id_hash.append(hash(item.id))
            line_no.append(no)
    prompts = PromptSet(len(store.starts), store.line, store.class_of, describe=f"from {shown}", file=store)
    for first, dup in _duplicates(id_hash):
        pid = prompts[dup].id
        if prompts[first].id == pid:  # a hash match is checked on the ids themselves
            no = line_no[dup]
            problem(no, f"{shown}:{no}: id: duplicate prompt id {pid!r} (first on line {line_no[first]})")
    out = [text for _no, text in sorted(problems, key=lambda p: p[0])]
    if more:
        out.append(f"{shown}:{problems[-1][0]}: {more} more problems not shown")
    if not len(prompts) and not out:
        out.append(f"{shown}:1: prompt set is empty")
    return prompts, sha.hexdigest(), out


def _lenient(body: bytes, shown: str, no: int, problem: Callable[[int, str], None]) -> PromptItem | None:
    """The line the fast parser refused, read the forgiving way (the standard JSON parser, undecodable
    bytes replaced): the prompt if that accepts it, else every problem with its field."""
    line = body.decode("utf-8", errors="replace")
    try:
        data: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        problem(no, f"{shown}:{no}: invalid JSON: {exc.msg} (column {exc.colno})")
        return None
    except RecursionError:
        problem(no, f"{shown}:{no}: invalid JSON: nested too deeply")
        return None
    item, errs = validate_located(PromptItem, Located(shown, data, {(): no}))
    for e in errs:
        problem(no, e)
    return item if isinstance(item, PromptItem) else None


def _duplicates(hashes: array[int]) -> list[tuple[int, int]]:
    """(first index, later index) for every later entry whose hash an earlier one has."""
    order = sorted(range(len(hashes)), key=hashes.__getitem__)
    out = []
    first = -1
    for k, i in enumerate(order):
        if k and hashes[i] == hashes[order[k - 1]]:
            out.append((first, i))
        else:
            first = i
    return out
