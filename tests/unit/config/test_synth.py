"""Length tiers: every prompt is exactly its tier's length in the offline tokenizer, asks for its
tier's output length, comes from the shipped corpus, and shares no cacheable prefix with another."""

from __future__ import annotations

import itertools
from pathlib import Path

from click.testing import CliRunner

from harness.cli import cli
from harness.config import load_prompts, synth_prompts
from harness.tokens import count_tokens, encode

CORPUS = Path(__file__).resolve().parents[3] / "prompts" / "corpus" / "coriolanus-act1.txt"


def test_each_prompt_is_exactly_its_tier_and_asks_for_its_output_length() -> None:
    items = synth_prompts([100, 1000, 100_000], [300, 2000], per_tier=3, seed=5)
    assert len(items) == 3 * 2 * 3
    expected = [
        (cls, n_in, n_out)
        for cls, n_in, n_out in [
            ("in100-out300", 100, 300),
            ("in100-out2k", 100, 2000),
            ("in1k-out300", 1000, 300),
            ("in1k-out2k", 1000, 2000),
            ("in100k-out300", 100_000, 300),
            ("in100k-out2k", 100_000, 2000),
        ]
        for _ in range(3)
    ]
    got = [(p.prompt_class, count_tokens(p.messages[0].content), p.max_tokens) for p in items]
    assert got == expected
    assert all(p.system is None and len(p.messages) == 1 and p.messages[0].role == "user" for p in items)
    assert len({p.id for p in items}) == len(items)


def test_the_text_is_the_shipped_corpus() -> None:
    corpus = set(CORPUS.read_text(encoding="utf-8").splitlines())
    (item,) = synth_prompts([10_000], [300], per_tier=1, seed=1)
    lines = item.messages[0].content.splitlines()
    body = lines[lines.index("<document>") + 1 : lines.index("</document>") - 1]
    assert len(body) > 500 and sum(line in corpus for line in body) / len(body) > 0.99


def test_no_two_prompts_share_a_cacheable_prefix() -> None:
    # prefix caches match whole blocks from the first token (vLLM 16 tokens, OpenAI 1024): no two
    # prompts, of one tier or across tiers and seeds, may agree on even their first 8 tokens
    items = [
        *synth_prompts([1000], [300], per_tier=20, seed=1),
        *synth_prompts([1000], [300], per_tier=5, seed=2),
    ]
    heads = [tuple(encode(p.messages[0].content)[:8]) for p in items]
    assert len(set(heads)) == len(heads)
    for a, b in itertools.combinations(items, 2):
        assert a.messages[0].content != b.messages[0].content


def test_seeded_and_openai_framing_counts_the_chat_overhead() -> None:
    a = synth_prompts([1000], [300], per_tier=2, seed=9)
    assert a == synth_prompts([1000], [300], per_tier=2, seed=9)
    framed = synth_prompts([1000], [300], per_tier=2, seed=9, framing=True)
    # OpenAI's cookbook: 3 tokens per message and 3 priming the reply, so one user message adds 6
    assert [count_tokens(p.messages[0].content) + 3 + 3 for p in framed] == [1000, 1000]


def test_cli_writes_a_prompt_set_the_loader_accepts(tmp_path: Path) -> None:
    out = tmp_path / "tiers.jsonl"
    res = CliRunner().invoke(
        cli,
        ["prompts", "synth", "--in", "100,1k", "--out-tokens", "300", "--per-tier", "4", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    prompts, _sha, problems = load_prompts(out)
    assert problems == [] and prompts.classes == {"in100-out300": 4, "in1k-out300": 4}
    assert "wrote 8 prompts in 2 classes" in res.output
    bad = CliRunner().invoke(
        cli, ["prompts", "synth", "--in", "20", "--out-tokens", "300", "--out", str(out)]
    )
    assert bad.exit_code == 2 and "--in: 20 tokens is too short" in bad.stderr
