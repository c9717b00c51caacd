"""CI outputs of the real ``bakeoff`` commands through click's runner (issue 17, part 4): ``gate --junit``
(JUnit XML as GitHub's and Jenkins' reporters read it), ``gate --github-summary`` (markdown appended to
``$GITHUB_STEP_SUMMARY``) and ``--json`` on gate, validate and compare, with their exit codes unchanged.

The run folders are synthetic runs as a run writes them: alpha loses 10 % of its requests to an outage
(error rate 10 % against the default 5 % limit), beta none."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from harness.analysis import write_synthetic_run
from harness.cli import cli

ROOT = Path(__file__).resolve().parents[3]
SHORT = ROOT / "tests" / "e2e" / "short.yaml"
LAX = ["--slo", "max_error_rate=50%", "--slo", "min_good_fraction=0.5"]
SLO_KEYS_SET = 5  # the synthetic run sets ttft, tpot, e2e, max_error_rate and min_good_fraction
HOSTILE = 'al<b onmouseover="x">|*ph_a`\x1b[31m&\u202e'


def bakeoff(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="bakeoff", env=env)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_run(tmp_path_factory.mktemp("ci") / "run", n_requests=150)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run with alpha renamed to a name full of markup, markdown, escapes and a bidi override."""
    d = write_synthetic_run(tmp_path_factory.mktemp("ci") / "hostile", n_requests=150)
    for name in ("records.jsonl", "manifest.json"):
        f = d / name
        f.write_text(f.read_text(encoding="utf-8").replace('"alpha"', json.dumps(HOSTILE)), encoding="utf-8")
    return d


