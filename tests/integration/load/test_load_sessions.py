"""Multi-turn sessions end to end on loopback: a small recording vendor (OpenAI chat form) sees each
session's turns arrive in order, each carrying the conversation so far with the contender's own answers
(the exact text it sent) or the recorded ones; a failing turn ends the session with history: own (its
later turns are recorded as not sent and never reach the vendor) and does not with history: recorded;
records carry session_id and turn; the report shows the by-turn table; with --workers 2 a session stays
on one worker."""

from __future__ import annotations

import json
import re
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from clirun import bakeoff_run, cli_env
from vendors import http_vendor

from harness.record import read_records, read_run

SYSTEM = "Be brief."
SESSIONS = [
    {
        "id": "s-ok",
        "class": "session",
        "system": SYSTEM,
        "max_tokens": 20,
        "turns": [
            {"user": "ok one", "assistant": "recorded ok one"},
            {"user": "ok two", "assistant": "recorded ok two"},
            {"user": "ok three"},
        ],
    },
    {
        "id": "s-fail",
        "class": "session",
        "system": SYSTEM,
        "max_tokens": 20,
        "turns": [
            {"user": "fail one", "assistant": "recorded fail one"},
            {"user": "FAIL two", "assistant": "recorded fail two"},
            {"user": "fail three"},
        ],
    },
]


class Vendor:
    """Answers ``POST .../chat/completions`` with ``answer N to <last user text>`` (N counts requests), or
    500 when the last user text holds ``FAIL``; keeps every request body and the answer it gave."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, Any], str | None]] = []
        self.lock = threading.Lock()

    def answer(self, body: dict[str, Any]) -> str | None:
        last = body["messages"][-1]["content"]
        with self.lock:
            text = None if "FAIL" in last else f"answer {len(self.seen)} to {last}"
            self.seen.append((body, text))
        return text

    def by_session(self) -> dict[str, list[tuple[list[tuple[str, str]], str | None]]]:
        """First user text → [(messages after the system prompt as (role, content), answer)], in arrival
        order."""
        out: dict[str, list[tuple[list[tuple[str, str]], str | None]]] = {}
        for body, text in self.seen:
            msgs = body["messages"]
            assert msgs[0] == {"role": "system", "content": SYSTEM}
            pairs = [(m["role"], m["content"]) for m in msgs[1:]]
            out.setdefault(pairs[0][1], []).append((pairs, text))
        return out


@pytest.fixture
def vendor() -> Iterator[tuple[Vendor, str]]:
    v = Vendor()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
            text = v.answer(body)
            if text is None:
                payload = {"error": {"message": "boom", "type": "server_error"}}
                self._send(500, payload)
                return
            self._send(
                200,
                {
                    "id": "cmpl-1",
                    "object": "chat.completion",
                    "model": body.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 10 * len(body["messages"]), "completion_tokens": 5},
                },
            )

        def do_GET(self) -> None:
            self._send(404, {"error": {"message": "not here"}})

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    with http_vendor(Handler) as port:
        yield v, f"http://127.0.0.1:{port}/v1"


OPEN = "model: open, arrival: constant, rate: 1/s, users: 2"


def _run(
    tmp_path: Path,
    base_url: str,
    history: str,
    *extra: str,
    load: str = f"{OPEN}, grace: 15s, think_time: 50ms",
) -> tuple[Path, pd.DataFrame]:
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(s) + "\n" for s in SESSIONS))
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        textwrap.dedent(f"""\
        name: sessions-test
        seed: 4
        prompts: p.jsonl
        endpoints:
          - {{name: rec, dialect: openai-chat, base_url: "{base_url}", api_key_env: REC_KEY, model: m,
              stream: false}}
        contenders:
          - {{name: c, primary: rec}}
        load: {{{load}, duration: 2s, history: {history}}}
        """)
    )
    run_dir = bakeoff_run(scenario, tmp_path, "--no-probes", *extra, env=cli_env({"REC_KEY": "k-123"}))
    return run_dir, read_records(run_dir)


def _check_records(run_dir: Path, df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Every scheduled turn has one record naming its session and turn; per session id, its final records
    in turn order."""
    assert read_run(run_dir).manifest.schedule.logical_requests_per_contender == 6  # 2 sessions × 3 turns
    final = df[df.is_final_attempt]
    assert final.request_id.nunique() == len(final) == 6
    out = {}
    for sid, rows in final.groupby("session_id"):
        g = rows.sort_values("turn")
        assert g.turn.tolist() == [1, 2, 3]
        assert g.seq.nunique() == 1 and g.prompt_id.eq(sid).all()
        seq = int(g.seq.iloc[0])
        assert g.request_id.tolist() == [f"c-{seq:06d}-t{k:02d}" for k in (1, 2, 3)]
        out[str(sid)] = g
    assert sorted(out) == ["s-fail", "s-ok"]
    return out


