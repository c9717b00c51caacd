"""Every ``bakeoff`` command, walked from the click group: its ``--help`` works, reads as user help
(no backticks, no Python module names) and every option explains itself."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from harness.cli import cli


def _walk(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command under ``group`` as click finds it (the lazy ones imported)."""
    found: list[tuple[tuple[str, ...], click.Command]] = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
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
    assert "`" not in res.output  # reST or Markdown markup: a terminal shows it raw
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
    assert listed == set(cli.list_commands(click.Context(cli)))


def test_short_option_for_help_everywhere() -> None:
    # Asked of the contexts click builds for `bakeoff <path> -h`, not by invoking: click caches a
    # command's help option the first time it is used, and other tests invoke commands on their own.
    for path, _ in COMMANDS:
        ctx = cli.make_context("bakeoff", list(path), resilient_parsing=True)
        command: click.Command = cli
        for name in path:
            assert isinstance(command, click.Group)
            sub = command.get_command(ctx, name)
            assert sub is not None
            command, ctx = sub, sub.make_context(name, [], parent=ctx, resilient_parsing=True)
        assert {"-h", "--help"} <= set(command.get_help_option_names(ctx)), path


def test_run_out_help_names_the_folder_the_run_writes() -> None:
    res = CliRunner().invoke(cli, ["run", "--help"], terminal_width=200)
    assert "<out>/<run-id>/" in res.output and "reports/<run-id>" not in res.output


def test_importing_the_cli_imports_no_command_bodies() -> None:
    """`bakeoff gate` in a pipeline should not pay for the simulator, the proxy, the probes, httpx or
    pandas just to start: commands import what they need when they run."""
    import subprocess
    import sys

    code = "import sys; from harness.cli import cli; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    modules = out.stdout.split()
    assert "harness.cli._main" in modules  # the listing is real
    heavy = ("harness.probes", "harness.sim", "harness.faults", "harness.load", "httpx", "pandas", "pydantic")
    assert [m for m in modules if m.startswith(heavy)] == []
