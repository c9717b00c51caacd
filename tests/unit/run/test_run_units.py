"""What a run decides without running: its exit code, and what a stop signal means in each phase."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.run._run import EXIT_INCOMPLETE, EXIT_NOTHING_SUCCEEDED, RunResult
from harness.run._signals import SignalState


def result(**kw: object) -> RunResult:
    base: dict[str, object] = {
        "run_dir": Path("r"),
        "report": None,
        "records": 10,
        "logical_requests": 10,
        "elapsed_s": 1.0,
        "ended": "completed",
        "succeeded": 3,
    }
    return RunResult(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({}, 0),
        ({"ended": "deadline"}, 0),
        ({"ended": "interrupted", "succeeded": 0}, 0),  # a stop asked for is not a failure
        ({"ended": "incomplete"}, EXIT_INCOMPLETE),
        ({"ended": "workers_lost"}, EXIT_INCOMPLETE),
        ({"unrecorded": {"a": 3}}, EXIT_INCOMPLETE),
        ({"ended": "interrupted", "workers_died": 1}, EXIT_INCOMPLETE),
        ({"succeeded": 0}, EXIT_NOTHING_SUCCEEDED),
        ({"succeeded": 0, "reached": 5}, 0),  # every answer an error (malformed inputs expect 4xx): a finding
        ({"succeeded": 0, "records": 0, "ended": "interrupted"}, 0),  # stopped before anything was sent
        ({"ended": "aborted", "workers_died": 1}, 130),
    ],
)
def test_exit_codes(kw: dict[str, object], code: int) -> None:
    assert result(**kw).exit_code == code
    assert (EXIT_INCOMPLETE, EXIT_NOTHING_SUCCEEDED) == (4, 5)


def test_signal_messages_name_the_phase_and_a_second_one_aborts() -> None:
    said: list[str] = []
    state = SignalState(grace=7, message=said.append)
    state.enter("probes")
    state.on_signal()
    assert state.stopped and not state.aborted
    assert said[-1].startswith("stopping: the run is in its probes phase and has sent no load yet")
    state.on_signal()
    assert state.aborted and said[-1].startswith("aborting now")


def test_the_report_gets_grace_after_a_signal_that_arrives_while_it_is_built() -> None:
    said: list[str] = []
    state = SignalState(grace=0.2, message=said.append)
    state.enter("report")
    assert not state.report_overdue()
    state.on_signal()
    assert "the report gets up to 0 s to finish" in said[-1]
    assert not state.report_overdue()
    time.sleep(0.25)
    assert state.report_overdue()


def test_a_stop_asked_for_before_the_report_still_gets_its_report() -> None:
    state = SignalState(grace=0.0, message=lambda _t: None)
    state.enter("load")
    state.on_signal()  # no execution yet: nothing to stop
    time.sleep(0.01)
    state.enter("report")
    assert not state.report_overdue()
    state.on_signal()  # a second signal aborts
    assert state.report_overdue()


def test_a_quiet_progress_keeps_only_the_last_window_of_records() -> None:
    """The master's live view must not hold every record of a soak: its table is never drawn when quiet."""
    import io

    from factories import make_record

    from harness.run._progress import Progress

    progress = Progress(
        ["A"],
        duration=3600.0,
        clock=lambda: 0.0,
        active_faults=list,
        in_flight=lambda _c: 0,
        quiet=True,
        stream=io.StringIO(),
    )
    for i in range(20_000):  # 100 records a second for 200 s
        progress.add(make_record(request_id=f"q{i}", t_end=i / 100))
    kept = progress._recent["A"]
    assert 1000 <= len(kept) <= 1001  # the last 10 s
    assert kept[-1].request_id == "q19999"