def _junit(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()  # well-formed XML or this raises
    assert root.tag == "testsuites"
    suites = list(root)
    assert [s.tag for s in suites] == ["testsuite"]
    suite = suites[0]
    cases = suite.findall("testcase")
    for el in (root, suite):  # the counts the reporters show must be the elements' counts
        assert int(el.get("tests", "-1")) == len(cases)
        assert int(el.get("failures", "-1")) == len(suite.findall("testcase/failure"))
        assert int(el.get("errors", "-1")) == 0
    assert int(suite.get("skipped", "-1")) == len(suite.findall("testcase/skipped"))
    for case in cases:
        assert case.get("classname") and case.get("name") and case.get("time") is not None
        assert {child.tag for child in case} <= {"failure", "skipped", "system-out"}
        for failure in case.findall("failure"):
            assert failure.get("message") and failure.get("type")
    return suite


def test_gate_junit_has_one_testcase_per_contender_and_slo_and_failures_carry_the_numbers(
    run_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "gate.xml"
    res = bakeoff("gate", str(run_dir), "--junit", str(out))
    assert res.exit_code == 3  # unchanged by --junit
    assert res.stdout.splitlines()[2].startswith("FAIL alpha: ")  # the lines still print
    suite = _junit(out)
    cases = suite.findall("testcase")
    assert len(cases) == 2 * SLO_KEYS_SET
    by_class: dict[str, int] = {}
    for case in cases:
        by_class[case.get("classname", "")] = by_class.get(case.get("classname", ""), 0) + 1
    assert by_class == {"bakeoff.synthetic.alpha": 5, "bakeoff.synthetic.beta": 5}
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == 1 and failed[0].get("classname") == "bakeoff.synthetic.alpha"
    assert failed[0].get("name") == "error rate ≤ 5.0 %"
    failure = failed[0].find("failure")
    assert failure is not None
    assert failure.get("message") == "alpha: error rate 10.0 % > 5.0 %"
    assert (failure.text or "").startswith("measured 0.1, target ≤ 0.05")
    assert "outage" in (failure.text or "")  # which fault window explains it
    names = {c.get("name") for c in cases if c.get("classname") == "bakeoff.synthetic.beta"}
    assert "TTFT ≤ 1 s met by ≥ 90.0 % of requests (not must-pass)" in names


def test_gate_junit_of_a_passing_gate_has_no_failures(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "test-results" / "gate.xml"  # the folder is made
    res = bakeoff("gate", str(run_dir), *LAX, "--junit", str(out))
    assert res.exit_code == 0, res.output
    suite = _junit(out)
    assert suite.get("failures") == "0" and len(suite.findall("testcase")) == 2 * SLO_KEYS_SET


def test_a_slo_that_is_not_must_pass_and_not_met_is_skipped_not_failed(tmp_path: Path) -> None:
    # A run whose scenario declares only the error rate must-pass: TTFT 10 ms is met by no request
    # (synthetic TTFTs are around 250 ms), so TTFT and the good fraction are not met, yet the gate passes
    # (exit 0) and the JUnit shows them skipped, with the numbers, and no failure.
    d = write_synthetic_run(tmp_path / "run", n_requests=150)
    manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    manifest["decision"]["gates"] = ["max_error_rate"]
    (d / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    out = tmp_path / "gate.xml"
    res = bakeoff("gate", str(d), *LAX, "--slo", "ttft=10ms", "--junit", str(out))
    suite = _junit(out)
    assert res.exit_code == 0, res.output
    assert suite.get("failures") == "0"
    skipped = [s.get("message") or "" for s in suite.findall("testcase/skipped")]
    assert len(skipped) == 4  # TTFT and good fraction, for each contender
    assert sum("TTFT ≤ 10 ms met by 0.0 % < 50.0 %" in m for m in skipped) == 2
    assert sum("good fraction 0.0 % < 50.0 %" in m for m in skipped) == 2


def test_gate_github_summary_appends_markdown_to_the_step_summary(run_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "summary.md"
    target.write_text("# earlier step\n", encoding="utf-8")
    res = bakeoff("gate", str(run_dir), "--github-summary", env={"GITHUB_STEP_SUMMARY": str(target)})
    assert res.exit_code == 3
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# earlier step\n## bakeoff gate FAILED: synthetic (synthetic-7)")  # appended
    rows = [line for line in text.splitlines() if line.startswith(("| alpha ", "| beta "))]
    assert len(rows) == 2 * SLO_KEYS_SET
    assert "| alpha | error rate ≤ 5.0 % | yes | ❌ FAIL | 10.0 % | ≤ 5.0 % |" in rows
    assert all(len(r.split(" | ")) == 6 for r in rows)  # six cells: nothing broke the table
    res = bakeoff("gate", str(run_dir), "--github-summary", env={"GITHUB_STEP_SUMMARY": str(target)})
    assert target.read_text(encoding="utf-8").count("## bakeoff gate") == 2


def test_gate_github_summary_without_the_variable_is_a_note_not_an_error(run_dir: Path) -> None:
    res = bakeoff("gate", str(run_dir), *LAX, "--github-summary", env={"GITHUB_STEP_SUMMARY": None})
    assert res.exit_code == 0, res.output
    assert "GITHUB_STEP_SUMMARY is not set" in res.stderr and "no summary written" in res.stderr


def test_gate_json_is_the_result_on_stdout_with_the_exit_code_unchanged(run_dir: Path) -> None:
    res = bakeoff("gate", str(run_dir), "--json")
    assert res.exit_code == 3
    data = json.loads(res.stdout)  # stdout holds the JSON document only
    assert data["passed"] is False and data["must_pass"] == ["max_error_rate", "min_good_fraction"]
    assert [(c["name"], c["passed"]) for c in data["contenders"]] == [("alpha", False), ("beta", True)]
    alpha = {x["slo"]: x for x in data["contenders"][0]["checks"]}
    assert set(alpha) == {"ttft", "tpot", "e2e", "max_error_rate", "min_good_fraction"}
    err = alpha["max_error_rate"]
    assert (err["passed"], err["must_pass"], err["op"]) == (False, True, "≤")
    assert err["measured"] == pytest.approx(0.1) and err["target"] == 0.05
    assert alpha["ttft"]["must_pass"] is False and alpha["ttft"]["threshold_s"] == 1.0
    assert res.stderr.splitlines()[2].startswith("FAIL alpha: ")  # the lines moved to stderr
    res = bakeoff("gate", str(run_dir), "--json", *LAX)
    assert res.exit_code == 0 and json.loads(res.stdout)["passed"] is True


def test_an_unwritable_junit_file_is_one_line_exit_1(run_dir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    res = bakeoff("gate", str(run_dir), "--junit", str(blocker / "gate.xml"))
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.stderr.splitlines()[-1].startswith(f"error: {blocker / 'gate.xml'}: cannot write")


def test_gate_json_on_a_folder_that_is_no_run_folder_exits_1_with_an_error_object(tmp_path: Path) -> None:
    res = bakeoff("gate", str(tmp_path), "--json")
    assert res.exit_code == 1
    data = json.loads(res.stdout)
    assert data["passed"] is False and "not a run folder" in data["error"]
    assert res.stderr.startswith("error: ") and "Traceback" not in res.output


def test_every_output_escapes_names_from_the_run_folder(hostile_run: Path, tmp_path: Path) -> None:
    summary, junit = tmp_path / "summary.md", tmp_path / "gate.xml"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    res = bakeoff("gate", str(hostile_run), "--json", "--junit", str(junit), "--github-summary", env=env)
    assert res.exit_code == 3
    assert res.stdout.isascii() and "\x1b" not in res.stdout
    data = json.loads(res.stdout)
    assert data["contenders"][0]["name"] == HOSTILE  # escaped on the wire, exact once parsed
    suite = _junit(junit)  # parses although the name holds ESC: it is written as a visible escape
    classes = {c.get("classname") for c in suite.findall("testcase")}
    # ESC and the bidi override as visible escapes, as on a terminal; markup stays text
    assert "bakeoff.synthetic." + HOSTILE.replace("\x1b", "\\x1b").replace("\u202e", "\\u202e") in classes
    md = summary.read_text(encoding="utf-8")
    assert "<b" not in md and "\x1b" not in md and "\u202e" not in md and "&lt;b onmouseover" in md
    rows = [line for line in md.splitlines() if line.startswith("| al&lt;b")]
    assert len(rows) == SLO_KEYS_SET
    assert all(len(r.replace("\\|", "").split(" | ")) == 6 for r in rows)  # the name's | is escaped


def test_validate_json(tmp_path: Path) -> None:
    res = bakeoff("validate", str(SHORT), "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["ok"] is True and data["problems"] == []
    (entry,) = data["scenarios"]
    assert entry["path"] == str(SHORT) and entry["ok"] is True
    assert entry["counts"] == {
        "endpoints": 3,
        "unused_endpoints": 0,
        "contenders": 3,
        "prompts": 24,
        "faults": 1,
    }
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nseed: 1\nendpointz: []\n", encoding="utf-8")
    res = bakeoff("validate", str(SHORT), str(bad), "--json")
    assert res.exit_code == 2  # unchanged
    data = json.loads(res.stdout)
    assert data["ok"] is False and [s["ok"] for s in data["scenarios"]] == [True, False]
    line = f"{bad}:3: endpointz: unknown key (did you mean 'endpoints'?)"
    assert line in data["scenarios"][1]["problems"] and line in data["problems"]
    assert line in res.stderr.splitlines()  # still one line per problem for people
    res = bakeoff("validate", str(tmp_path / "missing.yaml"), "--json")
    assert res.exit_code == 2 and json.loads(res.stdout)["scenarios"][0]["path"] is None


def test_compare_json(run_dir: Path, tmp_path: Path) -> None:
    other = write_synthetic_run(tmp_path / "other", n_requests=150, seed=8)
    res = bakeoff("compare", str(run_dir), str(other), "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["scenario"] == "synthetic" and data["runs"] == ["synthetic-7", "synthetic-8"]
    assert data["contenders"] == ["alpha", "beta"]
    err = next(m for m in data["metrics"] if m["metric"] == "error_rate")
    alpha = err["contenders"]["alpha"]
    assert alpha["n"] == 2 and alpha["ci_low"] <= alpha["mean"] <= alpha["ci_high"]
    assert err["contenders"]["beta"]["mean"] == 0.0  # beta lost nothing in either run
    assert [(p["a"], p["b"]) for p in data["pairs"]] == [("alpha", "beta")]
    # the same numbers as the text table prints
    text = bakeoff("compare", str(run_dir), str(other)).stdout
    assert f"{100 * alpha['mean']:.1f} %" in text


def test_compare_json_errors_keep_their_exit_codes(run_dir: Path, tmp_path: Path) -> None:
    res = bakeoff("compare", str(run_dir), "--json", "--out", str(tmp_path / "x.html"))
    assert res.exit_code == 2 and "--json" in res.stderr
    res = bakeoff("compare", str(tmp_path), "--json")
    assert res.exit_code == 1 and "not a run folder" in json.loads(res.stdout)["error"]
