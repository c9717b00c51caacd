"""``bakeoff prompts``: make prompt sets (import a team's own traffic; synthesise length tiers)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from harness._errors import ConfigError
from harness._text import terminal_safe
from harness.cli._main import _errors_to_exit

if TYPE_CHECKING:
    from harness.config import PromptItem

__all__ = ["prompts"]

_FORMATS = ("openai-requests", "openai-batch", "sharegpt", "csv")
_MAX_SHOWN = 1000


@click.group("prompts", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def prompts() -> None:
    """Make prompt sets: import your own traffic, or build prompts at set token lengths."""


@prompts.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(_FORMATS),
    required=True,
    help="Source format. openai-requests: one chat-completions request body per line; openai-batch: "
    "an OpenAI Batch API input file; sharegpt: {id, conversations: [{from, value}]} as a JSON list "
    "or JSONL; csv: a 'prompt' column (optional id, class, max_tokens, system).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Prompt set to write (JSONL). Default: FILE's name with .prompts.jsonl, beside it.",
)
@click.option(
    "--class",
    "default_class",
    default="imported",
    show_default=True,
    help="Class of prompts whose source names none (a request's metadata.class and a CSV class column win).",
)
@click.option(
    "--first-turn-only",
    is_flag=True,
    help="ShareGPT: one prompt per conversation (its first human turn) instead of one per human turn.",
)
@click.option(
    "--sessions",
    is_flag=True,
    help="ShareGPT: each conversation becomes one multi-turn session (its gpt turns are the recorded "
    "replies, for load.history: recorded) instead of one prompt per human turn.",
)
@click.option(
    "--skip-bad",
    is_flag=True,
    help="Write the good prompts even when some lines are bad (each bad line is still listed, on stderr). "
    "Without it a bad line writes nothing and exits 2.",
)
@_errors_to_exit
def import_(
    file: Path,
    fmt: str,
    out: Path | None,
    default_class: str,
    first_turn_only: bool,
    sessions: bool,
    skip_bad: bool,
) -> None:
    """Convert FILE to a bakeoff prompt set and print a summary (prompts and token lengths per class).

    Every bad line is reported as file:line: field: message. Fields the prompt model does not carry
    (model, stream, n, stop, ...) are left out and counted in the summary.
    """
    from harness.config import import_prompts

    if sessions and (fmt != "sharegpt" or first_turn_only):
        raise ConfigError(["--sessions: only with --format sharegpt, and not with --first-turn-only"])
    target = out or file.with_name(file.name.split(".")[0] + ".prompts.jsonl")
    if target.resolve() == file.resolve():
        raise ConfigError([f"{target}: --out would overwrite the file being imported"])
    with _Writer(target) as sink:
        result = import_prompts(
            file,
            fmt,  # type: ignore[arg-type]  # one of the click choices
            default_class=default_class,
            first_turn_only=first_turn_only,
            sessions=sessions,
            sink=sink,
        )
        if result.problems and not (skip_bad and result.count):
            raise ConfigError(_capped(result.problems))  # the temporary file is removed
    for line in _capped(result.problems):
        click.echo(terminal_safe(line), err=True)
    head = f"wrote {result.count} prompts from {result.lines} source records to {target}"
    if result.problems:
        head += f" ({len(result.problems)} bad records skipped, listed above)"
    click.echo(terminal_safe(head))
    _summary(result.tokens)
    if result.ignored:
        left = ", ".join(f"{k} ({n})" for k, n in sorted(result.ignored.items()))
        click.echo(terminal_safe(f"fields left out: {left}"))


def _capped(problems: list[str]) -> list[str]:
    if len(problems) <= _MAX_SHOWN:
        return problems
    return [*problems[:_MAX_SHOWN], f"... and {len(problems) - _MAX_SHOWN} more problems"]


class _Writer:
    """Prompts written to a temporary file beside ``target``, renamed onto it only when the block ends
    without an exception: the set is written whole or not at all."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        self._fh: IO[str] | None = None

    def __enter__(self) -> Callable[[PromptItem], None]:
        try:
            self._fh = self.tmp.open("w", encoding="utf-8", newline="\n")
        except OSError as exc:
            raise ConfigError([f"{self.target}: cannot write: {exc.strerror or exc}"]) from None
        return self.write

    def write(self, item: PromptItem) -> None:
        assert self._fh is not None
        session = {"messages"} if item.turns else None  # a session line has turns, no messages
        self._fh.write(item.model_dump_json(by_alias=True, exclude_none=True, exclude=session))
        self._fh.write("\n")

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        assert self._fh is not None
        try:
            self._fh.close()
            if kind is None:
                self.tmp.replace(self.target)
        except OSError as err:
            raise ConfigError([f"{self.target}: cannot write: {err.strerror or err}"]) from None
        finally:
            self.tmp.unlink(missing_ok=True)


