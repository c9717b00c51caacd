"""Every ``bakeoff`` command, walked from the click group: its ``--help`` works, reads as user help
(no reST double backticks, no Python module names) and every option explains itself."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from harness.cli import cli


def _walk(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found: list[tuple[tuple[str, ...], click.Command]] = []
    for name in sorted(group.commands):
        command = group.commands[name]
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found.extend(_walk(command, (*path, name)))
    return found


COMMANDS = _walk(cli)
IDS = [" ".join(path) for path, _ in COMMANDS]


def test_the_walk_sees_every_command() -> None:
    assert set(IDS) >= {
        *("run", "validate", "schema", "report", "gate", "compare", "probe"),
        *("repro", "repro export", "repro verify", "replay", "worker", "sim", "proxy"),
    }


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_works_and_reads_as_user_help(path: tuple[str, ...], command: click.Command) -> None:
    res = CliRunner().invoke(cli, [*path, "--help"], prog_name="bakeoff", terminal_width=100)
    assert res.exit_code == 0, res.output
    assert res.output.startswith(f"Usage: bakeoff {' '.join(path)} ")
    assert (command.help or "").strip(), f"bakeoff {' '.join(path)} has no description"
    assert "``" not in res.output  # reST markup from a module docstring
    assert "harness." not in res.output  # internal module or class names
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.opts[-1] in res.output


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_option_has_a_help_sentence(path: tuple[str, ...], command: click.Command) -> None:
    options = [p for p in command.params if isinstance(p, click.Option)]  # declared ones: not click's --help
    for opt in options:  # hidden ones too: `bakeoff sim --worker-index` is set by the simulator itself
        name = f"bakeoff {' '.join(path)} {opt.opts[-1]}"
        text = (opt.help or "").strip()
        assert text, f"{name} has no help text"
        assert text[0].isupper() and text.endswith("."), f"{name}: help is a sentence: {text!r}"


def test_group_help_lists_every_command() -> None:
    res = CliRunner().invoke(cli, ["--help"], terminal_width=100)
    assert res.exit_code == 0
    listed = {line.split()[0] for line in res.output.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == set(cli.commands)


def test_short_option_for_help_everywhere() -> None:
    for path, _ in COMMANDS:
        assert CliRunner().invoke(cli, [*path, "-h"]).exit_code == 0, path


def test_run_out_help_names_the_folder_the_run_writes() -> None:
    res = CliRunner().invoke(cli, ["run", "--help"], terminal_width=200)
    assert "<out>/<run-id>/" in res.output and "reports/<run-id>" not in res.output
