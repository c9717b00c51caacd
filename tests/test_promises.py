"""docs/promises.md stays in step with the README: every quoted promise is still in the README, every
named test exists, and every command and exit code the README lists has a row."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PROMISES = ROOT / "docs" / "promises.md"


def _flat(text: str) -> str:
    """Whitespace, Markdown backticks and table escapes do not change what a sentence promises."""
    return " ".join(text.replace("`", "").replace("\\|", "|").split())


def _rows() -> list[tuple[str, list[str]]]:
    rows = []
    for line in PROMISES.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| ") or line.startswith(("| README says", "|---")):
            continue
        quote, tests = re.split(r"(?<!\\)\|", line.strip().strip("|"))[:2]
        quote = quote.strip().replace("\\|", "|")
        rows.append((quote, re.findall(r"`(tests/[^`]+)`", tests)))
    return rows


ROWS = _rows()


@cache
def _functions(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return frozenset(n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))


def test_the_table_has_rows() -> None:
    assert len(ROWS) >= 40 and all(tests for _q, tests in ROWS), [q for q, t in ROWS if not t]


@pytest.mark.parametrize(("quote", "tests"), ROWS, ids=[q[:40] for q, _ in ROWS])
def test_each_promise_is_quoted_from_the_readme_and_its_tests_exist(quote: str, tests: list[str]) -> None:
    readme = _flat(README.read_text(encoding="utf-8"))
    assert _flat(quote) in readme, f"docs/promises.md quotes what the README no longer says: {quote!r}"
    for node in tests:
        file, _, name = node.partition("::")
        path = ROOT / file
        assert path.is_file(), node
        assert name in _functions(path), f"{node}: no such test"


def test_every_command_and_exit_code_of_the_readme_has_a_row() -> None:
    readme = README.read_text(encoding="utf-8")
    quotes = " ".join(q for q, _ in ROWS)
    commands = set(re.findall(r"^\| `bakeoff ([a-z]+)", readme, flags=re.M))
    assert len(commands) >= 13, commands
    missing = sorted(c for c in commands if f"`bakeoff {c}" not in quotes)
    assert not missing, f"README commands with no row in docs/promises.md: {missing}"
    codes = re.search(r"Exit codes: (.*?)\.\n\n", readme, flags=re.S)
    assert codes, "the README no longer lists its exit codes"
    listed = set(re.findall(r"(?:^|, )(\d+) ", _flat(codes.group(1))))
    assert listed >= {"0", "1", "2", "3", "4", "5", "130"}, listed
    for code in listed:
        assert re.search(rf"(^| ){code} ", quotes) or quotes.startswith(f"Exit codes: {code}"), code