def _summary(tokens: dict[str, list[int]]) -> None:
    """A table: per class, prompts, min/median/max tokens, and how many fall in each length bucket."""
    from harness.config import HISTOGRAM_EDGES, length_histogram

    def k(n: int) -> str:
        return f"{n // 1024}k" if n >= 1024 else str(n)

    head = ["class", "prompts", "min", "median", "max", *(f"<={k(e)}" for e in HISTOGRAM_EDGES)]
    head.append(f">{k(HISTOGRAM_EDGES[-1])}")
    rows: list[list[Any]] = [head]
    for cls, h in length_histogram(tokens).items():
        rows.append([cls, h["prompts"], h["min"], h["median"], h["max"], *h["buckets"]])
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
    click.echo("prompt tokens (o200k_base, system + messages, no chat framing):")
    for r in rows:
        cells = [str(c).ljust(widths[0]) if i == 0 else str(c).rjust(widths[i]) for i, c in enumerate(r)]
        click.echo(terminal_safe("  " + "  ".join(cells)))


def _token_list(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    """``100,1k,10000`` → ``[100, 1000, 10000]`` (each a positive whole number; ``k`` is 1000)."""
    out = []
    for part in value.split(","):
        word = part.strip().lower()
        scale = 1000 if word.endswith("k") else 1
        try:
            n = int(word.removesuffix("k")) * scale
        except ValueError:
            raise click.BadParameter(f"{part.strip()!r} is not a token count (e.g. 100, 1k, 10000)") from None
        if not 1 <= n <= 1_000_000:
            raise click.BadParameter(f"{n} is out of range (1 to 1000000 tokens)")
        out.append(n)
    return out


@prompts.command("synth")
@click.option(
    "--in",
    "inputs",
    required=True,
    callback=_token_list,
    help="Input lengths in tokens, comma-separated (e.g. 100,1k,10k,100k): each prompt's user message "
    "is exactly this long in o200k_base tokens.",
)
@click.option(
    "--out-tokens",
    "outputs",
    required=True,
    callback=_token_list,
    help="Output lengths (max_tokens), comma-separated (e.g. 300,2000); every input length gets each.",
)
@click.option(
    "--per-tier",
    type=click.IntRange(1, 100_000),
    default=10,
    show_default=True,
    help="Prompts per (input, output) pair, each unique.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the prompts' texts and ids.")
@click.option(
    "--openai-framing",
    is_flag=True,
    help="Count the OpenAI chat framing too (6 tokens less text), so usage.prompt_tokens equals --in.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("length-tiers.jsonl"),
    show_default=True,
    help="Prompt set to write (JSONL).",
)
@_errors_to_exit
def synth(
    inputs: list[int], outputs: list[int], per_tier: int, seed: int, openai_framing: bool, out: Path
) -> None:
    """Build unique prompts at exact input lengths and set output lengths (standard length tiers).

    The text is the shipped public-domain corpus (Shakespeare) repeated as needed, behind a first line
    no other prompt shares, so no prompt cache serves one prompt from another. Each (input, output) pair
    is a class named after it, e.g. in10k-out300.
    """
    from harness.config import prompt_text_tokens, synth_prompts

    items = synth_prompts(inputs, outputs, per_tier=per_tier, seed=seed, framing=openai_framing)
    with _Writer(out) as sink:
        for item in items:
            sink(item)
    tokens: dict[str, list[int]] = {}
    for item in items:
        tokens.setdefault(item.prompt_class, []).append(prompt_text_tokens(item))
    click.echo(terminal_safe(f"wrote {len(items)} prompts in {len(tokens)} classes to {out}"))
    _summary(tokens)
