"""Canary key: a whole `bakeoff run` + `bakeoff report` + `bakeoff probe` + vendor bundle export with a
unique key in an environment variable; every byte written, and everything printed, is
scanned for it. One vendor is the simulator (the key is its required key, so auth really succeeds); one
vendor echoes the key it receives in its 401 error bodies, as real vendors do with part of a bad key."""

from __future__ import annotations

import base64
import contextlib
import gzip
import io
import json
import tarfile
import uuid
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from clirun import bakeoff
from vendors import http_vendor

from harness.sim import SimBehaviour, SimConfig, SimEndpoint, serve_in_thread

ENV = "CANARY_VENDOR_KEY"
FAST = SimBehaviour(ttft_ms=10, ttft_jitter_ms=0, tokens_per_s=500, rpm_limit=6000)


class _Echo(BaseHTTPRequestHandler):
    """A vendor that puts whatever key it got into its error message (never accepts it)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *_a: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        key = self.headers.get("authorization", "").removeprefix("Bearer ")
        body = json.dumps(
            {"error": {"message": f"Incorrect API key provided: {key}", "type": "invalid_request_error"}}
        ).encode()
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("x-request-id", f"req_{key}")  # echoed in a header too
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def echo_vendor() -> Iterator[int]:
    with http_vendor(_Echo) as port:
        yield port


def _forms(key: str) -> list[bytes]:
    raw = key.encode()
    return [raw, base64.b64encode(raw), base64.b64encode(b"Bearer " + raw), raw.hex().encode()]


def _blobs(path: Path) -> Iterator[tuple[str, bytes]]:
    """The file's bytes, plus the decoded contents of archives and Parquet cells."""
    data = path.read_bytes()
    yield str(path), data
    name = path.name
    if name.endswith(".gz") and not name.endswith(".tar.gz"):
        with contextlib.suppress(OSError, EOFError):
            yield f"{path}!gunzip", gzip.decompress(data)
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for member in zf.namelist():
                yield f"{path}!{member}", zf.read(member)
    with (
        contextlib.suppress(tarfile.TarError, OSError, EOFError),
        tarfile.open(fileobj=io.BytesIO(data)) as tf,
    ):
        for m in tf.getmembers():
            f = tf.extractfile(m)
            if f is not None:
                yield f"{path}!{m.name}", f.read()
    if name.endswith(".parquet"):
        import pandas as pd

        df = pd.read_parquet(path)
        yield f"{path}!cells", df.to_csv(index=False).encode()


def _leaks(root: Path, key: str) -> list[str]:
    forms = _forms(key)
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        for where, blob in _blobs(path):
            if any(f in blob for f in forms):
                found.append(where)
    return found


