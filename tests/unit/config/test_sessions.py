"""Multi-turn sessions (sans-I/O): the prompt-line format, the request each turn sends (turn order, the
history it carries, own vs recorded answers), the recorded-history check and the logical request count."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from harness import ConfigError
from harness.cli import cli
from harness.config import (
    EMPTY_ANSWER,
    LoadProfile,
    PromptItem,
    PromptSet,
    load_prompts,
    load_scenario,
    missing_replies,
    session_turn,
    turn_count,
)
from harness.load import ScheduledRequest, requests_per_contender

SESSION = {
    "id": "s1",
    "class": "session",
    "system": "You are terse.",
    "max_tokens": 50,
    "turns": [
        {"user": "first?", "assistant": "A1"},
        {"user": "second?", "assistant": "A2", "max_tokens": 7},
        {"user": "third?", "check": {"contains": "x"}},
    ],
}


def _session(**change: object) -> PromptItem:
    return PromptItem.model_validate({**SESSION, **change})


def _pairs(item: PromptItem) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in item.messages]


def test_each_turn_carries_the_conversation_so_far_in_order() -> None:
    s = _session()
    assert turn_count(s) == 3
    one = session_turn(s, 1, [])
    assert _pairs(one) == [("user", "first?")]
    own = session_turn(s, 3, ["mine 1", "mine 2"])
    assert _pairs(own) == [
        ("user", "first?"),
        ("assistant", "mine 1"),
        ("user", "second?"),
        ("assistant", "mine 2"),
        ("user", "third?"),
    ]
    recorded = session_turn(s, 3, [None, None])
    assert _pairs(recorded) == [
        ("user", "first?"),
        ("assistant", "A1"),
        ("user", "second?"),
        ("assistant", "A2"),
        ("user", "third?"),
    ]
    for turn in (one, own, recorded):  # the session's own fields go with every turn
        assert (turn.id, turn.prompt_class, turn.system, turn.turns) == (
            "s1",
            "session",
            "You are terse.",
            None,
        )


def test_a_turn_takes_its_own_budget_and_check_else_the_sessions() -> None:
    s = _session()
    assert [session_turn(s, k, [None] * (k - 1)).max_tokens for k in (1, 2, 3)] == [50, 7, 50]
    checks = [session_turn(s, k, [None] * (k - 1)).check for k in (1, 2, 3)]
    assert checks[0] is None and checks[1] is None
    assert checks[2] is not None and checks[2].contains == "x"


def test_an_empty_answer_or_a_missing_reply_is_carried_as_a_placeholder() -> None:
    s = _session()
    assert session_turn(s, 2, [""]).messages[1].content == EMPTY_ANSWER == "(no answer)"
    no_reply = _session(turns=[{"user": "a"}, {"user": "b"}])
    assert session_turn(no_reply, 2, [None]).messages[1].content == "(no answer)"


def test_a_turn_outside_the_session_or_without_its_history_is_refused() -> None:
    s = _session()
    with pytest.raises(ValueError, match="has 3 turns, not a turn 4"):
        session_turn(s, 4, [None] * 3)
    with pytest.raises(ValueError, match="needs the answers of the 2 turns"):
        session_turn(s, 3, ["only one"])


def test_a_single_request_is_one_turn_and_passes_through() -> None:
    p = PromptItem.model_validate({"id": "p", "messages": [{"role": "user", "content": "hi"}]})
    assert turn_count(p) == 1
    assert session_turn(p, 1, []) is p


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "either messages"),
        ({"turns": None}, "Field required \\(or turns"),
        ({"turns": []}, "at least 1 item"),
        ({"check": {"contains": "a"}}, "a session's checks go on its turns"),
        ({"turns": [{"user": ""}]}, "at least 1 character"),
        ({"turns": [{"user": "a", "assistant": ""}]}, "at least 1 character"),
        ({"turns": [{"user": "a", "max_tokens": 0}]}, "greater than or equal to 1"),
        ({"turns": [{"user": "a", "reply": "b"}]}, "Extra inputs are not permitted"),
        ({"turns": [{"user": str(k)} for k in range(101)]}, "at most 100 items"),
    ],
)
def test_bad_sessions_are_refused_by_the_loader_and_the_schema(
    change: dict[str, object], message: str
) -> None:
    data = {**SESSION, **change}
    with pytest.raises(ValidationError, match=message):
        PromptItem.model_validate(data)
    res = CliRunner().invoke(cli, ["schema", "--kind", "prompt"])
    schema = json.loads(res.output)
    assert not jsonschema.Draft202012Validator(schema).is_valid(data)
    assert jsonschema.Draft202012Validator(schema).is_valid(SESSION)


def test_a_bad_turn_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    good = json.dumps(SESSION)
    bad = json.dumps({**SESSION, "id": "s2", "turns": [{"user": "a", "asistant": "typo"}]})
    path.write_text(f"{good}\n\n{bad}\n")
    prompts, _sha, problems = load_prompts(path)
    assert len(prompts) == 1 and prompts[0].turns is not None
    assert len(problems) == 1
    assert problems[0].endswith("p.jsonl:3: turns[0].asistant: unknown key (did you mean 'assistant'?)")


SCENARIO = """\
name: t
prompts: p.jsonl
endpoints: [{name: a, dialect: openai-chat, sim: fast, model: m}]
contenders: [{name: c, primary: a}]
load: {history: HISTORY}
"""


def _scenario(tmp_path: Path, history: str, lines: list[dict[str, object]]) -> Path:
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(SCENARIO).replace("HISTORY", history))
    return path


def test_recorded_history_needs_every_reply_but_the_last(tmp_path: Path) -> None:
    complete = {**SESSION, "id": "ok"}  # the last turn needs no reply: nothing comes after it
    gap = {**SESSION, "id": "gap", "turns": [{"user": "a"}, {"user": "b", "assistant": "B"}, {"user": "c"}]}
    single = {"id": "one", "messages": [{"role": "user", "content": "hi"}]}
    assert missing_replies(PromptItem.model_validate(complete)) == []
    assert missing_replies(PromptItem.model_validate(gap)) == [1]
    path = _scenario(tmp_path, "recorded", [single, complete, gap])
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert [p.split("p.jsonl", 1)[1] for p in info.value.problems] == [
        ":3: turns: load.history is recorded, but turn(s) 1 of session 'gap' have no recorded reply "
        "(assistant)"
    ]
    # the same set is fine with the contender's own answers
    assert load_scenario(_scenario(tmp_path, "own", [single, complete, gap])).scenario.load.history == "own"


def test_history_is_own_by_default_and_only_own_or_recorded() -> None:
    assert LoadProfile().history == "own"
    with pytest.raises(ValidationError, match="'own' or 'recorded'"):
        LoadProfile.model_validate({"history": "mixed"})


def test_a_scheduled_session_counts_one_logical_request_per_turn() -> None:
    single = PromptItem.model_validate({"id": "p", "messages": [{"role": "user", "content": "hi"}]})
    prompts = PromptSet.from_items([single, _session()])
    schedule = [ScheduledRequest(0, 0.0, 1), ScheduledRequest(1, 0.5, 0), ScheduledRequest(2, 1.0, 1)]
    assert requests_per_contender(schedule, prompts) == 3 + 1 + 3
    assert requests_per_contender([], prompts) == 0


def test_the_shipped_sessions_share_a_4000_token_system_prompt() -> None:
    from harness.tokens import count_tokens

    root = Path(__file__).resolve().parents[3]
    prompts, _sha, problems = load_prompts(root / "prompts" / "sessions.jsonl")
    assert problems == []
    assert len(prompts) >= 4
    systems = {p.system for p in prompts}
    assert len(systems) == 1
    assert count_tokens(systems.pop() or "") == 4000
    assert all(turn_count(p) == 10 and missing_replies(p) == [] for p in prompts)
