"""The run manifest and end: typed, written once, read back the same, old run folders still readable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness._errors import ReportError
from harness.analysis import synthetic_run
from harness.record import (
    END_FILE,
    MANIFEST_FILE,
    MANIFEST_VERSION,
    RunEnd,
    read_run,
    write_end,
    write_manifest,
)


def _written(tmp_path: Path) -> Path:
    _df, _ev, run = synthetic_run(20)
    write_manifest(tmp_path, run.manifest)
    assert run.end is not None
    write_end(tmp_path, run.end)
    return tmp_path


def test_round_trip_is_exact(tmp_path: Path) -> None:
    _df, _ev, run = synthetic_run(20)
    back = read_run(_written(tmp_path))
    assert back == run
    assert back.manifest.version == MANIFEST_VERSION == 3 and not back.interrupted


def test_each_file_is_written_once(tmp_path: Path) -> None:
    run_dir = _written(tmp_path)
    run = read_run(run_dir)
    with pytest.raises(FileExistsError):
        write_manifest(run_dir, run.manifest)
    assert run.end is not None
    with pytest.raises(FileExistsError):
        write_end(run_dir, run.end)


def test_no_end_means_interrupted(tmp_path: Path) -> None:
    run_dir = _written(tmp_path)
    (run_dir / END_FILE).unlink()
    run = read_run(run_dir)
    assert run.end is None and run.interrupted


@pytest.mark.parametrize(
    ("ended", "interrupted"),
    [("completed", False), ("deadline", False), ("interrupted", True), ("aborted", True), ("error", True)],
)
def test_interrupted_follows_how_it_ended(ended: str, interrupted: bool) -> None:
    end = RunEnd.model_validate({"ended_at": "2026-01-01T00:00:00Z", "ended": ended, "elapsed_s": 1.0})
    assert end.interrupted is interrupted


def test_a_version_1_manifest_is_split_into_manifest_and_end(tmp_path: Path) -> None:
    """Run folders written before the manifest had a version: one manifest.json, rewritten at the end."""
    _df, _ev, run = synthetic_run(20)
    old = run.manifest.model_dump(mode="json")
    del old["version"]
    old["contenders"][0]["retry_on"] = ["http_429"]  # written by some version-1 runs
    old |= {
        "ended_at": "2026-01-01T00:10:00Z",
        "interrupted": False,
        "ended": "completed",
        "elapsed_s": 61.5,
        "problems": ["a problem"],
    }
    (tmp_path / MANIFEST_FILE).write_text(json.dumps(old))
    back = read_run(tmp_path)
    assert back.manifest == run.manifest
    assert back.end is not None and back.end.elapsed_s == 61.5 and back.end.problems == ("a problem",)
    del old["ended_at"]  # killed before the end was written
    (tmp_path / MANIFEST_FILE).write_text(json.dumps(old))
    assert read_run(tmp_path).interrupted


def test_unreadable_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="not a run folder"):
        read_run(tmp_path)
    (tmp_path / MANIFEST_FILE).write_text("[1, 2]")
    with pytest.raises(ReportError, match=r"manifest\.json: not a JSON object"):
        read_run(tmp_path)
    (tmp_path / "ok").mkdir()
    run_dir = _written(tmp_path / "ok")
    (run_dir / END_FILE).write_text('{"ended": "sideways"}')
    with pytest.raises(ReportError, match=r"end\.json: "):
        read_run(run_dir)


def test_with_manifest_validates_what_it_replaces() -> None:
    _df, _ev, run = synthetic_run(20)
    changed = run.with_manifest(seed=9, contenders=[{"name": "solo", "primary": "alpha-ep"}])
    assert changed.manifest.seed == 9 and changed.manifest.contenders[0].chain == ("alpha-ep",)
    assert changed.end == run.end
    with pytest.raises(ValueError, match="seed"):
        run.with_manifest(seed="nine")
