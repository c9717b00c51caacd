"""Every bad-input case of the config loader names the exact file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness import ConfigError
from harness.config import load_scenario

PROMPT = '{"id": "p1", "messages": [{"role": "user", "content": "hi"}]}\n'

GOOD = """\
name: t
prompts: p.jsonl
endpoints:
  - name: a
    dialect: openai-chat
    sim: fast
    model: m
  - name: b
    dialect: anthropic-messages
    sim: slow
    model: m2
contenders:
  - name: c
    primary: a
    fallbacks: [b]
faults:
  - at: 5s
    duration: 2s
    target: a
    fault: {kind: outage}
"""


def write(tmp_path: Path, text: str, prompts: str = PROMPT) -> Path:
    (tmp_path / "p.jsonl").write_text(prompts)
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(path: Path, **kw: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_scenario(path, **kw)  # type: ignore[arg-type]
    return [p.replace(str(path), "S") for p in info.value.problems]


def test_good_scenario_resolves(tmp_path: Path) -> None:
    r = load_scenario(write(tmp_path, GOOD))
    assert [e.name for e in r.scenario.endpoints] == ["a", "b"]
    assert r.faults[0].endpoints == ("a",)
    assert len(r.prompts_sha256) == 64


TWO = GOOD.replace(
    "faults:\n",
    "  - name: d\n    primary: b\nfaults:\n",
)


@pytest.mark.parametrize(
    ("target", "scope", "endpoints", "paths"),
    [
        # the vendor endpoint itself: every contender that uses it, primary or fallback
        ("b", "endpoint", ("b",), ("c@b", "d@b")),
        # one contender: its own paths only, nobody else's (d also uses b, on a path of its own)
        ("c", "contender", ("a", "b"), ("c@a", "c@b")),
        # every contender at the same offset, each on its own path to its primary
        ("each-contender", "each-contender", ("a", "b"), ("c@a", "d@b")),
    ],
)
def test_fault_targets_resolve_to_network_paths(
    tmp_path: Path, target: str, scope: str, endpoints: tuple[str, ...], paths: tuple[str, ...]
) -> None:
    r = load_scenario(write(tmp_path, TWO.replace("    target: a\n", f"    target: {target}\n")))
    [f] = r.faults
    assert (f.scope, f.endpoints, f.paths) == (scope, endpoints, paths)
    assert f.path_keys == paths
    # HTTP faults on the vendor itself match the endpoint for any contender; otherwise only the paths
    assert f.http_keys == (endpoints if scope == "endpoint" else paths)


def test_endpoint_nobody_uses_has_a_path_of_its_own(tmp_path: Path) -> None:
    text = GOOD.replace("    fallbacks: [b]\n", "").replace("    target: a\n", "    target: b\n")
    [f] = load_scenario(write(tmp_path, text)).faults
    assert (f.scope, f.paths) == ("endpoint", ("b",))


def test_each_contender_is_reserved(tmp_path: Path) -> None:
    text = TWO.replace("  - name: d\n", "  - name: each-contender\n").replace(
        "  - name: b\n", "  - name: each-contender\n"
    )
    text = text.replace("fallbacks: [b]", "fallbacks: [each-contender]").replace(
        "    primary: b\n", "    primary: each-contender\n"
    )
    out = problems(write(tmp_path, text))
    reserved = "'each-contender' is reserved: as a fault target it means every contender at once"
    assert f"S:8: endpoints[1].name: {reserved}" in out
    assert f"S:16: contenders[1].name: {reserved}" in out


def test_unknown_key(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    model: m2\n", "    model: m2\n    colour: red\n"))
    assert problems(path) == ["S:12: endpoints[1].colour: unknown key"]


def test_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    fallbacks: [b]\n", "    fallbacks: [b]\n    retries: lots\n"))
    [line] = problems(path)
    assert line.startswith("S:16: contenders[0].retries: ")
    assert "integer" in line and "'lots'" in line


def test_bad_duration(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    duration: 2s\n", "    duration: 2 fortnights\n"))
    [line] = problems(path)
    assert line.startswith("S:18: faults[0].duration: bad duration '2 fortnights'")


def test_missing_environment_variable(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    sim: fast\n", "    base_url: https://api.example.com/v1\n    api_key_env: NO_SUCH_KEY_X\n"
    )
    path = write(tmp_path, text)
    assert problems(path) == [
        "S:7: endpoints[0].api_key_env: environment variable NO_SUCH_KEY_X is not set "
        "(bakeoff validate --lint checks a scenario without its keys)"
    ]
    # with the variable set, the same file loads and the key stays out of the repr
    r = load_scenario(path, environ={"NO_SUCH_KEY_X": "sk-secret-canary"})
    assert r.api_keys == {"a": "sk-secret-canary"}
    assert "sk-secret-canary" not in repr(r)


def test_key_written_in_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    sim: fast\n", "    sim: fast\n    api_key: sk-oops\n"))
    assert problems(path) == [
        "S:7: endpoints[0].api_key: API keys are never written in files: name the variable with api_key_env"
    ]


def test_missing_referenced_files(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("prompts: p.jsonl", "prompts: nope.jsonl"))
    [line] = problems(path)
    assert line.startswith("S:2: prompts: file not found: ") and line.endswith("nope.jsonl")
    path = write(tmp_path, GOOD.replace("fault: {kind: outage}", "fault: no-such-fault"))
    [line] = problems(path)
    assert line.startswith(
        "S:20: faults[0].fault: no fault named 'no-such-fault' (looked for no-such-fault.yaml in: "
    )
    for place in ("(next to the scenario)", "(beside the scenario's folder)", "(user library)", "(built-in)"):
        assert place in line


def test_duplicate_names(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD.replace("  - name: b\n", "  - name: a\n").replace("fallbacks: [b]", "fallbacks: []")
    )
    assert problems(path) == ["S:8: endpoints[1].name: duplicate endpoint name 'a'"]


def test_fallback_chain_names_unknown_endpoint(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("fallbacks: [b]", "fallbacks: [b, zz]"))
    assert problems(path) == ["S:15: contenders[0].fallbacks[1]: fallback chain names unknown endpoint 'zz'"]


def test_unknown_fault_target_and_sim_profile(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("target: a", "target: nobody").replace("sim: slow", "sim: glacial"))
    out = problems(path)
    assert "S:10: endpoints[1].sim: unknown sim profile 'glacial' (known: fast, slow, steady)" in out
    assert (
        "S:19: faults[0].target: unknown endpoint or contender 'nobody' (or each-contender: every "
        "contender at once, each on its own path to its primary)" in out
    )


def test_several_problems_one_line_each_in_file_order(tmp_path: Path) -> None:
    text = GOOD.replace("    model: m2\n", "    model: m2\n    colour: red\n").replace(
        "fallbacks: [b]", "fallbacks: [q]"
    )
    out = problems(write(tmp_path, text))
    assert out == [
        "S:12: endpoints[1].colour: unknown key",
        "S:16: contenders[0].fallbacks[0]: fallback chain names unknown endpoint 'q'",
    ]


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("  - name: c\n", "  - name: c: d\n"))
    [line] = problems(path)
    assert line.startswith("S:13: yaml: ")


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("name: t\n", "name: t\nname: u\n"))
    assert problems(path) == ["S:2: name: duplicate key"]


def test_prompt_file_problems_name_their_line(tmp_path: Path) -> None:
    bad = PROMPT + '{"id": "p2", "messages": [], "temprature": 1}\n' + "not json\n" + PROMPT
    out = problems(write(tmp_path, GOOD, prompts=bad))
    prompts = str(tmp_path / "p.jsonl")
    shown = [line.replace(prompts, "P") for line in out]
    assert any(x.startswith("P:2: messages: ") for x in shown)
    assert "P:2: temprature: unknown key (did you mean 'temperature'?)" in shown
    assert any(x.startswith("P:3: invalid JSON") for x in shown)
    assert "P:4: id: duplicate prompt id 'p1' (first on line 1)" in shown


def test_fault_library_file_validated(tmp_path: Path) -> None:
    (tmp_path / "faults").mkdir()
    (tmp_path / "faults" / "slow.yaml").write_text(
        "name: slow\ndescription: slow\nkind: latency\nlatnecy: 5\n"
    )
    path = write(tmp_path, GOOD.replace("fault: {kind: outage}", "fault: slow"))
    out = [line.replace(str(tmp_path / "faults" / "slow.yaml"), "F") for line in problems(path)]
    assert out == ["F:4: latnecy: unknown key"]  # no key of a fault spec is close to it


def test_shipped_scenarios_validate() -> None:
    root = Path(__file__).resolve().parents[3]
    for path in sorted((root / "scenarios").glob("**/*.yaml")):
        if path.parent.name == "compose" and path.name == "sim.yaml":
            continue  # a simulator config, not a scenario
        # keys come from the environment at run time; validation here checks everything else
        assert load_scenario(path, require_keys=False).scenario.name


def test_inline_fault_takes_a_name_library_fault_does_not(tmp_path: Path) -> None:
    named = GOOD.replace("    fault: {kind: outage}\n", "    fault: {kind: outage}\n    name: blackout\n")
    r = load_scenario(write(tmp_path, named))
    assert r.faults[0].fault_id == "f1-blackout" and r.faults[0].name == "blackout"
    (tmp_path / "faults").mkdir()
    (tmp_path / "faults" / "dark.yaml").write_text("name: dark\ndescription: gone\nkind: outage\n")
    wrong = GOOD.replace("    fault: {kind: outage}\n", "    fault: dark\n    name: other\n")
    [line] = problems(write(tmp_path, wrong))
    assert line.startswith("S:17: faults[0]: name is for inline faults")


def test_decision_section_defaults_and_weights(tmp_path: Path) -> None:
    r = load_scenario(write(tmp_path, GOOD))
    d = r.scenario.decision
    assert d.gates == ["max_error_rate", "min_good_fraction"]
    assert d.weights.model_dump() == {
        "ttft": 1.0,
        "latency": 1.0,
        "good_fraction": 1.0,
        "cost": 1.0,
        "resilience": 1.0,
    }
    assert (d.confidence, d.bootstrap) == (0.95, 500)
    text = GOOD + "slo: {ttft: 800ms}\ndecision:\n  gates: [ttft, max_error_rate]\n"
    text += "  weights: {cost: 2, resilience: 0}\n"
    d = load_scenario(write(tmp_path, text)).scenario.decision
    assert d.gates == ["ttft", "max_error_rate"] and d.weights.cost == 2.0 and d.weights.resilience == 0.0


def test_decision_section_problems_name_their_line(tmp_path: Path) -> None:
    text = GOOD + "decision:\n  gates: [e2e, latency]\n  weights: {cost: 2, speed: 1}\n  confidnce: 0.9\n"
    found = problems(write(tmp_path, text))
    assert found[0].startswith("S:22: decision.gates[1]: Input should be 'max_error_rate'")
    assert found[1] == "S:22: decision.gates[0]: e2e is a must-pass gate but slo.e2e sets no threshold"
    assert found[2:] == [
        "S:23: decision.weights.speed: unknown key",
        "S:24: decision.confidnce: unknown key (did you mean 'confidence'?)",
    ]
    zero = GOOD + "decision:\n  weights: {ttft: 0, latency: 0, good_fraction: 0, cost: 0, resilience: 0}\n"
    [line] = problems(write(tmp_path, zero))
    assert line.startswith("S:21: decision: ") and "at least one objective weight must be above 0" in line


REAL = GOOD.replace(
    "    sim: fast\n", "    base_url: https://api.example.com/v1\n    api_key_env: VENDOR_KEY\n", 1
)


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("sk-good-0123456789\n", "a line break at the end (a value read with `echo`"),
        ("sk-good-0123456789\r\nX-Injected: yes", "a line break at character 19 of 35"),
        (" sk-good-0123456789", "whitespace at the start"),
        ("sk-good\t0123456789", "whitespace at character 8 of 18"),
        ("sk-good-\x000123456789", "a control character at character 9 of 19"),
        ("sk-gööd-0123456789", "a non-ASCII character at character 5 of 18"),
    ],
)
def test_a_key_that_cannot_travel_in_a_header_is_refused_without_echoing_it(
    tmp_path: Path, value: str, what: str
) -> None:
    lines = problems(write(tmp_path, REAL), environ={"VENDOR_KEY": value})
    assert lines == [
        f"S:7: endpoints[0].api_key_env: VENDOR_KEY: the key has {what}"
        + lines[0].split(what, 1)[1]  # the rest of the sentence
    ]
    assert "keys must be printable ASCII without spaces" in lines[0]
    assert "0123456789" not in lines[0] and "sk-g" not in lines[0]


def test_a_printable_key_is_accepted(tmp_path: Path) -> None:
    r = load_scenario(write(tmp_path, REAL), environ={"VENDOR_KEY": "sk-A_b.c~d+e/f=0123456789"})
    assert r.api_keys == {"a": "sk-A_b.c~d+e/f=0123456789"}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://alice:secret@vendor.example/v1", "base_url carries credentials (user:password@host)"),
        ("http://token@vendor.example/v1", "base_url carries credentials (user:password@host)"),
        (
            "https://vendor.example/v1?key=AIzaSecret",
            "base_url carries a credential in its query string (key=...)",
        ),
        ("https://vendor.example/v1?x=1&API_KEY=s3cret", "a credential in its query string (API_KEY=...)"),
        ("https://vendor.example/v 1", "base_url contains whitespace or a control character"),
    ],
)
def test_credentials_in_a_base_url_are_refused_without_echoing_them(
    tmp_path: Path, url: str, message: str
) -> None:
    path = write(tmp_path, REAL.replace("https://api.example.com/v1", f'"{url}"'))
    lines = problems(path, environ={"VENDOR_KEY": "sk-0123456789"})
    assert len(lines) == 1 and lines[0].startswith("S:6: endpoints[0].base_url: ") and message in lines[0]
    assert "secret" not in lines[0].lower().replace("a credential", "") and "AIza" not in lines[0]


def test_a_base_url_with_an_ordinary_query_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path, REAL.replace("https://api.example.com/v1", '"https://gw.example/v1?tenant=a"'))
    assert load_scenario(path, environ={"VENDOR_KEY": "sk-0123456789"}).scenario.endpoints[0].base_url


def test_limits_take_sizes_and_refuse_unknown_keys(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    model: m2\n", "    model: m2\n    limits: {head_bytes: 32KiB, body_bytes: 8MB, chunks: 1000}\n"
    )
    limits = load_scenario(write(tmp_path, text)).scenario.endpoints[1].limits
    assert (limits.head_bytes, limits.body_bytes, limits.chunks) == (32 * 1024, 8_000_000, 1000)
    assert limits.event_bytes == 1 << 20 and limits.field_chars == 256  # the defaults stay
    path = write(tmp_path, GOOD.replace("    model: m2\n", "    model: m2\n    limits: {body_size: 1MB}\n"))
    assert problems(path) == ["S:12: endpoints[1].limits.body_size: unknown key"]
    path = write(tmp_path, GOOD.replace("    model: m2\n", "    model: m2\n    limits: {head_bytes: 12}\n"))
    [line] = problems(path)
    assert line.startswith("S:12: endpoints[1].limits.head_bytes: ") and "1024" in line


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://alice:secret@gpu-box:8000/metrics", "metrics_url carries credentials (user:password@host)"),
        ("http://gpu-box:8000/metrics?token=s3cret", "metrics_url carries a credential in its query string"),
        ("gpu-box:8000/metrics", "metrics_url must start with http:// or https://"),
    ],
)
def test_a_metrics_url_is_checked_like_a_base_url(tmp_path: Path, url: str, message: str) -> None:
    text = REAL.replace(
        "    base_url: https://api.example.com/v1\n",
        f'    base_url: https://api.example.com/v1\n    metrics_url: "{url}"\n',
    )
    lines = problems(write(tmp_path, text), environ={"VENDOR_KEY": "sk-0123456789"})
    assert (
        len(lines) == 1 and lines[0].startswith("S:7: endpoints[0].metrics_url: ") and message in lines[0]
    ), lines
    assert "secret" not in lines[0].lower().replace("a credential", "") and "s3cret" not in lines[0]


def test_a_metrics_url_is_kept_and_the_interval_takes_a_duration(tmp_path: Path) -> None:
    text = (
        REAL.replace(
            "    base_url: https://api.example.com/v1\n",
            "    base_url: https://api.example.com/v1\n    metrics_url: http://gpu-box:8000/metrics\n",
        )
        + "metrics_interval: 500ms\n"
    )
    sc = load_scenario(write(tmp_path, text), environ={"VENDOR_KEY": "sk-0123456789"}).scenario
    assert sc.endpoints[0].metrics_url == "http://gpu-box:8000/metrics" and sc.metrics_interval == 0.5


@pytest.mark.parametrize(
    ("load", "expected"),
    [
        (
            "load:\n  search: {start: 1/s, max: 8/s, step_duration: 5s, steps: 3}\n",
            "S:22: load.search.steps: unknown key (did you mean 'max_steps'?)",
        ),
        (
            "load:\n  warmup: 2s\n  search: {start: 1/s, max: 8/s, step_duration: 5s}\n",
            "S:21: load: search judges every step whole: leave warmup and cooldown at 0",
        ),
        (
            "load:\n  sweep: {start: 1/s, end: 2/s, steps: 2, step_duration: 1s}\n"
            "  search: {start: 1/s, max: 8/s, step_duration: 5s}\n",
            "S:21: load: give either sweep or search, not both",
        ),
        (
            "load:\n  max_error_rate: 0.5\n  search: {start: 1/s, max: 8/s, step_duration: 5s}\n",
            "S:21: load: search stops a failing contender itself: leave max_error_rate unset",
        ),
        (
            "load:\n  search: {start: 4/s, max: 2/s, step_duration: 5s}\n",
            "S:22: load.search: max must be at least start",
        ),
    ],
)
def test_search_problems_are_one_line_each(tmp_path: Path, load: str, expected: str) -> None:
    # GOOD has 20 lines: `load:` is line 21, its search line 22
    path = write(tmp_path, GOOD + load)
    assert problems(path) == [expected]


def test_search_duration_is_its_budget(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD + "load:\n  search: {start: 1/s, max: 8/s, step_duration: 5s, max_steps: 4}\n"
    )
    assert load_scenario(path).scenario.load.duration == 1.5 * 4 * 5  # room for the pauses between steps


def test_a_search_refuses_a_prompt_set_with_sessions(tmp_path: Path) -> None:
    session = '{"id": "s1", "turns": [{"user": "hi"}, {"user": "and then?"}]}\n'
    path = write(
        tmp_path,
        GOOD + "load:\n  search: {start: 1/s, max: 8/s, step_duration: 5s}\n",
        prompts=PROMPT + session,
    )
    [line] = problems(path)
    assert line.startswith("S:22: load.search: an adaptive search steps the rate of single requests")
    assert line.endswith("p.jsonl line 2 is a multi-turn session (use load.sweep)")


def test_a_search_takes_a_prompt_that_only_says_turns(tmp_path: Path) -> None:
    said = (
        '{"id": "p2", "messages": [{"role": "user", "content": "turns"}]}\n'  # the bytes "turns", no session
    )
    path = write(
        tmp_path, GOOD + "load:\n  search: {start: 1/s, max: 8/s, step_duration: 5s}\n", prompts=PROMPT + said
    )
    assert load_scenario(path).scenario.load.search is not None
