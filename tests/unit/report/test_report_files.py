from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

import harness.report
from harness._errors import ReportError
from harness.analysis import write_synthetic_run
from harness.record import RECORDS_FILE
from harness.report import CSV_FILES, SUMMARY_FILE, gate, write_report

PAYLOAD = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">'


def _page_without_plotly(html: str) -> str:
    """The page minus the inlined plotly.js bundle (whose source mentions URLs it never fetches here)."""
    start = html.index("<script>/**\n* plotly.js")
    end = html.index("</script>", start)
    return html[:start] + html[end:]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_synthetic_run(tmp_path / "run", n_requests=300, payload=PAYLOAD)


def test_public_api_is_pinned() -> None:
    assert sorted(harness.report.__all__) == sorted(
        [
            "CSV_FILES",
            "EXIT_SLO_FAILED",
            "REPORT_FILE",
            "SUMMARY_FILE",
            "GateCheck",
            "GateResult",
            "comparison_json",
            "comparison_text",
            "evaluate_gate",
            "gate",
            "gate_json",
            "github_summary",
            "junit_xml",
            "load_run",
            "parse_slo_overrides",
            "render_html",
            "summary",
            "write_comparison",
            "write_exports",
            "write_report",
        ]
    )


def test_write_report_writes_html_summary_and_csvs(run_dir: Path) -> None:
    out = write_report(run_dir)
    assert out == run_dir / "report.html"
    html = out.read_text(encoding="utf-8")
    assert html.count("* plotly.js (basic - minified) v") == 1  # inlined once: the basic bundle
    assert 'id="verdict"' in html and 'id="ranking"' in html and "Top risks" in html
    summary = json.loads((run_dir / SUMMARY_FILE).read_text(encoding="utf-8"))  # strict JSON: no NaN
    assert summary["schema"] == "bakeoff.summary/1"
    assert [v["contender"] for v in summary["verdict"]] and summary["contenders"]["alpha"]["requests"] == 300
    for name in CSV_FILES:
        df = pd.read_csv(run_dir / name)
        assert len(df.columns) > 2, name
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert {"run", "phase", "class"} <= set(metrics["scope"])


def test_page_fetches_nothing_and_escapes_untrusted_text(run_dir: Path) -> None:
    html = write_report(run_dir).read_text(encoding="utf-8")
    page = _page_without_plotly(html)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "https://" not in page and "http://" not in page.replace("http://127.0.0.1:0", "")
    assert "@import" not in page and "url(" not in page
    assert PAYLOAD not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html


def test_zero_records_give_a_clear_report(tmp_path: Path) -> None:
    d = write_synthetic_run(tmp_path / "empty", n_requests=50)
    (d / RECORDS_FILE).write_text("", encoding="utf-8")
    html = write_report(d).read_text(encoding="utf-8")
    assert 'id="no-records"' in html and "No requests completed" in html
    ok, lines = gate(d)
    assert not ok and all(line.startswith("FAIL") for line in lines[2:])


