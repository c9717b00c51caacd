"""``python -m harness.sim``: start-up lines, /healthz, SIGTERM exits 0, a bad file exits 2."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx


def test_cli_serves_and_stops(tmp_path: Path) -> None:
    cfg = tmp_path / "sim.yaml"
    cfg.write_text(
        "seed: 1\nendpoints:\n"
        "  - {name: a, dialect: openai-chat, model: m, behaviour: fast}\n"
        "  - {name: b, dialect: anthropic-messages, model: c}\n"
        "  - {name: z, dialect: azure-openai, model: d}\n"
    )
    gt = tmp_path / "gt.jsonl"
    p = subprocess.Popen(
        [sys.executable, "-m", "harness.sim", "--config", str(cfg), "--port", "0", "--ground-truth", str(gt)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout is not None and p.stderr is not None
        lines = [p.stdout.readline().strip() for _ in range(3)]
        port = int(lines[0].split(":")[2].split("/")[0])
        assert lines == [
            f"a openai-chat http://127.0.0.1:{port}/a/v1",
            f"b anthropic-messages http://127.0.0.1:{port}/b",
            f"z azure-openai http://127.0.0.1:{port}/z",
        ]
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        r = httpx.post(
            f"http://127.0.0.1:{port}/a/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "What is 2 + 2?"}]},
            headers={"authorization": "Bearer k"},
            timeout=5,
        )
        assert "4" in r.json()["choices"][0]["message"]["content"]
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0
        assert "WARNING" not in p.stderr.read()  # loopback by default: nothing to warn about
        assert gt.read_text().count("\n") == 1
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
        for stream in (p.stdout, p.stderr):
            if stream is not None:
                stream.close()


def test_cli_bad_config_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("endpoints:\n  - {name: a, dialect: nope, model: m}\n")
    r = subprocess.run(
        [sys.executable, "-m", "harness.sim", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert r.returncode == 2
    assert "$.endpoints[0].dialect" in r.stderr and "Traceback" not in r.stderr


def test_cli_workers_share_one_port_and_one_ground_truth_file(tmp_path: Path) -> None:
    cfg = tmp_path / "sim.yaml"
    cfg.write_text(
        "seed: 1\nendpoints:\n"
        "  - {name: a, dialect: openai-chat, model: m, behaviour: {ttft_ms: 0, tokens_per_s: 1e5}}\n"
    )
    gt = tmp_path / "gt.jsonl"
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.sim",
            "--config",
            str(cfg),
            "--workers",
            "2",
            "--ground-truth",
            str(gt),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout is not None
        url = p.stdout.readline().split()[2]
        body = {"model": "m", "messages": [{"role": "user", "content": "What is 6 * 7?"}]}
        for _ in range(20):  # new connection each time: the kernel spreads them over both processes
            r = httpx.post(
                url + "/chat/completions", json=body, headers={"authorization": "Bearer k"}, timeout=5
            )
            assert "42" in r.json()["choices"][0]["message"]["content"]
        p.send_signal(signal.SIGTERM)
        assert p.wait(15) == 0
        lines = gt.read_text().splitlines()
        assert len(lines) == 20 and all(line.startswith("{") and line.endswith("}") for line in lines)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
