"""Accounting: every scheduled request of every contender is a record, or the report says which are not."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_info
from factories import record_row, records_frame

from harness.analysis import analyse, synthetic_run
from harness.analysis._accounting import accounting, incomplete, share_notes
from harness.record import RunInfo, WorkerInfo


def _rows(contender: str, n: int, **kw: object) -> list[dict[str, object]]:
    return [record_row(contender=contender, request_id=f"{contender}-{i:06d}", **kw) for i in range(n)]


def test_counts_per_contender_and_what_has_no_record() -> None:
    run = run_info(schedule={"logical_requests_per_contender": 10})
    df = records_frame(
        [
            *_rows("A", 8),
            record_row(contender="A", request_id="A-000008", outcome="error", error_class="not_sent"),
            *_rows("B", 7),
            record_row(contender="B", request_id="B-000007", outcome="error", error_class="run_ended"),
            record_row(contender="B", request_id="B-000000", attempt=2),  # a retry is not another request
        ]
    )
    counts = accounting(df, run)
    assert counts == {
        "A": {"scheduled": 10, "recorded": 9, "no_record": 1, "not_sent": 1, "run_ended": 0, "measured": 8},
        "B": {"scheduled": 10, "recorded": 8, "no_record": 2, "not_sent": 0, "run_ended": 1, "measured": 8},
    }
    assert incomplete(counts, run) == "3 of 20 scheduled requests have no record (A 1, B 2)."
    assert share_notes(counts, ["A", "B"]) == {"A": None, "B": None}  # measured on 8 each


def test_a_dead_worker_and_unequal_shares_are_said_in_sentences() -> None:
    base = run_info(schedule={"logical_requests_per_contender": 40})
    dead = WorkerInfo(index=0, id="w0", alive_at_end=False, assigned=40, completed=19, records=19, lost=21)
    run = RunInfo(base.manifest, base.end.model_copy(update={"ended": "incomplete", "workers": (dead,)}))
    counts = accounting(records_frame([*_rows("A", 30), *_rows("B", 29)]), run)
    assert incomplete(counts, run) == (
        "21 of 80 scheduled requests have no record (A 10, B 11); load worker 0 died with 21 logical "
        "requests lost."
    )
    notes = share_notes(counts, ["A", "B"])
    assert notes["A"] == "measured on 30 of 40 scheduled requests (B 29): the ranking compares unequal shares"
    assert notes["B"] is not None and notes["B"].endswith("— fewer than the others")


def test_the_closed_model_has_no_schedule_to_miss() -> None:
    run = run_info(load={"model": "closed", "users": 2})
    counts = accounting(records_frame([*_rows("A", 30), *_rows("B", 5)]), run)
    assert counts["A"]["scheduled"] is None and counts["A"]["no_record"] is None
    assert incomplete(counts, run) is None and share_notes(counts, ["A", "B"]) == {"A": None, "B": None}


def test_analysis_puts_counts_in_meta_flags_the_verdict_and_leads_the_risks() -> None:
    df, events, run = synthetic_run(n_requests=40)
    lost = set(df.loc[df.contender == "alpha", "request_id"].unique()[:10])
    df = df.loc[~df.request_id.isin(lost)].reset_index(drop=True)
    a = analyse(df, events, run)
    assert a.meta["accounting"]["alpha"]["no_record"] == 10 and a.meta["accounting"]["beta"]["no_record"] == 0
    assert a.meta["incomplete"] == "10 of 80 scheduled requests have no record (alpha 10)."
    rows = {v["contender"]: v for v in a.verdict}
    assert rows["alpha"]["unequal_share"] and rows["beta"]["unequal_share"]
    assert rows["alpha"]["measured_requests"] == 30 and "unequal shares" in rows["alpha"]["reason"]
    assert a.risks[0]["text"].startswith("Incomplete evidence: 10 of 80 scheduled requests have no record")
    assert "unequal shares of the same schedule (alpha 30, beta 40 of 40)" in a.risks[1]["text"]


def test_a_complete_run_flags_nothing() -> None:
    df, events, run = synthetic_run(n_requests=40)
    a = analyse(df, events, run)
    assert a.meta["incomplete"] is None
    assert not any(v["unequal_share"] for v in a.verdict)
    assert not any("Incomplete evidence" in r["text"] for r in a.risks)
    json.dumps(a.meta["accounting"])  # plain data: it goes to summary.json


def test_report_shows_the_banner_and_the_table(tmp_path: Path) -> None:
    from harness.analysis import write_synthetic_run
    from harness.record import RECORDS_FILE
    from harness.report import write_report

    run_dir = write_synthetic_run(tmp_path / "run", n_requests=40)
    lines = (run_dir / RECORDS_FILE).read_text().splitlines()
    keep = [ln for ln in lines if '"request_id":"alpha-000000' not in ln]  # alpha-0000000 .. 0000009
    (run_dir / RECORDS_FILE).write_text("\n".join(keep) + "\n")
    html = write_report(run_dir).read_text(encoding="utf-8")
    assert '<div class="banner" id="incomplete"><strong>Incomplete evidence.</strong> 10 of 80' in html
    assert '<table id="accounting">' in html and 'class="fail unequal-share"' in html
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["meta"]["accounting"]["alpha"]["recorded"] == 30
    verdict_csv = (run_dir / "verdict.csv").read_text().splitlines()
    assert "unequal_share" in verdict_csv[0] and "measured_requests" in verdict_csv[0]


def _cut_run(ended: str) -> tuple[object, RunInfo]:
    rows = [
        *_rows("A", 8, t_intended=1.0, t_dispatch=1.0, t_end=1.5),
        *(
            record_row(contender="A", request_id=f"A-{i:06d}", outcome="error", error_class="not_sent")
            for i in range(8, 10)
        ),
        record_row(contender="A", request_id="A-000010", outcome="error", error_class="run_ended"),
    ]
    run = run_info(schedule={"logical_requests_per_contender": 11}, interrupted=ended != "completed")
    assert run.end is not None
    return records_frame(rows), RunInfo(run.manifest, run.end.model_copy(update={"ended": ended}))


def test_requests_never_sent_are_not_the_vendors_errors() -> None:
    """not_sent never reached the vendor: left out of every metric (and kept in the accounting);
    run_ended was cut in flight after the time the run gave it: a failure to answer in time."""
    df, run = _cut_run("completed")
    a = analyse(df, [], run)
    row = a.run_rows()["A"]
    assert row["requests"] == 9 and row["failed"] == 1  # 8 ok + 1 run_ended; the 2 not_sent are left out
    assert a.meta["accounting"]["A"]["not_sent"] == 2 and a.meta["accounting"]["A"]["measured"] == 9


def test_after_an_abort_cut_requests_are_not_judged_either() -> None:
    df, run = _cut_run("aborted")
    row = analyse(df, [], run).run_rows()["A"]
    assert row["requests"] == 8 and row["failed"] == 0


def test_a_search_compares_each_contender_with_its_own_steps_not_with_the_others() -> None:
    counts = {
        "A": {"scheduled": 500, "measured": 500},  # stopped early on purpose: fewer requests, no note
        "B": {"scheduled": 1400, "measured": 1390},  # 10 never measured
    }
    assert share_notes(counts, ["A", "B"]) == {
        "A": "measured on 500 of 500 scheduled requests (B 1390): the ranking compares unequal shares"
        " — fewer than the others",
        "B": "measured on 1390 of 1400 scheduled requests (A 500): the ranking compares unequal shares",
    }
    assert share_notes(counts, ["A", "B"], own_schedules=True) == {
        "A": None,
        "B": "measured on 1390 of the 1400 requests its search scheduled",
    }


def test_missing_ids_count_as_blank_ones_on_any_column_type() -> None:
    """A record without a request id (or contender) counts as one with "": one request, not one per
    record; the same whether the column is plain objects or categorical (the report's column reader)."""
    run = run_info(schedule={"logical_requests_per_contender": 3})
    df = records_frame(
        [
            record_row(contender="A", request_id="A-1"),
            record_row(contender="A", request_id=None),
            record_row(contender="A", request_id=""),
            record_row(contender="A", request_id=None, attempt=2),
            record_row(contender=None, request_id="X-1"),
            record_row(contender="", request_id="X-1", outcome="error", error_class="not_sent"),
        ]
    )
    want = {"A": 2, "B": 0, "": 1}  # B: listed in the manifest, no record
    for frame in (df, df.astype({"contender": "category", "request_id": "category"})):
        counts = accounting(frame, run)
        assert {c: r["recorded"] for c, r in counts.items()} == want
        assert counts[""]["not_sent"] == 1 and counts["A"]["not_sent"] == 0
