"""Prompt sets: every line validated with its file:line, prompts parsed only when used, compact to ship."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from harness.config import PromptItem, PromptSet, load_prompts
from harness.config._prompts import MAX_PROMPT_PROBLEMS


def line(i: int, cls: str = "chat", **extra: object) -> str:
    row = {"id": f"p{i}", "class": cls, "messages": [{"role": "user", "content": f"question {i}"}], **extra}
    return json.dumps(row)


def write(tmp_path: Path, lines: list[str], name: str = "p.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_prompts_are_parsed_when_used_and_keep_their_order(tmp_path: Path) -> None:
    path = write(tmp_path, [line(0), "", "// a comment", line(1, "code", max_tokens=9), line(2)])
    prompts, sha, problems = load_prompts(path)
    assert problems == [] and len(sha) == 64 and len(prompts) == 3
    assert prompts._cache == {}  # nothing parsed by loading
    assert [p.id for p in prompts] == ["p0", "p1", "p2"]
    assert prompts[1].max_tokens == 9 and prompts[-1].id == "p2"
    assert prompts[1] is prompts[1]  # cached
    assert prompts.classes == {"chat": 2, "code": 1}
    with pytest.raises(IndexError):
        prompts[3]


def test_every_problem_names_its_line_and_field(tmp_path: Path) -> None:
    bad = [
        line(0),
        "{not json",
        json.dumps({"id": "p2", "messages": []}),
        line(0),  # duplicate id
        json.dumps({"id": "p4", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}),
    ]
    _prompts, _sha, problems = load_prompts(write(tmp_path, bad), "P")
    assert problems[0].startswith("P:2: invalid JSON: ")
    assert problems[1].startswith("P:3: messages: ")
    assert problems[2] == "P:4: id: duplicate prompt id 'p0' (first on line 1)"
    assert problems[3].startswith("P:5: max_tokens: ")
    assert len(problems) == 4


def test_a_line_only_the_lenient_parser_accepts_is_kept_and_usable(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    # invalid UTF-8 inside a string: the fast parser refuses it, the lenient one replaces the byte
    path.write_bytes(
        b'{"id": "p0", "messages": [{"role": "user", "content": "caf\xe9"}]}\n' + line(1).encode()
    )
    prompts, _sha, problems = load_prompts(path)
    assert problems == [] and len(prompts) == 2
    assert prompts[0].messages[0].content == "caf\ufffd" and prompts[1].id == "p1"


def test_problems_are_capped_with_a_count_of_the_rest(tmp_path: Path) -> None:
    path = write(tmp_path, ["{"] * (MAX_PROMPT_PROBLEMS + 5))
    _prompts, _sha, problems = load_prompts(path, "P")
    assert len(problems) == MAX_PROMPT_PROBLEMS + 1
    assert problems[-1].endswith("5 more problems not shown")


def test_empty_and_missing_files(tmp_path: Path) -> None:
    assert load_prompts(write(tmp_path, ["", "// nothing"]), "P")[2] == ["P:1: prompt set is empty"]
    assert load_prompts(tmp_path / "nope.jsonl", "P")[2] == ["P:1: file not found"]


def test_prefix_subset_and_lines(tmp_path: Path) -> None:
    prompts, _sha, _ = load_prompts(
        write(tmp_path, [line(i, "chat" if i % 2 else "code") for i in range(10)])
    )
    first = prompts[:4]
    assert (
        isinstance(first, PromptSet) and len(first) == 4 and [p.id for p in first] == ["p0", "p1", "p2", "p3"]
    )
    assert first.classes == {"code": 2, "chat": 2}
    share = prompts.subset([7, 2, 7])
    assert len(share) == 10 and share[7].id == "p7" and share.classes == {"chat": 1, "code": 1}
    with pytest.raises(IndexError, match="not part of this share"):
        share[3]
    assert json.loads(share.lines()[2])["id"] == "p2"
    again = PromptSet.from_lines(len(share), share.lines())
    assert again[2] == prompts[2]


def test_read_from_a_copy_survives_an_edit_of_the_original(tmp_path: Path) -> None:
    original = write(tmp_path, [line(0), line(1)])
    prompts, _sha, _ = load_prompts(original)
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(original.read_bytes())
    prompts.read_from(copy)
    original.write_text(line(0).replace("question", "EDITED") + "\n", encoding="utf-8")
    assert prompts[1].messages[0].content == "question 1"


def test_from_items_round_trips() -> None:
    items = [PromptItem.model_validate(json.loads(line(i))) for i in range(3)]
    prompts = PromptSet.from_items(items)
    assert len(prompts) == 3 and list(prompts) == items
    assert PromptItem.model_validate_json(prompts.raw(2)) == items[2]


def test_a_large_set_holds_no_parsed_prompts(tmp_path: Path) -> None:
    """A million-line set needed gigabytes because every line stayed a PromptItem: now a set keeps where
    its lines are (about 30 bytes a prompt), whatever their size."""
    n = 20_000
    path = write(tmp_path, [line(i, system="You are a concise assistant. " * 4) for i in range(n)])
    tracemalloc.start()
    try:
        prompts, _sha, problems = load_prompts(path)
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problems == [] and len(prompts) == n
    assert held < 64 * n, held  # an item per line would be several kB each
