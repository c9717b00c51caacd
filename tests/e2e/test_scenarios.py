"""The scenario library: every shipped scenario validates, and the short variant of each runs on loopback
and shows the effect it is named after (spike → 429/overload, failover → fallback, malformed → fast 4xx...).

Each short run is one ``bakeoff run`` subprocess (Locust patches the process it runs in), started lazily
and shared by the tests of that scenario.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.config import load_prompts, load_scenario
from harness.config._models import Endpoint, PromptItem
from harness.dialects import get_dialect
from harness.record import read_fault_events, read_records
from harness.tokens import count_tokens

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
SHORT = SCENARIOS / "short"
PROMPTS = ROOT / "prompts"
# Scenarios that only make sense with their own stack (docker compose); validated, not run here.
NO_SHORT = {"compose"}
# Variables a scenario may name with api_key_env (compose's simulated vendors take any non-empty key).
ENV = {"SIM_API_KEY": "bakeoff-simulated-vendor"}


def _shipped() -> list[Path]:
    return sorted(SCENARIOS.glob("*.yaml")) + sorted(SHORT.glob("*.yaml"))


@pytest.mark.parametrize("path", _shipped(), ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_every_shipped_scenario_validates(path: Path) -> None:
    resolved = load_scenario(path, environ=ENV)
    assert resolved.prompts
    text = path.read_text(encoding="utf-8")
    if path.parent == SCENARIOS:
        # the header says what it tests and what a good vendor does
        assert text.startswith("#"), f"{path.name}: header comment missing"


def test_every_scenario_has_a_short_variant_that_fits_in_15_s() -> None:
    full = {p.stem for p in SCENARIOS.glob("*.yaml")} - NO_SHORT
    short = {p.stem for p in SHORT.glob("*.yaml")}
    assert full == short
    for path in SHORT.glob("*.yaml"):
        sc = load_scenario(path, environ=ENV).scenario
        assert sc.load.duration <= 15, path.name
        for entry in sc.faults:
            assert entry.at < sc.load.duration, path.name
            if entry.duration is not None:
                assert entry.at + entry.duration <= sc.load.duration, path.name


def test_prompt_sets_load_with_unique_ids_and_classes() -> None:
    sets = sorted(PROMPTS.glob("*.jsonl"))
    assert {p.name for p in sets} >= {
        "chat.jsonl",
        "long-context.jsonl",
        "tools.jsonl",
        "json.jsonl",
        "multilingual.jsonl",
        "edge-cases.jsonl",
        "malformed.jsonl",
    }
    for path in sets:
        items, sha, problems = load_prompts(path)
        assert not problems, problems
        assert len(sha) == 64
        assert len({i.id for i in items}) == len(items)
        assert all(i.prompt_class for i in items)
    json_items, _, _ = load_prompts(PROMPTS / "json.jsonl")
    assert all(i.check is not None and i.check.json_schema for i in json_items)
    tool_items, _, _ = load_prompts(PROMPTS / "tools.jsonl")
    assert all(i.tools for i in tool_items)


def test_long_context_set_is_generated_from_the_shipped_corpus() -> None:
    sys.path.insert(0, str(PROMPTS / "corpus"))
    try:
        import build_long_context  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    assert build_long_context.build() == (PROMPTS / "long-context.jsonl").read_text(encoding="utf-8")
    total = sum(p.stat().st_size for p in (PROMPTS / "corpus").iterdir()) + sum(
        p.stat().st_size for p in PROMPTS.glob("*.jsonl") if p.name != "length-tiers.jsonl"
    )
    assert total < 300_000
    assert "public domain" in (PROMPTS / "corpus" / "README.md").read_text(encoding="utf-8")


def test_length_tiers_are_bakeoff_prompts_synth_output() -> None:
    """prompts/length-tiers.jsonl is two `bakeoff prompts synth` runs (see prompts/README.md), kept under
    2 MB: 100, 1k and 10k input tokens five prompts each, 100k one, each at 300 and 2,000 output tokens."""
    from harness.config import synth_prompts

    path = PROMPTS / "length-tiers.jsonl"
    assert path.stat().st_size < 2_000_000
    items = [
        *synth_prompts([100, 1000, 10_000], [300, 2000], per_tier=5, seed=19),
        *synth_prompts([100_000], [300, 2000], per_tier=1, seed=19),
    ]
    shipped = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert shipped == [i.model_dump(mode="json", by_alias=True, exclude_defaults=True) for i in items]


def test_sessions_set_is_generated_from_the_shipped_corpus() -> None:
    sys.path.insert(0, str(PROMPTS / "corpus"))
    try:
        import build_sessions  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    assert build_sessions.build() == (PROMPTS / "sessions.jsonl").read_text(encoding="utf-8")


@pytest.mark.parametrize("dialect", ["openai-chat", "anthropic-messages"])
def test_malformed_prompts_are_sent_as_written(dialect: str) -> None:
    ep = Endpoint(name="x", dialect=dialect, model="m", sim="fast")  # type: ignore[arg-type]
    for line in (PROMPTS / "malformed.jsonl").read_text(encoding="utf-8").splitlines():
        prompt = PromptItem.model_validate(json.loads(line))
        req = get_dialect(dialect).build_request(ep, prompt, base_url="http://h/v1", api_key="k", stream=True)
        assert json.loads(req.body)["tools"], prompt.id


# ---------------------------------------------------------------------------------------------- runs


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], pd.DataFrame]]:
    done: dict[str, pd.DataFrame] = {}
    out = tmp_path_factory.mktemp("scenario-runs")

    def run(name: str) -> pd.DataFrame:
        if name not in done:
            proc = subprocess.run(
                [
                    *(sys.executable, "-m", "harness.cli", "run", str(SHORT / f"{name}.yaml")),
                    *("--out", str(out / name), "--quiet", "--no-report"),
                ],
                capture_output=True,
                text=True,
                timeout=90,
                check=False,
                cwd=ROOT,
            )
            assert proc.returncode == 0, proc.stderr[-3000:]
            run_dir = Path(proc.stdout.strip().splitlines()[-1])
            df = read_records(run_dir)
            df.attrs["faults"] = read_fault_events(run_dir)
            df.attrs["run_dir"] = run_dir
            df["ttft"] = df["t_first_token"] - df["t_dispatch"]
            df["e2e"] = df["t_end"] - df["t_dispatch"]
            done[name] = df
        return done[name]

    yield run


def _final(df: pd.DataFrame, contender: str) -> pd.DataFrame:
    return df[(df.contender == contender) & df.is_final_attempt]


def _window(df: pd.DataFrame, fault_index: int = 0) -> tuple[float, float]:
    events: list[dict[str, Any]] = df.attrs["faults"]
    applied = [e for e in events if e["action"] == "apply"][fault_index]
    removed = next(e for e in events if e["action"] == "remove" and e["fault_id"] == applied["fault_id"])
    return float(applied["t_applied"]), float(removed["t_applied"])


def test_spike_meets_429s_and_overloads_at_the_tight_vendor(short_run: Callable[[str], pd.DataFrame]) -> None:
    df = short_run("request-spike")
    tight = df[df.contender == "tight"]
    errors = tight[tight.outcome == "error"]
    assert set(errors.error_class) <= {"http_429", "overloaded"}
    assert len(errors) >= 3
    # nothing fails before the spike (3 s); the refusals come with the burst
    assert (tight[tight.t_intended < 2.5].outcome == "ok").all()
    assert errors.t_intended.min() >= 3.0
    assert (df[df.contender == "elastic"].outcome == "ok").all()


def test_long_prompts_start_later_at_the_slow_prefill_vendor(
    short_run: Callable[[str], pd.DataFrame],
) -> None:
    df = short_run("long-context")
    assert (df.outcome == "ok").all()

    def ttft(contender: str, prompt_id: str) -> float:
        rows = df[(df.contender == contender) & (df.prompt_id == prompt_id)]
        assert len(rows), (contender, prompt_id)
        return float(rows.ttft.median())

    slow_gap = ttft("slow-prefill", "lc-8k-two-copies") - ttft("slow-prefill", "lc-1k")
    quick_gap = ttft("quick-prefill", "lc-8k-two-copies") - ttft("quick-prefill", "lc-1k")
    assert slow_gap > 1.0  # ~6.6k extra tokens x 250 ms per 1k
    assert quick_gap < slow_gap / 2


def test_caching_hits_start_sooner_and_cost_less(short_run: Callable[[str], pd.DataFrame]) -> None:
    df = short_run("caching")
    assert (df.outcome == "ok").all()
    system = json.loads((PROMPTS / "sessions.jsonl").read_text(encoding="utf-8").splitlines()[0])["system"]
    prefix = count_tokens(system) + 3  # the system message and its framing: the shortest cached prefix
    on, off = _final(df, "anthropic-cache-on"), _final(df, "anthropic-cache-off")
    auto, none = _final(df, "openai-auto-cache"), _final(df, "openai-no-cache")
    assert len(on) == len(off) == len(auto) == len(none) == 20  # two sessions of 10 turns each
    # Anthropic, asked to cache the system prompt and the conversation: the very first turn writes
    # both; every later one reads at least the system prompt, and a session's turns read more and more
    first = on.sort_values("t_dispatch").iloc[0]
    assert first.cached_input_tokens == 0 and first.cache_write_tokens > prefix
    assert (on.cached_input_tokens >= prefix).sum() == len(on) - 1
    for _seq, session in on.groupby("seq"):
        reads = session.sort_values("turn").cached_input_tokens.iloc[1:]
        assert reads.is_monotonic_increasing and reads.is_unique
    assert (off.cached_input_tokens.fillna(0) == 0).all() and (off.cache_write_tokens.fillna(0) == 0).all()
    # OpenAI-style: automatic, in 128-token steps; the vendor without a cache never reports one
    assert (auto.cached_input_tokens >= 1024).sum() == len(auto) - 1
    assert (auto.cached_input_tokens % 128 == 0).all()
    assert (none.cached_input_tokens.fillna(0) == 0).all()
    # 150 ms per 1k uncached tokens: a hit skips ~0.5 s of prefill; and cached tokens cost less: a tenth
    # of the input price at Anthropic (hits cost < 1/2 of a miss), half at OpenAI (< 0.6 of a miss)
    for cached, plain, ratio in ((on, off, 0.5), (auto, none, 0.6)):
        hits = cached[cached.cached_input_tokens > 0]
        assert hits.ttft.median() < plain.ttft.median() - 0.3
        assert hits.cost_usd.mean() < plain.cost_usd.mean() * ratio


def test_tool_outage_fails_the_direct_contender_and_the_fallback_rescues(
    short_run: Callable[[str], pd.DataFrame],
) -> None:
    df = short_run("tool-outage")
    start, end = _window(df)
    direct = _final(df, "acme-direct")
    inside = direct[(direct.t_dispatch >= start) & (direct.t_dispatch < end)]
    assert len(inside) >= 5
    assert (inside.status == 502).all() and (inside.error_class == "http_5xx").all()
    assert (direct[direct.t_dispatch >= end + 0.1].outcome == "ok").all()
    failover = _final(df, "acme-failover")
    assert (failover.outcome == "ok").all()
    rescued = failover[failover.endpoint == "backup-tools"]
    assert len(rescued) >= 3
    assert (rescued.fallback_from == "acme-tools").all()
    # the other vendor answered with a tool call (its streamed tool text carries the arguments only, so
    # the name check is asserted on the OpenAI-style primary, before and after the window); a second leg
    # (class tool-result: the call and its result already in the conversation) is answered in text
    first_leg = rescued.prompt_class == "tool-call"
    assert (rescued[first_leg].finish_reason == "tool_use").all()
    assert (rescued[~first_leg].finish_reason == "end_turn").all()
    assert direct[direct.outcome == "ok"].check_passed.astype(bool).all()


def test_regional_failover_falls_back_to_the_other_region(short_run: Callable[[str], pd.DataFrame]) -> None:
    df = short_run("regional-failover")
    start, end = _window(df)
    single = _final(df, "single-region")
    lost = single[single.outcome == "error"]
    assert len(lost) >= 3
    assert lost.t_end.between(start - 0.1, end + 0.5).all()  # streams open at the cut fail too
    multi = _final(df, "multi-region")
    assert (multi.outcome == "ok").all()
    moved = multi[multi.endpoint == "vendor-us-east"]
    assert len(moved) >= 3 and (moved.fallback_from == "vendor-eu-west").all()
    # back home once the region returns and the cooldown has passed
    late = multi[multi.t_intended > end + 1.5]
    assert len(late) and (late.endpoint == "vendor-eu-west").all()


def test_rate_limits_answer_429_with_retry_after_and_fallback_keeps_serving(
    short_run: Callable[[str], pd.DataFrame],
) -> None:
    df = short_run("rate-limits")
    throttled = df[df.error_class == "http_429"]
    assert len(throttled) >= 5
    assert throttled.retry_after_s.notna().any()
    assert (throttled.status == 429).all()
    assert (_final(df, "limited-with-fallback").outcome == "ok").all()
    assert (df[df.contender == "limited-with-fallback"].endpoint == "spare-vendor").any()


def test_malformed_inputs_get_prompt_4xx_never_5xx_or_a_hang(
    short_run: Callable[[str], pd.DataFrame],
) -> None:
    df = short_run("malformed-inputs")
    assert len(df) >= 20
    assert df.status.between(400, 499).all()
    assert (df.error_class == "http_4xx").all()
    assert (df.e2e < 1.0).all()
    assert (df.attempt == 1).all()  # no retry, no fallback on a 4xx


def test_brownout_adds_latency_only_inside_its_window(short_run: Callable[[str], pd.DataFrame]) -> None:
    df = short_run("brownout")
    start, end = _window(df)
    ok = df[df.outcome == "ok"]
    before = ok[ok.t_dispatch < start - 0.2].ttft.median()
    during = ok[(ok.t_dispatch > start + 0.1) & (ok.t_dispatch < end - 0.5)].ttft.median()
    after = ok[ok.t_dispatch > end + 0.5].ttft.median()
    assert during - before > 0.25
    assert after - before < 0.15


def test_mid_stream_cuts_truncate_streams_inside_the_window(short_run: Callable[[str], pd.DataFrame]) -> None:
    df = short_run("mid-stream-cuts")
    start, end = _window(df)
    cut = df[df.error_class == "stream_truncated"]
    assert len(cut) >= 5
    assert cut.t_dispatch.between(start - 0.05, end + 0.05).all()
    assert cut.fault_injected.notna().all()
    assert (cut.status == 200).all() and (cut.t_first_token.notna()).all()  # the answer had started
    retried = df[(df.contender == "retrying") & (df.attempt == 2)]
    assert len(retried) >= 3


@pytest.mark.slow
def test_capacity_short_finds_each_knee_and_its_limit(short_run: Callable[[str], pd.DataFrame]) -> None:
    from harness.analysis import analyse
    from harness.record import read_run

    run_dir = short_run("capacity").attrs["run_dir"]
    cap = analyse(read_records(run_dir), read_fault_events(run_dir), read_run(run_dir)).capacity
    assert set(cap) == {"roomy", "tight", "metered"}
    # answers take 1.0 s: tight's 4 slots give 4 req/s, roomy's 8 give 8; metered is held to 300 RPM = 5/s
    assert cap["tight"]["limit"] == "overload" and 3.25 <= cap["tight"]["sustainable_rps"] <= 4.5
    assert cap["roomy"]["limit"] == "overload" and 7.0 <= cap["roomy"]["sustainable_rps"] <= 9.5
    assert cap["metered"]["limit"] == "quota" and 4.5 <= cap["metered"]["sustainable_rps"] <= 5.75


def test_reasoning_short_shows_thinking_before_the_first_output(
    short_run: Callable[[str], pd.DataFrame],
) -> None:
    df = short_run("reasoning")
    assert (df.outcome == "ok").all() and df.check_passed.all()
    df["ttfot"] = df["t_first_output"] - df["t_dispatch"]
    think_s = 120 / 400  # reasoning_tokens at tokens_per_s
    for name in ("r1-style", "claude-thinking"):  # thinking streamed: early first token, late first output
        rows = _final(df, name)
        assert (rows.reasoning_tokens == 120).all(), name
        assert ((rows.ttfot - rows.ttft) >= 0.8 * think_s).all(), name
    hidden = _final(df, "o-style")  # counted, never streamed: the first token is the output's, and late
    assert (hidden.reasoning_tokens == 120).all()
    assert (hidden.t_first_output == hidden.t_first_token).all()
    assert (hidden.ttft >= think_s).all()
    plain = _final(df, "claude-plain")
    assert plain.reasoning_tokens.isna().all() and (plain.t_first_output == plain.t_first_token).all()
    assert plain.ttft.median() < think_s


def test_length_tiers_short_sends_every_tier_and_prefill_grows_with_input(
    short_run: Callable[[str], pd.DataFrame],
) -> None:
    df = short_run("length-tiers")
    assert (df.outcome == "ok").all()
    tiers = {f"in{i}-out{o}" for i in ("100", "1k", "10k", "100k") for o in ("300", "2k")}
    for name in ("quick-prefill", "slow-prefill"):
        assert set(_final(df, name).prompt_class) == tiers, name
    slow = _final(df, "slow-prefill")
    by_tier = slow.groupby(slow.prompt_class.str.split("-").str[0]).ttft.median()
    assert by_tier["in100k"] - by_tier["in100"] > 1.0  # ~100k tokens x 15 ms per 1k
    assert by_tier["in100"] <= by_tier["in10k"] <= by_tier["in100k"]
    assert (slow.input_tokens >= 100).all() and slow.output_tokens.max() <= 2000


def test_sessions_short_grows_the_prompt_turn_by_turn(short_run: Callable[[str], pd.DataFrame]) -> None:
    df = short_run("sessions")
    assert (df.outcome == "ok").all()
    for contender in ("quick-prefill", "slow-prefill"):
        final = _final(df, contender)
        assert len(final) == 20  # two sessions of 10 turns
        for _seq, rows in final.groupby("seq"):
            session = rows.sort_values("turn")
            assert session.turn.tolist() == list(range(1, 11))
            assert session.input_tokens.is_monotonic_increasing and session.input_tokens.is_unique
            assert session.input_tokens.iloc[0] > 4000  # the 4,000-token system prompt and the first turn
    # ~4.1k-4.4k tokens at 150 ms per 1k vs 40 ms per 1k: about 0.45 s more before the first token
    gap = _final(df, "slow-prefill").ttft.median() - _final(df, "quick-prefill").ttft.median()
    assert gap > 0.25


@pytest.mark.slow
def test_soak_short_stays_clean(short_run: Callable[[str], pd.DataFrame]) -> None:
    df = short_run("soak")
    assert len(df) >= 10 and (df.outcome == "ok").all()


def test_default_short_falls_back_during_the_outage(short_run: Callable[[str], pd.DataFrame]) -> None:
    df = short_run("default")
    alpha = _final(df, "alpha")
    assert (alpha.outcome == "ok").all()
    assert (alpha.endpoint == "gamma-messages").sum() >= 3
    # the same outage hit every contender at once, each on its own path: without a fallback, beta and
    # gamma lose what they were asked inside it (alpha's path to gamma-messages is not gamma's)
    start, end = _window(df)
    for name in ("beta", "gamma"):
        inside = _final(df, name)
        inside = inside[(inside.t_intended > start + 0.3) & (inside.t_end < end)]
        assert len(inside) >= 3 and (inside.error_class == "connect_refused").all(), name


def test_capacity_search_short_finds_each_knee_and_stops_raising_a_failed_contender(
    short_run: Callable[[str], pd.DataFrame],
) -> None:
    from harness.analysis import analyse
    from harness.record import read_run

    df = short_run("capacity-search")
    run_dir = df.attrs["run_dir"]
    run = read_run(run_dir)
    cap = analyse(read_records(run_dir), read_fault_events(run_dir), run).capacity
    # service time by hand: the first token after 100 ms brings the first chunk of 4 tokens, the other 16
    # follow at 50 tokens/s: 0.1 + 16 / 50 = 0.42 s; tight has 4 slots, roomy 8; metered 480 RPM = 8/s
    service = 0.1 + 16 / 50
    truth = {"tight": 4 / service, "roomy": 8 / service, "metered": 480 / 60}
    for name in ("tight", "roomy"):
        # too slow past the knee: queueing (overload) — or "latency" when the first step, 4 requests on
        # fresh connections, is too noisy a baseline to tell the time before the first token apart
        assert cap[name]["limit"] in ("overload", "latency"), (name, cap[name])
        assert abs(cap[name]["sustainable_rps"] / truth[name] - 1) <= 0.15, (name, cap[name], truth[name])
    # a quota with no burst (a 1-request bucket) refuses a request dispatched a few ms early: it may read low
    assert cap["metered"]["limit"] == "quota"
    assert 0.7 <= cap["metered"]["sustainable_rps"] / truth["metered"] <= 1.15, cap["metered"]

    assert run.end is not None and run.end.search is not None
    log = run.end.search
    step_s = 1.2
    for name in truth:
        final = _final(df, name)
        windows = log["steps"][name]
        # every request the search scheduled has its final record, and each belongs to one of its steps
        assert len(final) == log["done"][name]["scheduled"] == final.request_id.nunique()
        for w in windows:
            inside = final[(final.t_intended >= w["t_start_s"]) & (final.t_intended < w["t_end_s"])]
            assert abs(len(inside) - w["offered_rps"] * step_s) <= 1, (name, w, len(inside))
        assert sum(
            ((final.t_intended >= w["t_start_s"]) & (final.t_intended < w["t_end_s"])).sum() for w in windows
        ) == len(final)
        # once a step failed clearly, no later step offers that rate or more: no money burnt past the knee
        steps = {(s["t_start_s"], s["offered_rps"]): s for s in cap[name]["steps"]}
        failed_at = [
            w for w in windows if not steps.get((w["t_start_s"], w["offered_rps"]), {}).get("passed", True)
        ]
        if failed_at:
            first = min(failed_at, key=lambda w: w["t_start_s"])
            later = [w for w in windows if w["t_start_s"] > first["t_start_s"]]
            assert all(w["offered_rps"] < first["offered_rps"] for w in later), (name, windows)
            after = final[final.t_intended >= first["t_end_s"]]
            assert (after.t_dispatch.dropna() >= first["t_end_s"]).all()
    # tight failed first on the ramp (at 12/s) while roomy went on to 24/s in the same round as tight's
    # first refinement step
    ramp = {
        name: [w["offered_rps"] for w in log["steps"][name] if w["phase"] == "ramp" and not w["superseded"]]
        for name in truth
    }
    assert ramp["tight"] == [3, 6, 12] and ramp["roomy"] == [3, 6, 12, 24]
    roomy_24 = next(w for w in log["steps"]["roomy"] if w["offered_rps"] == 24)
    same_round = [w for w in log["steps"]["tight"] if w["step"] == roomy_24["step"]]
    assert len(same_round) == 1 and same_round[0]["offered_rps"] < 12
    assert same_round[0]["t_start_s"] == roomy_24["t_start_s"]
    # no request of a contender was dispatched after its search ended (a contender that is done gets
    # nothing more while the others go on)
    for name in truth:
        end = log["done"][name]["at_s"]
        assert df[df.contender == name].t_dispatch.dropna().max() < end
    first_done = min(truth, key=lambda n: log["done"][n]["at_s"])
    others = df[(df.contender != first_done) & (df.t_dispatch > log["done"][first_done]["at_s"])]
    assert len(others) or len({log["done"][n]["at_s"] for n in truth}) == 1


def test_capacity_search_refuses_distributed_load_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "harness.cli", "run", str(SHORT / "capacity-search.yaml")),
            *("--out", str(tmp_path), "--workers", "2", "--quiet"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "load.search" in lines[0] and "--workers" in lines[0], proc.stderr
    assert not list(tmp_path.iterdir())  # nothing started
