"""README and docs/ name only commands and options that exist; the README's command table lists every
command with its required options."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from harness.cli import cli

ROOT = Path(__file__).resolve().parents[3]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_OPTION = re.compile(r"^\[?(--?[a-z][a-z0-9-]*)")


def _invocations(text: str) -> list[str]:
    """Every `bakeoff ...` in inline code, and every line of a fenced block that starts with bakeoff."""
    found = [m.group(1) for m in re.finditer(r"`(bakeoff(?: [^`]*)?)`", text)]
    in_block = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_block = not in_block
        elif in_block and line.strip().startswith("bakeoff"):
            found.append(line.split("#")[0].strip())
    return found


def _resolve(words: list[str]) -> tuple[click.Command | None, list[str], list[str]]:
    """(command named, its path, the words after it); None when the words name no command."""
    command: click.Command = cli
    path: list[str] = []
    for i, word in enumerate(words):
        sub = command.get_command(click.Context(command), word) if isinstance(command, click.Group) else None
        if sub is not None:
            command = sub
            path.append(word)
            continue
        if isinstance(command, click.Group) and re.fullmatch(r"[a-z][a-z-]*", word):
            return None, path, words[i:]  # a lowercase word where a subcommand belongs
        return command, path, words[i:]
    return command, path, []


def _options(command: click.Command) -> set[str]:
    declared = {o for p in command.params if isinstance(p, click.Option) for o in p.opts}
    return declared | set(cli.context_settings["help_option_names"])


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_documented_invocations_exist(doc: Path) -> None:
    problems = []
    for inv in _invocations(doc.read_text(encoding="utf-8")):
        command, path, rest = _resolve(inv.split()[1:])
        if command is None:
            problems.append(f"{inv!r}: no such command {rest[0]!r}")
            continue
        for word in rest:
            m = _OPTION.match(word)
            if m and m.group(1) not in _options(command):
                problems.append(f"{inv!r}: bakeoff {' '.join(path)} has no option {m.group(1)}")
    assert problems == []


def test_readme_table_lists_every_command_with_its_required_options() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| command | what it does |") :].split("\n\n")[0]
    rows: dict[str, str] = {}
    for inv in _invocations(table):
        command, path, _ = _resolve(inv.split()[1:])
        assert command is not None, inv
        rows[" ".join(path)] = inv
    ctx = click.Context(cli)
    commands = {name: cli.get_command(ctx, name) for name in cli.list_commands(ctx)}
    leaves = {
        f"{name} {sub}" if isinstance(cmd, click.Group) else name
        for name, cmd in commands.items()
        for sub in (cmd.commands if isinstance(cmd, click.Group) else [""])
    }
    assert set(rows) == leaves
    for name, inv in rows.items():
        command, _, _ = _resolve(name.split())
        assert command is not None
        required = [p.opts[-1] for p in command.params if isinstance(p, click.Option) and p.required]
        for opt in required:
            assert opt in inv.split(), f"README: {inv!r} omits the required {opt}"
