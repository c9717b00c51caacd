"""Export a contender's bundle from a real loopback run, verify it, replay it against a simulated vendor
in this process (port 0), and check that the schedule and the fault's effect are reproduced exactly."""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from clirun import bakeoff

from harness.repro import verify_bundle
from harness.sim import SimConfig, SimEndpoint, serve_in_thread

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("source")
    proc = bakeoff("run", str(HERE / "source.yaml"), "--out", str(out), "--quiet", "--no-report")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def bundle(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "with-fallback.tar.gz"
    proc = bakeoff("repro", "export", str(run_dir), "--contender", "with-fallback", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)
    return out


@pytest.fixture(scope="module")
def vendor() -> Iterator[str]:
    cfg = SimConfig(
        seed=5, endpoints=[SimEndpoint(name="vendor", dialect="openai-chat", model="vendor-large")]
    )
    with serve_in_thread(cfg) as sim:
        yield sim.base_urls["vendor"]


def test_bundle_holds_the_contender_and_verifies(bundle: Path, run_dir: Path) -> None:
    b = verify_bundle(bundle)
    m = b.manifest
    assert m["contender"] == "with-fallback" and m["chain"]["endpoints"] == ["vendor", "other"]
    records = b.jsonl("records.jsonl")
    assert records and {r["contender"] for r in records} == {"with-fallback"}
    schedule = b.jsonl("schedule.jsonl")
    firsts = sorted((r for r in records if r["attempt"] == 1), key=lambda r: r["seq"])
    assert [(s["seq"], s["prompt_id"], s["t_intended"]) for s in schedule] == [
        (r["seq"], r["prompt_id"], r["t_intended"]) for r in firsts
    ]
    # f3 acted on other-only's own path to "other", never on with-fallback's: not in its bundle
    assert {f["fault_id"] for f in m["faults"]} == {"f1-latency", "f2-http_status"}
    assert {e["action"] for e in b.jsonl("faults.jsonl")} == {"apply", "remove"}
    assert {e["fault_id"] for e in b.jsonl("faults.jsonl")} == {"f1-latency", "f2-http_status"}
    run_manifest = json.loads((run_dir / "manifest.json").read_text())
    assert m["prompts"]["sha256_of_run"] == run_manifest["prompts"]["sha256"]
    assert b.files["prompts.jsonl"] == (ROOT / "prompts" / "chat.jsonl").read_bytes()
    readme = b.files["README.md"].decode()
    assert "bakeoff replay" in readme and "f2-http_status" in readme
    # keys travel by variable name only: no field of the bundled scenario holds a key itself
    fields = set(_field_names(yaml.safe_load(b.files["scenario.yaml"])))
    assert "endpoints" in fields and not {"api_key", "key", "authorization", "x-api-key"} & fields


def _field_names(doc: object) -> Iterator[str]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield str(k).lower()
            yield from _field_names(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _field_names(v)


def test_replay_reproduces_the_schedule_and_the_fault_effect(
    bundle: Path, vendor: str, tmp_path: Path
) -> None:
    proc = bakeoff(
        "replay",
        str(bundle),
        "--endpoint",
        vendor,
        "--api-key-env",
        "REPLAY_KEY",
        "--out",
        str(tmp_path),
        env={"REPLAY_KEY": "vendor-key"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "original" in proc.stdout and "replay" in proc.stdout
    assert "schedule: identical" in proc.stdout
    assert "f1-latency on other" in proc.stderr  # the fallback's fault cannot apply to one endpoint
    # no terminal here: progress still shows, as plain lines
    assert re.search(r"^\[ *\d+\.\d s\] with-fallback: \d+ done", proc.stderr, re.MULTILINE), proc.stderr
    replay_dir = Path(proc.stdout.strip().splitlines()[-1])
    assert not (replay_dir / "probes.jsonl").exists()  # the vendor gets the bundle's requests, nothing else
    comparison = json.loads((replay_dir / "replay-comparison.json").read_text())
    assert comparison["schedule_identical"] is True
    same, compared = comparison["first_attempt_agreement"]
    assert compared == comparison["original"]["requests"] and same == compared
    (orig,) = comparison["original"]["windows"][1:]  # the 503 window
    (obs,) = comparison["observed"]["windows"]
    assert orig["fault_id"] == obs["fault_id"] == "f2-http_status"
    assert (
        orig["primary_errors"] == obs["primary_errors"] and orig["primary_errors"]["overloaded"] >= 2
    )  # 503


def test_replay_probes_only_when_asked_and_never_the_overlong_prompt_unless_billable(
    bundle: Path, vendor: str, tmp_path: Path
) -> None:
    proc = bakeoff(
        "replay",
        str(bundle),
        "--endpoint",
        vendor,
        "--probes",
        "--quiet",
        "--out",
        str(tmp_path),
        env={"REPLAY_KEY": "vendor-key"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not re.search(r"^\[ *\d+\.\d s\]", proc.stderr, re.MULTILINE)  # --quiet
    rows = [json.loads(line) for line in (Path(proc.stdout.strip().splitlines()[-1]) / "probes.jsonl").open()]
    by_probe = {r["probe"]: r for r in rows}
    assert by_probe["bad_key"]["passed"] is not None  # the probes ran ...
    assert by_probe["overlong_context"]["passed"] is None  # ... but not the over-long prompt


def test_replay_refuses_a_remote_endpoint_without_a_key(bundle: Path, tmp_path: Path) -> None:
    proc = bakeoff(
        "replay", str(bundle), "--endpoint", "https://inference.vendor.example/v1", "--out", str(tmp_path)
    )
    assert proc.returncode == 2, proc.stderr
    assert (
        "inference.vendor.example is not this machine and no key was named: give --api-key-env" in proc.stderr
    )
    assert list(tmp_path.iterdir()) == []  # refused before anything started


def _rewrite(src: Path, dst: Path, name: str, data: bytes | None) -> None:
    with tarfile.open(src, "r:gz") as tin, tarfile.open(dst, "w:gz") as tout:
        for member in tin:
            payload = tin.extractfile(member)
            assert payload is not None
            body = payload.read()
            if member.name.endswith("/" + name):
                if data is None:
                    continue
                body = data
            info = tarfile.TarInfo(member.name)
            info.size = len(body)
            tout.addfile(info, io.BytesIO(body))


def test_a_tampered_bundle_fails_its_manifest_check_naming_the_file(bundle: Path, tmp_path: Path) -> None:
    bad = tmp_path / "tampered.tar.gz"
    _rewrite(
        bundle, bad, "schedule.jsonl", b'{"seq": 0, "t_intended": 0.0, "prompt_index": 0, "prompt_id": "x"}\n'
    )
    proc = bakeoff("repro", "verify", str(bad))
    assert proc.returncode == 2
    assert "schedule.jsonl: sha256 mismatch" in proc.stderr and "Traceback" not in proc.stderr
    proc = bakeoff("replay", str(bad), "--endpoint", "http://127.0.0.1:9/v1")
    assert proc.returncode == 2 and "schedule.jsonl: sha256 mismatch" in proc.stderr
    gone = tmp_path / "missing.tar.gz"
    _rewrite(bundle, gone, "records.jsonl", None)
    proc = bakeoff("repro", "verify", str(gone))
    assert proc.returncode == 2 and "records.jsonl: listed in SHA256SUMS but missing" in proc.stderr


def test_redacted_export_ships_no_prompt_or_answer_text(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "redacted.tar.gz"
    proc = bakeoff(
        "repro",
        "export",
        str(run_dir),
        "--contender",
        "with-fallback",
        "--fault",
        "f2-http_status",
        "--redact-prompts",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    b = verify_bundle(out)
    rows = b.jsonl("prompts.jsonl")
    assert rows and all(
        set(r) == {"id", "class", "redacted", "input_tokens", "messages", "max_tokens", "tools"} for r in rows
    )
    assert all(r["output_excerpt"] is None for r in b.jsonl("records.jsonl"))
    assert [f["fault_id"] for f in b.manifest["faults"]] == ["f2-http_status"]
    assert "Why does the sea" not in b"".join(b.files.values()).decode("utf-8", "replace")


def test_export_errors_are_one_line(run_dir: Path) -> None:
    proc = bakeoff("repro", "export", str(run_dir), "--contender", "nobody")
    assert proc.returncode == 2 and "no contender 'nobody'" in proc.stderr and "Traceback" not in proc.stderr
    proc = bakeoff("repro", "export", str(run_dir), "--contender", "other-only", "--fault", "f2-http_status")
    assert proc.returncode == 2 and "--fault" in proc.stderr
