"""Build ``prompts/sessions.jsonl`` from the public-domain text beside this file (deterministic).

Five 10-turn sessions of a reader studying the play with a tutor. All five share one system prompt of
exactly ``SYSTEM_TOKENS`` o200k_base tokens (``harness/tokens.py``): an instruction, then the text of
Act I inside ``<document>`` tags, topped up with its opening lines to reach the count. Every turn has a
short recorded reply (``assistant``), so the set runs with ``load.history`` own or recorded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "coriolanus-act1.txt"
TARGET = HERE.parent / "sessions.jsonl"
SYSTEM_TOKENS = 4000
MAX_TOKENS = 120
HEAD = (
    "You are a patient literary tutor. A reader is studying the opening of Shakespeare's Coriolanus with "
    "you, one question at a time. Answer from the document below only, in at most three sentences, and "
    "quote a line when it helps.\n\n<document>\n"
)
TAIL = "\n</document>"
PAD = " and"

# (session id, the character studied, recorded replies are short and factual)
SESSIONS = [
    ("menenius", "Menenius", "an old patrician the citizens trust, who tells them the fable of the belly"),
    ("marcius", "Marcius", "a proud soldier who scorns the citizens and is later named Coriolanus"),
    ("citizens", "the First Citizen", "the leader of the hungry crowd who calls Marcius the people's enemy"),
    ("tribunes", "Sicinius", "a tribune of the people, newly chosen, who distrusts Marcius"),
    ("aufidius", "Aufidius", "the general of the Volsces and Marcius's sworn rival"),
]
TURNS = [
    ("Who is {who} in this scene?", "{Who} is {what}."),
    ("What does {who} want at this point of the play?", "{Who} wants the quarrel to end on his own terms."),
    ("Quote one line spoken by {who}.", "One of his lines is about the state of Rome and its people."),
    ("How do the others answer {who}?", "They answer him with suspicion, and some with open mockery."),
    ("What does that tell us about Rome?", "Rome is divided between the patricians and the hungry plebeians."),
    ("Is {who} honest, in your reading?", "He believes what he says, though he speaks for his own side."),
    ("What changes when the news of the Volsces arrives?", "The quarrel is set aside and Rome turns to war."),
    ("How does {who} react to the war?", "He takes his place in it at once, as the scene requires."),
    ("Which image in the scene sums {who} up best?", "The body and its members: each part serving the whole."),
    ("Sum up {who} in one sentence.", "{Who} is {what}."),
]


def _system() -> str:
    """``HEAD + document + TAIL`` of exactly ``SYSTEM_TOKENS`` tokens: the act, then its opening lines
    again (cut at a word end) as far as the count needs, padded with a few words when no word end hits it."""
    sys.path.insert(0, str(HERE.parents[1]))
    from harness.tokens import count_tokens

    text = SOURCE.read_text(encoding="utf-8").strip()
    fill = text + "\n\n" + text
    ends = [q for q in range(len(text) + 2, len(fill)) if fill[q].isspace() and not fill[q - 1].isspace()]

    def at(q: int) -> int:
        return count_tokens(HEAD + fill[:q] + TAIL)

    lo, hi = 0, len(ends) - 1
    while lo < hi:  # the last word end whose count is at most the target
        mid = (lo + hi + 1) // 2
        if at(ends[mid]) <= SYSTEM_TOKENS:
            lo = mid
        else:
            hi = mid - 1
    body = fill[: ends[lo]]
    for pads in range(0, 16):
        out = HEAD + body + PAD * pads + TAIL
        if count_tokens(out) == SYSTEM_TOKENS:
            return out
    raise SystemExit(f"could not build a system prompt of exactly {SYSTEM_TOKENS} tokens")


def build() -> str:
    system = _system()
    rows = []
    for sid, who, what in SESSIONS:
        fill = {"who": who, "Who": who[0].upper() + who[1:], "what": what}
        turns = [{"user": q.format(**fill), "assistant": a.format(**fill)} for q, a in TURNS]
        row = {"id": f"session-{sid}", "class": "session", "system": system, "turns": turns}
        row["max_tokens"] = MAX_TOKENS
        rows.append(json.dumps(row, ensure_ascii=False))
    return "\n".join(rows) + "\n"


def main() -> int:
    TARGET.write_text(build(), encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
