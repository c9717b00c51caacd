"""Benchmark of ``bakeoff prompts import`` and ``bakeoff prompts synth``.

    python -m harness.bench.prompts [--lines 100000] [--keep DIR]

Generates an OpenAI request log (one chat-completions body per line: a system message and a user
message of 5-400 words, three classes in ``metadata.class``), imports it as ``bakeoff prompts import``
does (validated, token-counted, written line by line) and prints lines/s; then times one synthesised
prompt per length tier (100, 1k, 10k, 100k tokens).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from pathlib import Path

__all__ = ["main"]

_WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "vendors", "stream", "fast")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench.prompts", description=__doc__)
    parser.add_argument("--lines", type=int, default=100_000, help="request-log lines to generate and import")
    parser.add_argument("--keep", type=Path, default=None, help="write the log and the prompt set here")
    args = parser.parse_args(argv)

    from harness.config import PromptItem, import_prompts, synth_prompts

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        log, out = folder / "requests.jsonl", folder / "requests.prompts.jsonl"
        rng = random.Random(1)
        with log.open("w", encoding="utf-8") as fh:
            for _ in range(args.lines):
                words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 400)))
                body = {
                    "model": "gpt-4o-mini",
                    "stream": True,
                    "messages": [
                        {"role": "system", "content": "You are helpful."},
                        {"role": "user", "content": words},
                    ],
                    "max_tokens": rng.choice([64, 256, 1024]),
                    "metadata": {"class": rng.choice(["chat", "summarise", "code"])},
                }
                fh.write(json.dumps(body) + "\n")
        size_mb = log.stat().st_size / 1e6
        t0 = time.perf_counter()
        with out.open("w", encoding="utf-8") as fh:

            def write(item: PromptItem) -> None:
                fh.write(item.model_dump_json(by_alias=True, exclude_none=True) + "\n")

            result = import_prompts(log, "openai-requests", sink=write)
        t_import = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"import: {result.count:,} prompts from {args.lines:,} lines ({size_mb:.0f} MB) in {t_import:.1f} s"
    )
    print(
        f"        {args.lines / t_import:,.0f} lines/s, {len(result.problems)} problems, "
        f"peak RSS {rss_mb:.0f} MB"
    )
    for n in (100, 1000, 10_000, 100_000):
        t0 = time.perf_counter()
        synth_prompts([n], [300], per_tier=1, seed=1)
        print(f"synth:  one {n:>7,}-token prompt in {time.perf_counter() - t0:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
