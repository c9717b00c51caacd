"""Tool calls in prompt files: an assistant message may carry ``tool_calls``; a misuse names its line
and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from harness.config import Message, load_prompts
from harness.config._models import ToolCall

CALL = {"id": "call_1", "name": "get_weather", "arguments": {"city": "Lisbon"}}


def load(tmp_path: Path, *messages: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Write one prompt per message list (line n = the n-th list); (ids loaded, problems with file as P)."""
    path = tmp_path / "p.jsonl"
    path.write_text(
        "".join(json.dumps({"id": f"p{n}", "messages": m}) + "\n" for n, m in enumerate(messages, 1))
    )
    items, _, problems = load_prompts(path, "P")
    return [i.id for i in items], problems


def test_second_leg_loads(tmp_path: Path) -> None:
    ids, problems = load(
        tmp_path,
        [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": "21 C"},
        ],
        [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": "21 C"},
        ],
    )
    assert (ids, problems) == (["p1", "p2"], [])


def test_call_only_message_has_empty_content() -> None:
    m = Message.model_validate({"role": "assistant", "tool_calls": [CALL]})
    assert m.content == ""
    assert m.tool_calls == [ToolCall(id="call_1", name="get_weather", arguments={"city": "Lisbon"})]


def test_tool_calls_on_a_user_message_name_line_and_field(tmp_path: Path) -> None:
    _, problems = load(
        tmp_path,
        [{"role": "user", "content": "hi"}],
        [{"role": "user", "content": "hi"}, {"role": "user", "content": "x", "tool_calls": [CALL]}],
    )
    assert problems == [
        "P:2: messages[1].tool_calls: only an assistant message can carry tool_calls "
        "(this one is a user message)"
    ]


def test_tool_message_without_tool_call_id_names_line_and_field(tmp_path: Path) -> None:
    _, problems = load(
        tmp_path,
        [{"role": "user", "content": "hi"}, {"role": "tool", "content": "21 C"}],
        [{"role": "user", "content": "hi"}, {"role": "tool", "content": "21 C", "tool_call_id": ""}],
    )
    needs = "messages[1].tool_call_id: a tool message needs tool_call_id: the id of the tool call it answers"
    assert problems == [f"P:1: {needs}", f"P:2: {needs}"]


def test_content_is_required_unless_the_message_calls_tools(tmp_path: Path) -> None:
    _, problems = load(
        tmp_path,
        [{"role": "user"}],
        [{"role": "assistant"}],
        [{"role": "assistant", "tool_calls": []}],
        [{"role": "assistant", "tool_calls": None}],
    )
    assert problems == [
        "P:1: messages[0].content: required field missing",
        "P:2: messages[0].content: required field missing",
        "P:3: messages[0].content: required field missing",
        "P:3: messages[0].tool_calls: List should have at least 1 item after validation, not 0",
        "P:4: messages[0].content: required field missing",
    ]


def test_a_missing_content_is_reported_with_the_other_problems_of_the_message(tmp_path: Path) -> None:
    _, problems = load(tmp_path, [{"role": "robot", "tool_call_id": 3}])
    assert problems == [
        "P:1: messages[0].role: Input should be 'system', 'user', 'assistant' or 'tool'",
        "P:1: messages[0].content: required field missing",
        "P:1: messages[0].tool_call_id: Input should be a valid string (got 3)",
    ]


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (
            {"id": "c", "name": "f", "arguments": '{"city": "Lisbon"}'},
            "arguments: arguments is a JSON object, not a string of JSON",
        ),
        ({"id": "c", "name": "f"}, "arguments: required field missing"),
        ({"id": "", "name": "f", "arguments": {}}, "id: String should have at least 1 character"),
        ({"id": "c", "name": "f", "arguments": {}, "type": "function"}, "type: unknown key"),
    ],
)
def test_bad_tool_calls_name_their_field(tmp_path: Path, call: dict[str, Any], problem: str) -> None:
    _, problems = load(tmp_path, [{"role": "assistant", "tool_calls": [call]}])
    assert len(problems) == 1
    assert problems[0].startswith(f"P:1: messages[0].tool_calls[0].{problem}")


def test_python_construction_checks_the_same_rules() -> None:
    with pytest.raises(ValidationError, match="only an assistant message can carry tool_calls"):
        Message(
            role="tool", tool_call_id="c", content="x", tool_calls=[ToolCall(id="c", name="f", arguments={})]
        )
    with pytest.raises(ValidationError, match="a tool message needs tool_call_id"):
        Message(role="tool", content="x")
    with pytest.raises(ValidationError, match="content"):
        Message(role="user")  # type: ignore[call-arg]