def test_interrupted_run_with_torn_last_line(tmp_path: Path) -> None:
    d = write_synthetic_run(tmp_path / "cut", n_requests=200)
    (d / "end.json").unlink()  # the process was killed: it never wrote how the run ended
    lines = (d / RECORDS_FILE).read_text().splitlines(keepends=True)
    (d / RECORDS_FILE).write_text("".join(lines[: len(lines) // 2]) + lines[len(lines) // 2][:40])
    html = write_report(d).read_text(encoding="utf-8")
    assert 'id="interrupted"' in html and "1 unreadable record line(s) skipped" in html
    s = json.loads((d / SUMMARY_FILE).read_text())
    assert s["meta"]["interrupted"] and s["risks"][0]["text"].startswith("The run was interrupted")


def test_gate_passes_and_fails_with_overrides(run_dir: Path) -> None:
    ok, lines = gate(run_dir)
    assert not ok and any(line.startswith("FAIL alpha") for line in lines)
    assert any(line.startswith("PASS beta") for line in lines)
    ok, lines = gate(run_dir, {"max_error_rate": 0.5, "min_good_fraction": 0.5})
    assert ok and len(lines) == 4
    # issue 16 (8): the thresholds the gate judged against are printed with it
    assert lines[0] == (
        "SLOs: TTFT ≤ 1 s, TPOT ≤ 50 ms and latency ≤ 6 s per request; "
        "error rate ≤ 50.0 % and good fraction ≥ 50.0 % per contender"
    )
    assert lines[1] == "must-pass: error rate, good fraction"
    assert lines[2].startswith("PASS alpha: error rate 7.0 % ≤ 50.0 %; good fraction ")


def test_not_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="not a run folder"):
        write_report(tmp_path)


def test_scores_file_reaches_the_page_labelled_declared(run_dir: Path) -> None:
    scores = run_dir / "scores.yaml"
    scores.write_text(
        "weights: {data_center: 2}\ncontenders:\n  beta:\n    data_center:\n"
        "      regions: {score: 4, note: 'EU and US <b>regions</b>'}\n",
        encoding="utf-8",
    )
    html = write_report(run_dir, scores_file=scores).read_text(encoding="utf-8")
    assert '<span class="tag declared">declared</span>' in html
    assert "EU and US &lt;b&gt;regions&lt;/b&gt;" in html
    assert "from the analyst's scores file" in html
    rows = pd.read_csv(run_dir / "scorecard.csv")
    r = rows.loc[(rows["contender"] == "beta") & (rows["criterion"] == "regions")].iloc[0]
    assert (r["source"], r["score"]) == ("declared", 4.0)


def test_sparse_manifest_still_renders() -> None:
    from harness.analysis import analyse, synthetic_run
    from harness.record import ContenderInfo, EndpointInfo
    from harness.report import render_html

    df, ev, m = synthetic_run(100)
    # endpoints that are not in the records, without prices or regions; contenders without fallbacks
    m = m.with_manifest(
        endpoints=[EndpointInfo(name="x", dialect="openai-chat", model="m")],
        contenders=[ContenderInfo(name="alpha", primary="alpha-ep"), ContenderInfo(name="beta", primary="b")],
        versions={},
        prompts={"path": "p"},
        load={"mode": "sequential", "duration": m.manifest.duration_s},
    )
    assert 'id="ranking"' in render_html(analyse(df, ev, m))


def test_a_damaged_manifest_is_one_clear_error(tmp_path: Path) -> None:
    d = write_synthetic_run(tmp_path / "run", n_requests=50)
    data = json.loads((d / "manifest.json").read_text())
    data["contenders"][1] = "junk"
    (d / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ReportError, match=r"manifest\.json: contenders\.1: "):
        write_report(d)
    data["version"] = 99
    (d / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ReportError, match="newer than this bakeoff understands"):
        write_report(d)


def test_probe_results_fill_the_probe_rows(run_dir: Path) -> None:
    from harness.probes import ProbeResult, write_probes

    write_probes(
        run_dir,
        [
            ProbeResult(
                endpoint="alpha-ep", probe="bad_key", passed=True, expected="401", observed="401 refused"
            ),
            ProbeResult(
                endpoint="alpha-ep",
                probe="malformed_json",
                passed=False,
                expected="4xx",
                observed="500 on invalid JSON",
            ),
            ProbeResult(
                endpoint="alpha-ep", probe="invalid_params", passed=True, expected="4xx", observed="400"
            ),
            ProbeResult(endpoint="beta-small", probe="bad_key", passed=False, expected="401", observed="200"),
        ],
    )
    write_report(run_dir)
    rows = pd.read_csv(run_dir / "scorecard.csv")
    alpha = rows.loc[rows["contender"] == "alpha"].set_index("criterion")
    assert (alpha.loc["bad_key_rejection", "source"], alpha.loc["bad_key_rejection", "score"]) == (
        "measured",
        5.0,
    )
    assert alpha.loc["malformed_input_handling", "score"] == 2.5  # 1 of 2 applicable probes passed
    assert "500 on invalid JSON" in alpha.loc["malformed_input_handling", "reason"]
    # beta is judged on its primary (beta-ep), which was not probed; its fallback's result does not count
    beta = rows.loc[rows["contender"] == "beta"].set_index("criterion")
    assert beta.loc["bad_key_rejection", "source"] == "none"


# ---- issue 16 (observation 11, deliverable 7): what the page shows and how big it is --------------------


def test_page_is_small_self_contained_and_opens_with_the_verdict_sentence(run_dir: Path) -> None:
    out = write_report(run_dir)
    size = out.stat().st_size
    assert size <= 1_500_000, size  # the full plotly.js bundle alone was 4.8 MB
    html = out.read_text(encoding="utf-8")
    headline = re.search(r'<p id="headline" class="headline">(.*?)</p>', html, re.S)
    assert headline and headline.group(1).startswith("Choose beta: it passes every must-pass SLO (TTFT ≤ 1 s")
    assert 'id="slo-line"' in html and "Must-pass: error rate, good fraction." in html
    summary = json.loads((run_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    assert summary["headline"] == headline.group(1).replace("&#39;", "'")
    assert summary["verdict"][0]["rank_label"] == "1" and "decision" in summary


def test_the_footer_regenerate_command_works_as_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from harness.cli import cli

    monkeypatch.chdir(tmp_path)
    write_synthetic_run(Path("reports") / "synthetic-7", n_requests=60)
    html = write_report(Path("reports/synthetic-7")).read_text(encoding="utf-8")
    m = re.search(r"regenerate with <code>bakeoff (report [^<]+)</code>", html)
    assert m and m.group(1) == "report reports/synthetic-7"
    (tmp_path / "reports/synthetic-7/report.html").unlink()
    res = CliRunner().invoke(cli, m.group(1).split())
    assert res.exit_code == 0, res.output
    assert (tmp_path / "reports/synthetic-7/report.html").exists()


def test_unknown_cost_is_a_dash_never_a_bold_zero(tmp_path: Path) -> None:
    d = write_synthetic_run(tmp_path / "run", n_requests=100)
    manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    for ep in manifest["endpoints"]:
        ep["price"] = {}
    (d / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    records = pd.read_json(d / RECORDS_FILE, lines=True)
    records["cost_usd"] = 0.0
    records.to_json(d / RECORDS_FILE, orient="records", lines=True)
    html = write_report(d).read_text(encoding="utf-8")
    ranking = html[html.index('<table id="ranking">') : html.index("</table>", html.index('id="ranking"'))]
    assert "$0" not in ranking and "<strong>—</strong>" in ranking
    assert "cost not compared: no price table for alpha, beta" in html


def test_a_run_with_sessions_shows_the_by_turn_table_and_chart() -> None:
    import re

    from harness.analysis import analyse, synthetic_run
    from harness.report import render_html

    df, ev, m = synthetic_run(120, faults=False)
    assert 'id="by-turn"' not in render_html(analyse(df, ev, m))  # no sessions, no table
    seq = df["seq"].astype(int)
    df["session_id"] = "s-" + (seq // 3).astype(str)
    df["turn"] = seq % 3 + 1  # requests 0, 1, 2 are turns 1, 2, 3 of one session, and so on
    df["input_tokens"] = 1000
    df["cached_input_tokens"] = (df["turn"] > 1) * 500  # turn 1 misses, later turns hit half the prompt
    html = render_html(analyse(df, ev, m))
    assert 'id="by-turn"' in html and 'id="fig-turns"' in html
    tables = re.findall(r'<table class="turn-table">(.*?)</table>', html, flags=re.S)
    assert len(tables) == len(set(df.contender))
    for table in tables:
        rows = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", table)][1:]
        assert [r[0] for r in rows] == ["1", "2", "3"]
        assert [(r[6], r[7]) for r in rows] == [("1,000", "0.0 %"), ("1,000", "50.0 %"), ("1,000", "50.0 %")]
