"""``bakeoff prompts import``: each source format becomes a prompt set the loader accepts, with the
fields the team relies on kept, and every bad line named as file:line: field: message (exit 2, nothing
written; ``--skip-bad`` writes the good ones and still lists the bad)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from harness.cli import cli
from harness.config import load_prompts
from harness.tokens import count_tokens


def bakeoff(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="bakeoff")


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "answer", "schema": {"type": "object", "required": ["n"]}, "strict": True},
}


def test_request_log_keeps_classes_budgets_tools_and_response_format(tmp_path: Path) -> None:
    src = _write(
        tmp_path / "log.jsonl",
        [
            {
                "model": "gpt-4o",
                "stream": True,
                "messages": [
                    {"role": "developer", "content": "Be brief."},
                    {
                        "role": "user",
                        "content": [{"type": "text", "text": "What is "}, {"type": "text", "text": "2+2?"}],
                    },
                ],
                "max_completion_tokens": 40,
                "metadata": {"class": "math"},
                "response_format": SCHEMA_FORMAT,
            },
            {
                "model": "gpt-4o",
                "messages": [
                    {"role": "user", "content": "Weather in Oslo?"},
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "c1",
                                "type": "function",
                                "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                            }
                        ],
                    },
                    {"role": "tool", "tool_call_id": "c1", "content": "5 C"},
                ],
                "tools": TOOLS,
                "max_tokens": 99,
                "temperature": 0.5,
                "seed": 7,
            },
        ],
    )
    out = tmp_path / "set.jsonl"
    res = bakeoff(
        "prompts", "import", str(src), "--format", "openai-requests", "--out", str(out), "--class", "prod"
    )
    assert res.exit_code == 0, res.output
    first, second = _lines(out)
    assert first == {
        "id": "request-1",
        "class": "math",
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "What is 2+2?"}],
        "max_tokens": 40,
        "response_format": SCHEMA_FORMAT,
    }
    assert second["class"] == "prod" and second["max_tokens"] == 99 and second["tools"] == TOOLS
    assert (second["temperature"], second["seed"]) == (0.5, 7)
    assert second["messages"][1]["tool_calls"] == [
        {"id": "c1", "name": "weather", "arguments": {"city": "Oslo"}}
    ]
    assert second["messages"][2] == {"role": "tool", "content": "5 C", "tool_call_id": "c1"}
    prompts, _sha, problems = load_prompts(out)
    assert problems == [] and len(prompts) == 2
    # the summary: both classes with their token lengths, and the fields left out named with counts
    math_tokens = count_tokens("Be brief.") + count_tokens("What is 2+2?")
    math_row = next(line.split() for line in res.output.splitlines() if line.strip().startswith("math"))
    assert math_row[:5] == ["math", "1", str(math_tokens), str(math_tokens), str(math_tokens)]
    assert math_row[5] == "1"  # in the <=128 bucket
    assert "fields left out: model (2), stream (1)" in res.output


def test_bad_lines_are_named_and_nothing_is_written(tmp_path: Path) -> None:
    src = tmp_path / "log.jsonl"
    src.write_text(
        json.dumps({"messages": [{"role": "user", "content": "fine"}]})
        + "\n{not json\n"
        + json.dumps({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]})
        + "\n"
        + json.dumps({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0})
        + "\n"
        + json.dumps({"messages": []})
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "set.jsonl"
    res = bakeoff("prompts", "import", str(src), "--format", "openai-requests", "--out", str(out))
    assert res.exit_code == 2
    errors = res.stderr.splitlines()
    assert errors[0].endswith(
        "log.jsonl:2: invalid JSON: Expecting property name enclosed in double quotes (column 2)"
    )
    assert errors[1].endswith(
        "log.jsonl:3: messages[0].content[0]: only text parts can be imported (got 'image_url')"
    )
    assert "log.jsonl:4: max_tokens: " in errors[2]
    assert errors[3].endswith("log.jsonl:5: messages: required: a non-empty list of messages")
    assert len(errors) == 4
    assert not out.exists() and list(tmp_path.iterdir()) == [src]  # no temporary file left either

    res = bakeoff(
        "prompts", "import", str(src), "--format", "openai-requests", "--out", str(out), "--skip-bad"
    )
    assert res.exit_code == 0
    assert len(res.stderr.splitlines()) == 4  # still listed
    assert "wrote 1 prompts from 5 source records" in res.stdout and "4 bad records skipped" in res.stdout
    assert [p["id"] for p in _lines(out)] == ["request-1"]


def test_batch_file_uses_custom_ids_and_refuses_other_endpoints(tmp_path: Path) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 12}
    src = _write(
        tmp_path / "batch.jsonl",
        [
            {"custom_id": "req-1", "method": "POST", "url": "/v1/chat/completions", "body": body},
            {"custom_id": "req 2/a", "method": "POST", "url": "/v1/chat/completions", "body": body},
            {"custom_id": "emb-1", "method": "POST", "url": "/v1/embeddings", "body": {"input": "x"}},
            {"custom_id": "req-1", "method": "POST", "url": "/v1/chat/completions", "body": body},
        ],
    )
    out = tmp_path / "set.jsonl"
    res = bakeoff("prompts", "import", str(src), "--format", "openai-batch", "--out", str(out), "--skip-bad")
    assert res.exit_code == 0, res.output
    assert [(p["id"], p["max_tokens"]) for p in _lines(out)] == [("req-1", 12), ("req_2_a", 12)]
    errors = res.stderr.splitlines()
    assert errors[0].endswith(
        "batch.jsonl:3: url: only /v1/chat/completions lines can be imported (got '/v1/embeddings')"
    )
    assert errors[1].endswith("batch.jsonl:4: id: duplicate prompt id 'req-1' (first on line 1)")


def test_sharegpt_list_gives_one_prompt_per_human_turn_with_its_history(tmp_path: Path) -> None:
    conversations = [
        {
            "id": "c1",
            "conversations": [
                {"from": "system", "value": "You are terse."},
                {"from": "human", "value": "Hi"},
                {"from": "gpt", "value": "Hello."},
                {"from": "human", "value": "Bye"},
                {"from": "gpt", "value": "Bye."},
            ],
        },
        {"id": "c2", "conversations": [{"from": "robot", "value": "?"}]},
    ]
    src = tmp_path / "sg.json"
    src.write_text(json.dumps(conversations, indent=2), encoding="utf-8")
    out = tmp_path / "set.jsonl"
    res = bakeoff("prompts", "import", str(src), "--format", "sharegpt", "--out", str(out), "--skip-bad")
    assert res.exit_code == 0, res.output
    rows = _lines(out)
    assert [r["id"] for r in rows] == ["c1-t1", "c1-t2"]
    assert rows[0]["system"] == "You are terse." and rows[0]["messages"] == [
        {"role": "user", "content": "Hi"}
    ]
    assert rows[1]["messages"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Bye"},
    ]
    # the second conversation starts on line 14 of the indented list (json.dumps indent=2: 12 lines for c1)
    start = json.dumps(conversations, indent=2).splitlines().index("  {", 2) + 1
    assert res.stderr.strip().endswith(
        f"sg.json:{start}: conversations[0].from: expected human, gpt or system, got 'robot'"
    )

    res = bakeoff(
        "prompts",
        "import",
        str(src),
        "--format",
        "sharegpt",
        "--out",
        str(out),
        "--skip-bad",
        "--first-turn-only",
    )
    assert [r["id"] for r in _lines(out)] == ["c1-t1"]


def test_csv_columns_and_bad_rows(tmp_path: Path) -> None:
    src = tmp_path / "p.csv"
    src.write_text(
        "id,class,prompt,max_tokens,system\n"
        'a,chat,"Hello, world",30,Be kind.\n'
        ',,"two\nlines",,\n'
        "c,chat,third,lots,\n",
        encoding="utf-8",
    )
    out = tmp_path / "set.jsonl"
    res = bakeoff("prompts", "import", str(src), "--format", "csv", "--out", str(out))
    assert res.exit_code == 2
    assert res.stderr.strip().endswith("p.csv:5: max_tokens: expected a whole number, got 'lots'")
    res = bakeoff("prompts", "import", str(src), "--format", "csv", "--out", str(out), "--skip-bad")
    assert _lines(out) == [
        {
            "id": "a",
            "class": "chat",
            "system": "Be kind.",
            "messages": [{"role": "user", "content": "Hello, world"}],
            "max_tokens": 30,
        },
        {
            "id": "row-3",
            "class": "imported",
            "messages": [{"role": "user", "content": "two\nlines"}],
            "max_tokens": 256,
        },
    ]
    nohead = tmp_path / "q.csv"
    nohead.write_text("text\nhello\n", encoding="utf-8")
    res = bakeoff("prompts", "import", str(nohead), "--format", "csv")
    assert res.exit_code == 2 and res.stderr.strip().endswith(
        "q.csv:1: a CSV needs a 'prompt' column (found: text)"
    )


def test_sharegpt_jsonl_an_empty_file_and_an_out_onto_the_source(tmp_path: Path) -> None:
    src = _write(
        tmp_path / "sg.jsonl",
        [
            {
                "id": "x/1",
                "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}],
            },
            {"id": "x/2", "conversations": [{"from": "gpt", "value": "I start"}]},
        ],
    )
    out = tmp_path / "set.jsonl"
    res = bakeoff("prompts", "import", str(src), "--format", "sharegpt", "--out", str(out))
    assert res.exit_code == 2
    assert res.stderr.strip().endswith("sg.jsonl:2: conversations: no human turn: nothing to send")
    res = bakeoff("prompts", "import", str(src), "--format", "sharegpt", "--out", str(out), "--skip-bad")
    assert [r["id"] for r in _lines(out)] == ["x_1-t1"]

    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n// nothing here\n", encoding="utf-8")
    res = bakeoff("prompts", "import", str(empty), "--format", "openai-requests", "--skip-bad")
    assert res.exit_code == 2 and res.stderr.strip().endswith("empty.jsonl:1: no prompts in the file")

    res = bakeoff("prompts", "import", str(src), "--format", "sharegpt", "--out", str(src))
    assert res.exit_code == 2 and "--out would overwrite the file being imported" in res.stderr
    assert len(src.read_text(encoding="utf-8").splitlines()) == 2  # untouched


def test_sharegpt_sessions_become_one_session_per_conversation(tmp_path: Path) -> None:
    conversations = [
        {
            "id": "c1",
            "conversations": [
                {"from": "system", "value": "Be brief."},
                {"from": "human", "value": "Hi"},
                {"from": "gpt", "value": "Hello!"},
                {"from": "human", "value": "And then?"},
                {"from": "gpt", "value": "Then this."},
                {"from": "human", "value": "Thanks"},
            ],
        },
        {"id": "c2", "conversations": [{"from": "gpt", "value": "I speak first"}]},
        {
            "id": "c3",
            "conversations": [
                {"from": "human", "value": "a"},
                {"from": "gpt", "value": "b"},
                {"from": "gpt", "value": "c"},
            ],
        },
    ]
    src = _write(tmp_path / "sg.jsonl", conversations)
    out = tmp_path / "set.jsonl"
    res = bakeoff("prompts", "import", str(src), "--format", "sharegpt", "--sessions", "--out", str(out))
    assert res.exit_code == 2 and not out.exists()
    assert res.stderr.strip().splitlines() == [
        f"{src}:2: conversations[0].from: a gpt turn before any human turn: a session starts with the user",
        f"{src}:3: conversations[2].from: two gpt turns in a row: a turn has one recorded reply",
    ]
    res = bakeoff(
        "prompts", "import", str(src), "--format", "sharegpt", "--sessions", "--out", str(out), "--skip-bad"
    )
    assert res.exit_code == 0, res.output
    assert _lines(out) == [
        {
            "id": "c1",
            "class": "imported",
            "system": "Be brief.",
            "turns": [
                {"user": "Hi", "assistant": "Hello!"},
                {"user": "And then?", "assistant": "Then this."},
                {"user": "Thanks"},
            ],
            "max_tokens": 256,
        }
    ]
    prompts, _sha, problems = load_prompts(out)
    assert problems == [] and [t.user for t in prompts[0].turns or ()] == ["Hi", "And then?", "Thanks"]
    # the summary counts the whole conversation: system, every user message and recorded reply
    words = ["Be brief.", "Hi", "Hello!", "And then?", "Then this.", "Thanks"]
    assert f"imported        1 {sum(map(count_tokens, words)):>4}" in res.output


def test_sessions_is_for_sharegpt_only(tmp_path: Path) -> None:
    src = _write(tmp_path / "log.jsonl", [{"messages": [{"role": "user", "content": "hi"}]}])
    res = bakeoff("prompts", "import", str(src), "--format", "openai-requests", "--sessions")
    assert res.exit_code == 2
    assert "--sessions: only with --format sharegpt" in res.stderr
