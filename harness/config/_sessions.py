"""Multi-turn sessions (sans-I/O): the request each turn of a session sends.

A session is a prompt line with ``turns``. Turn ``k`` (1-based) sends the session's system prompt, then for
every earlier turn its user message and an assistant answer, then turn ``k``'s user message. The answers
are the contender's own (``load.history: own``: the full text it streamed for that turn, cut at
:data:`HISTORY_ANSWER_CHARS`) or the replies written in the file (``history: recorded``: the same bytes
for every contender).

    item = prompts[i]                          # a line with "turns": [...]
    turn_count(item)                           # 10 (1 for a single request)
    session_turn(item, 3, ["hi!", "sure."])    # the request of turn 3, own answers of turns 1 and 2
    session_turn(item, 3, [None, None])        # ... with the recorded replies
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.config._models import Message, PromptItem

__all__ = ["EMPTY_ANSWER", "HISTORY_ANSWER_CHARS", "missing_replies", "session_turn", "turn_count"]

HISTORY_ANSWER_CHARS = 65_536
"""The longest own answer carried into the next turns (characters, about 16,000 tokens): the answer is
untrusted vendor output and the history is held in memory for the whole session; a longer answer is cut
there, and the cut is what the next turns send."""

EMPTY_ANSWER = "(no answer)"
"""What the history carries for a turn whose answer had no text (some vendors refuse an empty assistant
message)."""


def turn_count(item: PromptItem) -> int:
    """Requests the prompt makes: its turns for a session, else 1."""
    return len(item.turns) if item.turns else 1


def missing_replies(item: PromptItem) -> list[int]:
    """1-based turns of a session, but the last, that have no recorded reply (history: recorded needs
    them: they are the later turns' history)."""
    turns = item.turns or []
    return [k for k, t in enumerate(turns[:-1], start=1) if t.assistant is None]


def session_turn(item: PromptItem, turn: int, answers: Sequence[str | None]) -> PromptItem:
    """The single request of turn ``turn`` (1-based) of session ``item``.

    ``answers[j]`` is the assistant text of turn ``j + 1`` (None: the reply recorded in the file, or
    :data:`EMPTY_ANSWER` when there is none); it needs at least ``turn - 1`` entries. The request keeps the
    session's id, class, system prompt and options; ``max_tokens`` and ``check`` are the turn's (the
    session's ``max_tokens`` when the turn sets none). A prompt that is not a session is returned as it is.
    """
    if not item.turns:
        return item
    turns = item.turns
    if not 1 <= turn <= len(turns):
        raise ValueError(f"session {item.id} has {len(turns)} turns, not a turn {turn}")
    if len(answers) < turn - 1:
        raise ValueError(f"turn {turn} needs the answers of the {turn - 1} turns before it")
    messages: list[Message] = []
    for t, answer in zip(turns[: turn - 1], answers, strict=False):
        text = answer if answer is not None else t.assistant
        messages.append(Message(role="user", content=t.user))
        messages.append(Message(role="assistant", content=text or EMPTY_ANSWER))
    this = turns[turn - 1]
    messages.append(Message(role="user", content=this.user))
    return item.model_copy(
        update={
            "messages": messages,
            "turns": None,
            "max_tokens": this.max_tokens or item.max_tokens,
            "check": this.check,
        }
    )