@pytest.mark.parametrize("workers", [0, 2])
def test_canary_key_never_written_or_printed(tmp_path: Path, workers: int) -> None:
    """With ``--workers 2`` too: worker logs, and the records workers ship to the master."""
    canary = f"sk-canary-{uuid.uuid4().hex}"
    sim_cfg = SimConfig(
        seed=5,
        endpoints=[
            SimEndpoint(
                name="vendor", dialect="openai-chat", model="gpt-sim", api_key=canary, behaviour=FAST
            ),
            SimEndpoint(
                name="vendor-ant",
                dialect="anthropic-messages",
                model="claude-sim",
                api_key=canary,
                behaviour=FAST,
            ),
        ],
    )
    work = tmp_path / "work"
    work.mkdir()
    (work / "prompts.jsonl").write_text(
        "\n".join(
            json.dumps(
                {"id": f"p{i}", "messages": [{"role": "user", "content": f"Say hello {i}."}], "max_tokens": 8}
            )
            for i in range(4)
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "reports"
    env = {ENV: canary}
    printed: list[str] = []
    with serve_in_thread(sim_cfg) as sim, echo_vendor() as echo_port:
        scenario = {
            "name": "canary",
            "seed": 1,
            "prompts": "prompts.jsonl",
            "endpoints": [
                {
                    "name": "real-oai",
                    "dialect": "openai-chat",
                    "model": "gpt-sim",
                    "base_url": sim.base_urls["vendor"],
                    "api_key_env": ENV,
                    "timeouts": {"connect": "1s", "ttft": "3s", "idle": "3s", "total": "5s"},
                },
                {
                    "name": "real-ant",
                    "dialect": "anthropic-messages",
                    "model": "claude-sim",
                    "base_url": sim.base_urls["vendor-ant"],
                    "api_key_env": ENV,
                },
                {
                    "name": "echo",
                    "dialect": "openai-chat",
                    "model": "m",
                    "base_url": f"http://127.0.0.1:{echo_port}/v1",
                    "api_key_env": ENV,
                },
            ],
            "contenders": [
                {"name": "a", "primary": "echo", "fallbacks": ["real-oai"], "backoff_base": "10ms"},
                {"name": "b", "primary": "real-ant"},
            ],
            "load": {
                "model": "open",
                "arrival": "constant",
                "rate": "4/s",
                "users": 4,
                "duration": "2s",
                "grace": "2s",
            },
            "faults": [
                {
                    "at": "1s",
                    "duration": "500ms",
                    "target": "real-ant",
                    "fault": {"kind": "http_status", "status": 500},
                }
            ],
        }
        path = work / "canary.yaml"
        path.write_text(json.dumps(scenario), encoding="utf-8")
        args = ["--workers", str(workers)] if workers else []
        run = bakeoff("run", str(path), "--out", str(out), "--quiet", "--no-report", *args, env=env)
        printed += [run.stdout, run.stderr]
        assert run.returncode == 0, run.stderr[-2000:]
        run_dirs = [p for p in out.iterdir() if p.is_dir()]
        assert len(run_dirs) == 1
        run_dir = run_dirs[0]
        assert (run_dir / "records.jsonl").stat().st_size > 0
        rep = bakeoff("report", str(run_dir), env=env)
        printed += [rep.stdout, rep.stderr]
        assert rep.returncode == 0, rep.stderr[-2000:]
        pr = bakeoff(
            "probe", str(path), "--out", str(run_dir), "--overlong-tokens", "2000", env=env, timeout=60
        )
        printed += [pr.stdout, pr.stderr]
        assert pr.returncode == 0, pr.stderr[-2000:]
        assert (run_dir / "probes.jsonl").stat().st_size > 0
    from harness.repro import export_bundle

    bundles = tmp_path / "bundles"
    bundles.mkdir()
    for contender in ("a", "b"):
        export_bundle(run_dir, contender, out=bundles / f"{contender}.bundle")
    assert any(bundles.iterdir())
    records = (run_dir / "records.jsonl").read_text(encoding="utf-8")
    assert '"endpoint":"echo"' in records and "Incorrect API key provided: [redacted]" in records
    assert '"outcome":"ok"' in records  # the canary key really authenticated
    leaks = _leaks(tmp_path, canary)
    assert leaks == [], f"canary key found in: {leaks}"
    shown = [i for i, text in enumerate(printed) if canary in text]
    assert shown == [], "canary key printed by a bakeoff command"


def test_the_scanner_finds_a_planted_key_everywhere_it_looks(tmp_path: Path) -> None:
    import pandas as pd

    key = "sk-planted-0123456789"
    (tmp_path / "plain.log").write_text(f"x {key} y", encoding="utf-8")
    (tmp_path / "b64.txt").write_bytes(base64.b64encode(b"Bearer " + key.encode()))
    (tmp_path / "x.gz").write_bytes(gzip.compress(key.encode()))
    with tarfile.open(tmp_path / "bundle.bundle", "w:gz") as tf:
        data = f"records {key}".encode()
        info = tarfile.TarInfo("inner/records.jsonl")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(tmp_path / "z.zip", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.txt", key * 3)
    pd.DataFrame({"c": [key * 5] * 50}).to_parquet(tmp_path / "r.parquet", compression="snappy")
    found = _leaks(tmp_path, key)
    assert any(w.endswith("plain.log") for w in found)
    assert any(w.endswith("x.gz!gunzip") for w in found)
    assert any(w.endswith("bundle.bundle!inner/records.jsonl") for w in found)
    assert any(w.endswith("z.zip!a.txt") for w in found)
    assert any(w.endswith("r.parquet!cells") for w in found)
    assert any(w.endswith("b64.txt") for w in found)
