"""Build ``prompts/caching.jsonl`` from the public-domain text beside this file (deterministic).

Four single-turn prompts that share one long system prompt (instructions + the whole text, about 3,800
tokens) and differ only in the question: the shape prompt caching pays off on. The set is small on
purpose (each prompt carries the whole text); a run repeats it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "coriolanus-act1.txt"
TARGET = HERE.parent / "caching.jsonl"
INSTRUCTIONS = (
    "You are a careful literary assistant. Answer only from the play below, in plain sentences, and say "
    "so when the play does not tell."
)
QUESTIONS = (
    ("cache-q1", "Who speaks first in this scene, and what does the speaker ask the others?"),
    ("cache-q2", "What do the citizens want, and whom do they blame?"),
    ("cache-q3", "How does Menenius answer the citizens? Name the fable he tells."),
    ("cache-q4", "What news reaches Rome about the Volsces, and who brings it?"),
)


def system_prompt() -> str:
    """The shared system prompt: the instructions, then the whole text."""
    return f"{INSTRUCTIONS}\n\n<play>\n{SOURCE.read_text(encoding='utf-8').strip()}\n</play>"


def build() -> str:
    system = system_prompt()
    rows = [
        json.dumps(
            {
                "id": pid,
                "class": "shared-system",
                "system": system,
                "messages": [{"role": "user", "content": question}],
                "max_tokens": 120,
            },
            ensure_ascii=False,
        )
        for pid, question in QUESTIONS
    ]
    return "\n".join(rows) + "\n"


def main() -> int:
    TARGET.write_text(build(), encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
