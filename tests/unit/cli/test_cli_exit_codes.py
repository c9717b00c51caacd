"""Exit codes of the real ``bakeoff`` commands, through click's runner: 0 ok, 1 a run or report failed,
2 invalid input, 3 the SLO gate failed. (130, a second Ctrl-C during a run, needs a real process and a
real run: tests/integration/load/test_run_control.py::test_second_ctrl_c_aborts_and_records_stay_readable.)

Commands that import the Locust runner (run, replay, worker) are not invoked here: Locust patches the
process it is imported in. tests/integration/cli/ runs the console script as a process."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from harness.analysis import write_synthetic_run
from harness.cli import cli, main
from harness.report import EXIT_SLO_FAILED

ROOT = Path(__file__).resolve().parents[3]
SHORT = ROOT / "tests" / "e2e" / "short.yaml"
LAX = ["--slo", "max_error_rate=50%", "--slo", "min_good_fraction=0.5"]


def bakeoff(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="bakeoff")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # a run folder as a run writes it: alpha loses 10 % of its requests to an outage, beta none
    return write_synthetic_run(tmp_path_factory.mktemp("cli") / "run", n_requests=150)


def test_gate_exits_3_when_a_contender_fails_its_slos(run_dir: Path) -> None:
    res = bakeoff("gate", str(run_dir))
    assert res.exit_code == EXIT_SLO_FAILED == 3
    lines = res.stdout.splitlines()
    assert lines[0].startswith("SLOs: TTFT ≤ 1 s") and lines[1].startswith("must-pass: ")
    assert lines[2].startswith("FAIL alpha: error rate 10.0 % > 5.0 %; good fraction 90.0 % ≥ 90.0 %")
    assert lines[3] == "PASS beta: error rate 0.0 % ≤ 5.0 %; good fraction 99.3 % ≥ 90.0 %"
    assert len(lines) == 4


def test_gate_exits_0_when_every_contender_passes(run_dir: Path) -> None:
    res = bakeoff("gate", str(run_dir), *LAX)
    assert res.exit_code == 0, res.output
    verdicts = [line.split()[:2] for line in res.stdout.splitlines()[2:]]
    assert verdicts == [["PASS", "alpha:"], ["PASS", "beta:"]]


def test_gate_slo_override_can_fail_every_contender(run_dir: Path) -> None:
    res = bakeoff("gate", str(run_dir), "--slo", "ttft=1us")
    assert res.exit_code == 3
    assert all(line.startswith("FAIL ") for line in res.stdout.splitlines()[2:])


def test_bad_slo_is_invalid_input_one_line_per_problem(run_dir: Path) -> None:
    res = bakeoff(
        "gate", str(run_dir), "--slo", "nope=1", "--slo", "ttft=abc", "--slo", "max_error_rate=150%"
    )
    assert res.exit_code == 2
    lines = res.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "--slo nope=1",
        "--slo ttft=abc",
        "--slo max_error_rate=150%",
    ]
    assert "expected KEY=VALUE with KEY one of ttft, ttfot, tpot, e2e" in lines[0]
    assert res.stdout == ""  # nothing was gated


def test_report_rebuilds_a_run_folder(run_dir: Path) -> None:
    res = bakeoff("report", str(run_dir))
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(run_dir / "report.html") and (run_dir / "report.html").is_file()


def test_report_and_gate_on_a_folder_that_is_no_run_folder_exit_1(tmp_path: Path) -> None:
    for command in ("report", "gate"):
        res = bakeoff(command, str(tmp_path))
        assert res.exit_code == 1, (command, res.output)
        assert res.stderr.startswith("error: ") and "not a run folder" in res.stderr
        assert len(res.stderr.splitlines()) == 1 and "Traceback" not in res.output


def test_report_on_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    res = bakeoff("report", str(tmp_path / "missing"))
    assert res.exit_code == 2 and "does not exist" in res.stderr


def test_compare_prints_or_writes_the_comparison(run_dir: Path, tmp_path: Path) -> None:
    other = write_synthetic_run(tmp_path / "other", n_requests=150, seed=8)
    res = bakeoff("compare", str(run_dir), str(other))
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("scenario synthetic: 2 runs")
    out = tmp_path / "cmp.html"
    res = bakeoff("compare", str(run_dir), str(other), "--out", str(out))
    assert res.exit_code == 0 and res.stdout.strip() == str(out)
    assert 'id="compare-table"' in out.read_text(encoding="utf-8")


def test_compare_of_a_folder_that_is_no_run_folder_exits_1(tmp_path: Path) -> None:
    res = bakeoff("compare", str(tmp_path))
    assert res.exit_code == 1 and "not a run folder" in res.stderr


def test_validate_ok_and_invalid(tmp_path: Path) -> None:
    res = bakeoff("validate", str(SHORT))
    assert res.exit_code == 0
    assert res.stdout == f"{SHORT}: ok (3 endpoints, 3 contenders, 24 prompts, 1 fault)\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nseed: 1\nendpointz: []\n", encoding="utf-8")
    res = bakeoff("validate", str(SHORT), str(bad))
    assert res.exit_code == 2
    assert f"{bad}:3: endpointz: unknown key (did you mean 'endpoints'?)" in res.stderr.splitlines()
    assert all(line.startswith(f"{bad}:") for line in res.stderr.splitlines())


def test_schema(tmp_path: Path) -> None:
    for kind in ("scenario", "fault", "prompt", "sim"):
        res = bakeoff("schema", "--kind", kind)
        assert res.exit_code == 0
        assert json.loads(res.stdout)["type"] == "object"
    assert bakeoff("schema", "--kind", "nope").exit_code == 2


def test_usage_errors_exit_2() -> None:
    assert bakeoff("gate").exit_code == 2  # RUN_DIR missing
    assert bakeoff("validate", "--nope", str(SHORT)).exit_code == 2
    assert bakeoff("no-such-command").exit_code == 2
    assert bakeoff("sim").exit_code == 2  # --config is required
    assert bakeoff("proxy", "--port", "70000").exit_code == 2
    res = bakeoff("worker", "--master", "host:notaport")
    assert res.exit_code == 2 and "port 'notaport' is not a number" in res.stderr


def test_sim_with_a_bad_simulator_file_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "sim.yaml"
    cfg.write_text("endpoints:\n  - {name: a, dialect: nope, model: m}\n", encoding="utf-8")
    res = bakeoff("sim", "--config", str(cfg))
    assert res.exit_code == 2 and "$.endpoints[0].dialect" in res.stderr


def test_repro_verify_of_a_missing_bundle_exits_2(tmp_path: Path) -> None:
    res = bakeoff("repro", "verify", str(tmp_path / "missing.tar.gz"))
    assert res.exit_code == 2 and "no such bundle" in res.stderr


def test_console_entry_point_maps_every_way_out(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``harness.cli.main`` (what the ``bakeoff`` script calls) returns the code the shell sees."""
    assert main(["--version"]) == 0
    assert main(["gate", str(run_dir)]) == 3  # sys.exit in the command
    assert main(["no-such-command"]) == 2  # usage error, shown by main itself
    assert "No such command 'no-such-command'" in capsys.readouterr().err

    @click.command()
    @click.argument("how")
    def probe_exits(how: str) -> None:
        if how == "ctx":
            click.get_current_context().exit(4)
        raise KeyboardInterrupt  # Ctrl-C outside a run's own handling

    monkeypatch.setitem(cli.commands, "probe-exits", probe_exits)
    assert main(["probe-exits", "ctx"]) == 4
    assert main(["probe-exits", "ctrl-c"]) == 130
    assert capsys.readouterr().err.strip() == "aborted"
