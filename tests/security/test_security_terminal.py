"""Terminal output never carries escape sequences from files or vendors: what a command prints about a
hostile scenario file or a hostile vendor is shown as visible escapes."""

from __future__ import annotations

from pathlib import Path

from clirun import bakeoff

ESC = "\x1b"


def test_validate_does_not_print_escape_sequences_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text('name: x\n"\\e]0;pwned\\a\\e[2J": 1\nprompts: p.jsonl\n', encoding="utf-8")
    proc = bakeoff("validate", path, timeout=60)
    assert proc.returncode == 2
    assert "unknown key" in proc.stderr
    assert ESC not in proc.stderr + proc.stdout and "\a" not in proc.stderr
