"""Server metrics in a real run: a simulated vendor with small capacity under more load than it can
serve shows requests waiting in server_metrics.parquet during the load (ground truth: the simulator's
own queue), and an endpoint whose metrics_url refuses connections leaves gaps, never a failed run."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pandas as pd
from clirun import ROOT, bakeoff_run


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: connecting is refused


SCENARIO = """
name: server-metrics
seed: 5
prompts: {prompts}
sim_profiles:
  small:
    ttft_ms: 100
    ttft_jitter_ms: 0
    tokens_per_s: 40
    output_tokens_default: 40
    capacity: 2
    queue_limit: 100
endpoints:
  - name: tight
    dialect: openai-chat
    sim: small
    model: llama-sim
  - name: roomy
    dialect: openai-chat
    sim: fast
    model: other-sim
    metrics_url: http://127.0.0.1:{closed}/metrics
contenders:
  - name: a
    primary: tight
    retries: 0
  - name: b
    primary: roomy
    retries: 0
load:
  model: open
  arrival: constant
  rate: 6/s
  users: 30
  duration: 4s
  grace: 15s
metrics_interval: 250ms
faults:
  - at: 1s
    duration: 1s
    target: roomy
    fault: outage
"""


def test_waiting_requests_show_in_server_metrics_during_the_load(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        SCENARIO.format(prompts=ROOT / "prompts" / "default.jsonl", closed=_closed_port()), encoding="utf-8"
    )
    run = bakeoff_run(scenario, tmp_path / "out", "--no-probes", timeout=150)
    df = pd.read_parquet(run / "server_metrics.parquet")
    assert list(df.columns) == ["t", "endpoint", "metric", "labels", "value", "series", "error"]
    tight = df[df["endpoint"] == "tight"]
    assert tight["error"].isna().all()
    waiting = tight[tight["metric"] == "vllm:num_requests_waiting"]
    running = tight[tight["metric"] == "vllm:num_requests_running"]
    # 6 requests/s, each holding one of 2 slots for ~1.1 s: at most ~1.8/s are served, the rest queue
    during = waiting[(waiting["t"] > 1.0) & (waiting["t"] <= 4.0)]
    assert len(during) >= 4, waiting
    assert during["value"].max() >= 3, during
    assert running["value"].max() == 2.0 and (running["value"] <= 2.0).all()
    assert set(waiting["series"]) == {"waiting"} and set(waiting["labels"]) == {'{model_name="llama-sim"}'}
    assert (waiting["t"].diff().dropna() > 0).all()  # one scrape after another on the run clock
    # the refused metrics_url: gaps only, and the run still ended 0 (bakeoff_run checked the exit code)
    roomy = df[df["endpoint"] == "roomy"]
    assert len(roomy) >= 4 and roomy["metric"].isna().all()
    assert set(roomy["error"]) == {"connect failed"}
    end = json.loads((run / "end.json").read_text(encoding="utf-8"))
    assert [p for p in end["problems"] if "server metrics" in p] == [
        f"every scrape of roomy's server metrics failed ({len(roomy)}): see server_metrics.parquet"
    ]
    # the report draws the series with the fault bands, and scores the server criteria from them
    html = (run / "report.html").read_text(encoding="utf-8")
    assert 'id="fig-server-0"' in html and "server metrics of tight" in html
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    tight_sum = summary["server_metrics"]["a"]
    assert tight_sum["endpoint"] == "tight" and tight_sum["peak_waiting"] >= 3
    assert tight_sum["peak_running"] == 2.0 and tight_sum["peak_kv_cache"] == 1.0
    roomy_sum = summary["server_metrics"]["b"]  # every scrape failed: counted, nothing measured
    assert roomy_sum["failed_scrapes"] == roomy_sum["scrapes"] >= 4 and roomy_sum["peak_waiting"] is None
    rows = {(r["contender"], r["criterion"]): r for r in summary["scorecard"]["rows"]}
    assert rows[("a", "server_saturation")]["source"] == "measured"
    assert rows[("a", "queueing_under_spike")]["source"] == "measured"
    assert rows[("a", "queueing_under_spike")]["score"] <= 1.0  # ≥ 3 waiting behind 2 running
    assert rows[("b", "server_saturation")]["label"] == "not measured"
    assert rows[("b", "server_saturation")]["reason"].startswith("every scrape of its server metrics failed")
