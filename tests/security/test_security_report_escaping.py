"""Untrusted model text in the report: HTML-escaped, and no terminal escape or bidi character passes
through to report.html or to what `bakeoff report` prints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.analysis._synthetic import write_synthetic_run

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>\x1b]0;pwned\x07\x1b[2J\u202eevil\x9b31m'
_RAW = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    from harness.cli._main import cli

    run_dir = write_synthetic_run(tmp_path_factory.mktemp("runs") / "hostile", n_requests=60, payload=HOSTILE)
    result = CliRunner().invoke(cli, ["report", str(run_dir)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return run_dir, result.output


def test_report_html_escapes_markup(report: tuple[Path, str]) -> None:
    html = (report[0] / "report.html").read_text(encoding="utf-8")
    assert '<script>alert("x")' not in html and "<img src=x" not in html
    assert "pwned" in html  # the answer is shown (as text), not dropped


def test_cli_output_has_no_terminal_escapes(report: tuple[Path, str]) -> None:
    assert not _RAW.search(report[1])


def test_report_files_carry_no_raw_control_or_bidi_characters(report: tuple[Path, str]) -> None:
    for path in sorted(report[0].glob("*")):
        if path.suffix in (".html", ".csv", ".json"):
            text = path.read_text(encoding="utf-8", errors="replace")
            assert not _RAW.search(text), path.name