@pytest.mark.slow  # over 20 s on a busy 2-core machine (a report; two worker processes)
def test_own_history_carries_the_contenders_answers_and_a_failed_turn_ends_the_session(
    tmp_path: Path, vendor: tuple[Vendor, str]
) -> None:
    v, base_url = vendor
    run_dir, df = _run(tmp_path, base_url, "own")
    seen = v.by_session()
    ok = seen["ok one"]
    assert [pairs for pairs, _ in ok] == [
        [("user", "ok one")],
        [("user", "ok one"), ("assistant", ok[0][1]), ("user", "ok two")],
        [
            ("user", "ok one"),
            ("assistant", ok[0][1]),
            ("user", "ok two"),
            ("assistant", ok[1][1]),
            ("user", "ok three"),
        ],
    ]
    assert ok[0][1] and ok[0][1].endswith("to ok one") and ok[1][1] and ok[1][1].endswith("to ok two")
    # the failing session: turn 2 answered 500, turn 3 never reached the vendor
    failed = seen["fail one"]
    assert [pairs[-1] for pairs, _ in failed] == [("user", "fail one"), ("user", "FAIL two")]
    assert failed[1][0][1] == ("assistant", failed[0][1])
    records = _check_records(run_dir, df)
    assert records["s-ok"].outcome.eq("ok").all()
    f = records["s-fail"]
    assert f.outcome.tolist() == ["ok", "error", "error"]
    assert f.error_class.tolist()[1:] == ["http_5xx", "not_sent"]
    assert "turn 2 of the session failed (http_5xx)" in f.error_detail.iloc[2]
    # every attempt record of a turn carries the session (retries included)
    assert df.session_id.notna().all() and df.turn.notna().all()
    # the report shows the by-turn table: turn 3 has 2 requests, 1 ok, 1 not sent
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert 'id="by-turn"' in html and 'id="fig-turns"' in html
    table = html[html.index('class="turn-table"') :]
    table = table[: table.index("</table>")]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", table)][1:]
    assert [r[:4] for r in rows] == [["1", "2", "2", "0"], ["2", "2", "1", "0"], ["3", "2", "1", "1"]]


def test_recorded_history_sends_the_files_replies_and_goes_on_after_a_failed_turn(
    tmp_path: Path, vendor: tuple[Vendor, str]
) -> None:
    v, base_url = vendor
    run_dir, df = _run(tmp_path, base_url, "recorded", "--no-report")
    seen = v.by_session()
    assert [pairs for pairs, _ in seen["ok one"]][2] == [
        ("user", "ok one"),
        ("assistant", "recorded ok one"),
        ("user", "ok two"),
        ("assistant", "recorded ok two"),
        ("user", "ok three"),
    ]
    failed = [pairs for pairs, _ in seen["fail one"]]
    assert len(failed) == 3  # turn 3 was sent although turn 2 failed
    assert failed[2][-2:] == [("assistant", "recorded fail two"), ("user", "fail three")]
    records = _check_records(run_dir, df)
    assert records["s-fail"].outcome.tolist() == ["ok", "error", "ok"]


@pytest.mark.slow  # over 20 s on a busy 2-core machine (a report; two worker processes)
def test_with_two_workers_a_session_stays_on_one_worker(tmp_path: Path, vendor: tuple[Vendor, str]) -> None:
    v, base_url = vendor
    run_dir, df = _run(tmp_path, base_url, "own", "--no-report", "--workers", "2")
    records = _check_records(run_dir, df)
    workers = {sid: set(g.worker) for sid, g in records.items()}
    assert all(len(w) == 1 for w in workers.values())
    assert workers["s-ok"] != workers["s-fail"]  # seq 0 and 1 went to different workers
    ok = v.by_session()["ok one"]
    assert ok[2][0][3] == ("assistant", ok[1][1])  # the worker kept its own answers across turns


def test_turns_the_run_never_got_to_are_recorded_as_not_sent(
    tmp_path: Path, vendor: tuple[Vendor, str]
) -> None:
    """Sessions start at 0.5 s and 1.5 s; turns follow 2 s after each answer; the run ends at 3 s (2 s +
    1 s grace): the first session's turn 3 (due at about 4.5 s) and the second's turns 2 and 3 (3.5 s on)
    are never sent, and each has its record."""
    v, base_url = vendor
    run_dir, df = _run(
        tmp_path, base_url, "recorded", "--no-report", load=f"{OPEN}, grace: 1s, think_time: 2s"
    )
    records = _check_records(run_dir, df)
    first, second = sorted(records.values(), key=lambda g: float(g.t_intended.iloc[0]))
    assert first.outcome.tolist()[:2] == ["ok", "ok"]
    assert first.error_class.tolist()[2] == "not_sent"
    assert second.outcome.tolist()[0] == "ok"
    assert second.error_class.tolist()[1:] == ["not_sent", "not_sent"]
    assert all("the run" in d for d in [first.error_detail.iloc[2], *second.error_detail.iloc[1:]])
    assert len(v.seen) == 3  # the vendor got exactly the three turns sent


def test_closed_model_users_play_whole_sessions_in_turn(tmp_path: Path, vendor: tuple[Vendor, str]) -> None:
    """One closed-model user plays session after session (turns in order, each with the recorded history)
    until the duration is over; no turn is left without a record and none is sent after the end."""
    v, base_url = vendor
    _run_dir, df = _run(
        tmp_path,
        base_url,
        "recorded",
        "--no-report",
        load="model: closed, users: 1, grace: 5s, think_time: 50ms",
    )
    final = df[df.is_final_attempt].sort_values("t_dispatch")
    assert final.request_id.is_unique and final.session_id.notna().all()
    sessions = [g.sort_values("turn") for _seq, g in final.groupby("seq")]
    assert len(sessions) >= 2
    for g in sessions:
        assert g.turn.tolist() == list(range(1, len(g) + 1))  # from turn 1, in order, no gap
        assert g.t_dispatch.is_monotonic_increasing
    assert all(len(g) == 3 for g in sessions[:-1])  # only the last may stop with the duration
    assert final.t_dispatch.max() < 2.0
    assert len(v.seen) == len(final)
    for body, _text in v.seen:  # every turn carried the recorded replies of the turns before it
        msgs = body["messages"][1:]
        assert all(m["content"].startswith("recorded ") for m in msgs[1::2])
