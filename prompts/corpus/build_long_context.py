"""Build ``prompts/long-context.jsonl`` from the public-domain text beside this file (deterministic)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "coriolanus-act1.txt"
TARGET = HERE.parent / "long-context.jsonl"
SYSTEM = "You are a careful literary assistant. Answer only from the document you are given."
NEEDLE = "(Archivist's note: the storage code for this scroll is {code}.)"


def _lines() -> list[str]:
    return SOURCE.read_text(encoding="utf-8").splitlines()


def _slice(lines: list[str], chars: int) -> str:
    """The first whole speeches that fit in about ``chars`` characters (about 4 characters a token)."""
    out: list[str] = []
    size = 0
    for line in lines:
        if size >= chars and not line.strip():
            break
        out.append(line)
        size += len(line) + 1
    return "\n".join(out).strip()


def _with_needle(lines: list[str], fraction: float, code: str) -> str:
    at = int(len(lines) * fraction)
    while at < len(lines) and lines[at].strip():  # plant it between two speeches
        at += 1
    return "\n".join([*lines[:at], "", NEEDLE.format(code=code), *lines[at:]]).strip()


def _item(pid: str, cls: str, document: str, question: str, max_tokens: int, **extra: object) -> str:
    content = f"<document>\n{document}\n</document>\n\n{question}"
    row = {
        "id": pid,
        "class": cls,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        **extra,
    }
    return json.dumps(row, ensure_ascii=False)


def build() -> str:
    lines = _lines()
    whole = "\n".join(lines).strip()
    rows = [
        _item(
            f"lc-{k}k",
            "long-context",
            _slice(lines, 4000 * k),
            "Summarise in three sentences what the citizens want and how Menenius answers them.",
            160,
        )
        for k in (1, 2)
    ]
    rows.append(
        _item(
            "lc-4k",
            "long-context",
            whole,
            "List every named character who speaks in this document, one per line.",
            200,
        )
    )
    for pct, code in ((25, "AMBER-7731"), (50, "COBALT-2209"), (75, "SAFFRON-4416")):
        rows.append(
            _item(
                f"lc-needle-{pct}",
                "long-context-needle",
                _with_needle(lines, pct / 100, code),
                "What is the storage code in the archivist's note? Answer with the code only.",
                24,
                check={"contains": code},
            )
        )
    rows.append(
        _item(
            "lc-8k-two-copies",
            "long-context",
            f"Copy A:\n{whole}\n\nCopy B:\n{whole}",
            "The document holds two copies of the same scene. Are they identical? Answer yes or no, "
            "then give one sentence of evidence.",
            80,
        )
    )
    return "\n".join(rows) + "\n"


def main() -> int:
    TARGET.write_text(build(), encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
