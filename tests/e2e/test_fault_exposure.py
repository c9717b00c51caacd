"""Issue 13 (decision-grade verdict), the measurement side, on real runs over loopback: every contender
meets a fault on its own network path (observation 1), a latency fault shows in the window against a clean
baseline (observation 4), and a vendor refusing connections behind the proxy is ``connect_refused``
(observation 6). Each is one short ``bakeoff run`` subprocess (Locust patches the process it runs in)."""

from __future__ import annotations

import socket
from pathlib import Path

import pandas as pd
import pytest
from clirun import bakeoff_run

from harness.analysis import analyse
from harness.record import read_fault_events, read_records, read_run

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def analysed(run_dir: Path):
    return analyse(read_records(run_dir), read_fault_events(run_dir), read_run(run_dir))


def final(df: pd.DataFrame, contender: str) -> pd.DataFrame:
    return df[(df.contender == contender) & df.is_final_attempt]


def test_each_contender_meets_the_outage_on_its_own_path(tmp_path: Path) -> None:
    run_dir = bakeoff_run(HERE / "fair-exposure.yaml", tmp_path, "--no-report", "--no-probes")
    [apply, remove] = read_fault_events(run_dir)
    assert apply["target"] == "each-contender" and apply["outcome"] == remove["outcome"] == "ok"
    assert apply["paths"] == ["alpha@alpha-fast", "gamma@gamma-messages"]
    lo, hi = apply["t_applied"], remove["t_applied"]
    df = read_records(run_dir)

    def inside(f: pd.DataFrame) -> pd.DataFrame:
        return f[(f.t_intended > lo + 0.3) & (f.t_end < hi)]

    # gamma's own path to gamma-messages is dark: its requests fail there...
    gamma = inside(final(df, "gamma"))
    assert len(gamma) >= 5 and (gamma.error_class == "connect_refused").all()
    # ...while alpha's fallback reaches the same endpoint over a path of its own, which stays up
    alpha = inside(final(df, "alpha"))
    assert len(alpha) >= 5 and (alpha.outcome == "ok").all() and (alpha.endpoint == "gamma-messages").all()
    # every contender faced the same fault at the same time, on its primary
    ex = analysed(run_dir).exposure.set_index("contender")
    assert ex["shared"].all() and ex["exposed"].all() and ex["on_primary"].all()
    assert ex.loc["gamma", "endpoints"] == "gamma-messages" and ex.loc["alpha", "endpoints"] == "alpha-fast"
    assert ex["seconds_inside"].tolist() == pytest.approx([hi - lo] * 2)
    assert (ex["requests_inside"] >= 14).all()  # 4/s over a 4 s window


def test_latency_fault_shows_in_the_window_p50_ttft(tmp_path: Path) -> None:
    run_dir = bakeoff_run(HERE / "latency-fault.yaml", tmp_path, "--no-report", "--no-probes")
    a = analysed(run_dir)
    [row] = a.fault_impact.to_dict("records")
    base, window = row["baseline_p50_user_ttft_s"], row["p50_user_ttft_s"]
    change = row["p50_user_ttft_change_s"]
    print(f"\nlatency fault, p50 user TTFT: baseline {base:.3f} s, window {window:.3f} s, {change:+.3f} s")
    assert 0.18 < base < 0.3  # the vendor's own 200 ms
    assert change >= 0.25
    assert change > row["p50_user_ttft_noise_s"]
    assert row["changed"] and any("p50 user TTFT rose" in c for c in row["changes"])
    # in flight when the toxic came or went: counted apart, never in the baseline or the window
    assert row["transition_requests"] >= 1
    assert row["baseline_requests"] >= 10
    risk = next(r["text"] for r in a.risks if r["contender"] == "only")
    assert "p50 user TTFT rose" in risk and "showed no reaction" not in risk


def test_a_vendor_refusing_behind_the_proxy_is_connect_refused(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port with nothing listening (bound, never listened, then freed)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    scenario = tmp_path / "refused.yaml"
    scenario.write_text(
        f"""
name: e2e-refused
seed: 3
prompts: {ROOT / "prompts" / "chat.jsonl"}
endpoints:
  - name: gone
    dialect: openai-chat
    base_url: http://127.0.0.1:{port}/v1
    api_key_env: BAKEOFF_E2E_KEY
    model: m
    timeouts: {{connect: 1s}}
contenders:
  - {{name: only, primary: gone}}
load: {{model: open, arrival: constant, rate: 4/s, users: 4, duration: 2s, grace: 2s}}
""",
        encoding="utf-8",
    )
    run_dir = bakeoff_run(
        scenario,
        tmp_path / "out",
        "--no-report",
        "--no-probes",
        "--no-preflight",  # the load itself must meet the refusal
        env={"BAKEOFF_E2E_KEY": "sk-e2e-test"},
        exit_code=5,  # no attempt reached a vendor
    )
    manifest = read_run(run_dir).manifest
    assert manifest.endpoints[0].proxied  # the load went through the embedded proxy
    df = read_records(run_dir)
    assert len(df) >= 6
    # the proxy accepted and closed; the direct check found the vendor refusing: one class, as an outage
    assert (df.error_class == "connect_refused").all(), df.error_class.value_counts()
    assert df.error_detail.str.contains("refused the connection behind the proxy").all()
