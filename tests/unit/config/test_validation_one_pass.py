"""`bakeoff validate` finds every problem in one pass, names near misses, warns about what validates but
is probably wrong, lints without secrets, and resolves fault names in a documented order."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from harness import ConfigError
from harness.config import (
    builtin_dir,
    fault_fit_warnings,
    fault_search_dirs,
    find_scenario,
    load_scenario,
)

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
load:
  duration: 30s
faults:
  - at: 5s
    duration: 2s
    target: a
    fault: {kind: outage}
"""

EACH = " (or each-contender: every contender at once, each on its own path to its primary)"


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "p.jsonl").write_text(PROMPT)
    path = folder / "s.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def fails(path: Path, **kw: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_scenario(path, **kw)  # type: ignore[arg-type]
    return info.value


def short(lines: list[str] | tuple[str, ...], path: Path) -> list[str]:
    return [line.replace(str(path), "S") for line in lines]


def test_a_bad_primary_does_not_hide_a_bad_fault_target_or_anything_else(tmp_path: Path) -> None:
    text = (
        GOOD.replace("primary: a", "primary: aa")
        .replace("target: a", "target: nobody")
        .replace("sim: slow", "sim: glacial")
        .replace("fault: {kind: outage}", "fault: no-such-fault")
    )
    out = short(fails(write(tmp_path, text)).problems, tmp_path / "s.yaml")
    assert "S:14: contenders[0].primary: unknown endpoint 'aa' (did you mean 'a'?)" in out
    assert f"S:21: faults[0].target: unknown endpoint or contender 'nobody'{EACH}" in out
    assert "S:10: endpoints[1].sim: unknown sim profile 'glacial' (known: fast, slow, steady)" in out
    assert any(line.startswith("S:22: faults[0].fault: no fault named 'no-such-fault'") for line in out)
    assert len(out) == 4


def test_schema_errors_and_reference_errors_come_together(tmp_path: Path) -> None:
    text = GOOD.replace("    fallbacks: [b]\n", "    fallbacks: [b]\n    retires: 2\n").replace(
        "target: a", "target: nobody"
    )
    out = short(fails(write(tmp_path, text)).problems, tmp_path / "s.yaml")
    assert out == [
        "S:16: contenders[0].retires: unknown key (did you mean 'retries'?)",
        f"S:22: faults[0].target: unknown endpoint or contender 'nobody'{EACH}",
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    model: m2\n",
            "    model: m2\n    timeouts: {conect: 2s}\n",
            "timeouts.conect: unknown key (did you mean 'connect'?)",
        ),
        (
            "  duration: 30s\n",
            "  duration: 30s\n  warmpu: 2s\n",
            "load.warmpu: unknown key (did you mean 'warmup'?)",
        ),
        (
            "fault: {kind: outage}",
            "fault: {kind: stall, stal_for: 1s}",
            "fault.stal_for: unknown key (did you mean 'stall_for'?)",
        ),
        (
            "name: t\n",
            "name: t\nsim_profiles: {x: {ttft_mss: 5}}\n",
            "sim_profiles.x.ttft_mss: unknown key (did you mean 'ttft_ms'?)",
        ),
        ("name: t\n", "name: t\nendpointz: []\n", "endpointz: unknown key (did you mean 'endpoints'?)"),
    ],
)
def test_unknown_keys_name_the_nearest_known_key(tmp_path: Path, old: str, new: str, expected: str) -> None:
    out = fails(write(tmp_path, GOOD.replace(old, new))).problems
    assert any(line.endswith(expected) for line in out), out


def test_unknown_key_far_from_every_known_one_gets_no_guess(tmp_path: Path) -> None:
    out = fails(write(tmp_path, GOOD.replace("    model: m2\n", "    model: m2\n    colour: red\n"))).problems
    assert [line.split(": ", 1)[1] for line in out] == ["endpoints[1].colour: unknown key"]


def test_bare_numbers_for_durations_are_warned_about(tmp_path: Path) -> None:
    text = GOOD + "slo: {ttft: 1000, e2e: 6s}\n"
    text = text.replace("  duration: 30s\n", "  duration: 30s\n  warmup: 0\n")
    path = write(tmp_path, text)
    r = load_scenario(path)
    assert r.scenario.slo.ttft == 1000.0  # valid: the warning says what it means
    assert short(r.warnings, path) == [
        "S:24: warning: slo.ttft: bare number 1000 is read as 1000 seconds; "
        "write 1000ms or 1000s to say which"
    ]


def test_anthropic_base_url_ending_in_v1_is_warned_about(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    sim: slow\n", "    base_url: https://api.anthropic.com/v1/\n    api_key_env: ANTHROPIC_KEY_X\n"
    )
    path = write(tmp_path, text)
    r = load_scenario(path, environ={"ANTHROPIC_KEY_X": "k"})
    [line] = short(r.warnings, path)
    assert line.startswith("S:10: warning: endpoints[1].base_url: ends in /v1")
    assert "https://api.anthropic.com/v1/v1/messages (404)" in line
    ok = load_scenario(
        write(tmp_path, text.replace("anthropic.com/v1/", "anthropic.com")), environ={"ANTHROPIC_KEY_X": "k"}
    )
    assert ok.warnings == ()


def test_cache_breakpoints_on_a_self_caching_dialect_are_warned_about(tmp_path: Path) -> None:
    text = GOOD.replace("    sim: fast\n", "    sim: fast\n    cache: {breakpoints: system}\n")
    text = text.replace(
        "    sim: slow\n", "    sim: slow\n    cache: {breakpoints: system+history, ttl: 1h}\n"
    )
    path = write(tmp_path, text)
    [line] = short(load_scenario(path).warnings, path)
    assert line.startswith("S:7: warning: endpoints[0].cache: openai-chat marks no cache breakpoints")
    off = text.replace("cache: {breakpoints: system}", "cache: {breakpoints: none}")
    assert load_scenario(write(tmp_path, off)).warnings == ()


def test_lint_mode_checks_everything_but_the_secrets(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    sim: fast\n", "    base_url: https://api.example.com/v1\n    api_key_env: NO_SUCH_KEY_X\n"
    )
    path = write(tmp_path, text)
    assert "NO_SUCH_KEY_X is not set" in fails(path).problems[0]
    r = load_scenario(path, lint=True)
    assert r.api_keys == {}
    # lint still refuses what is wrong in the file itself
    keyless = write(tmp_path / "keyless", text.replace("    api_key_env: NO_SUCH_KEY_X\n", ""))
    assert short(fails(keyless, lint=True).problems, keyless) == [
        "S:4: endpoints[0]: real endpoints need api_key_env (the variable holding the key)"
    ]


def test_endpoints_no_contender_uses_need_no_key_and_are_left_out_of_a_run(tmp_path: Path) -> None:
    text = (
        GOOD.replace(
            "contenders:\n",
            "  - name: real\n    dialect: openai-chat\n    base_url: https://api.example.com/v1\n"
            "    api_key_env: NO_SUCH_KEY_X\n    model: gpt\ncontenders:\n",
        )
        + "  - at: 1s\n    duration: 1s\n    target: real\n    fault: {kind: outage}\n"
    )
    path = write(tmp_path, text)
    r = load_scenario(path)  # the key of an unused endpoint is not needed
    assert r.unused_endpoints() == ["real"]
    assert any("no contender uses endpoint 'real'" in w for w in r.warnings)
    used = r.without_unused_endpoints()
    assert [e.name for e in used.scenario.endpoints] == ["a", "b"]
    assert [f.fault_id for f in used.faults] == ["f1-outage"]  # f2 only hit the unused endpoint
    assert [f.target for f in used.scenario.faults] == ["a"]


def test_after_tokens_still_reads_as_after_chunks_with_a_warning(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD.replace("fault: {kind: outage}", "fault: {kind: stream_cut, after_tokens: 3}")
    )
    r = load_scenario(path)
    assert r.faults[0].spec.after_chunks == 3
    assert any("after_tokens is now after_chunks" in w for w in r.warnings)
    both = write(
        tmp_path,
        GOOD.replace("fault: {kind: outage}", "fault: {kind: stream_cut, after_tokens: 3, after_chunks: 3}"),
    )
    assert "give after_chunks only" in fails(both).problems[0]


def test_http_faults_need_their_parameters(tmp_path: Path) -> None:
    out = fails(write(tmp_path, GOOD.replace("fault: {kind: outage}", "fault: {kind: http_status}"))).problems
    assert out[0].endswith("an http_status fault needs status (the HTTP status to answer)")


def test_faults_that_do_not_fit_the_duration_are_warned_about(tmp_path: Path) -> None:
    text = GOOD + "  - at: 25s\n    duration: 10s\n    target: c\n    fault: {kind: outage}\n"
    r = load_scenario(write(tmp_path, text))
    [cut] = short(fault_fit_warnings(r), tmp_path / "s.yaml")
    assert (
        cut == "S:23: warning: fault f2-outage runs 25–35 s, but the run lasts 30 s: "
        "it is removed when the run ends, 5 s early"
    )
    shorter = dataclasses.replace(
        r,
        scenario=r.scenario.model_copy(update={"load": r.scenario.load.model_copy(update={"duration": 5.0})}),
        scenario_duration_s=30.0,
    )
    assert short(fault_fit_warnings(shorter), tmp_path / "s.yaml") == [
        "S:19: warning: fault f1-outage starts at 5 s, but the run lasts 5 s (shortened from 30 s): "
        "it will not be applied",
        "S:23: warning: fault f2-outage starts at 25 s, but the run lasts 5 s (shortened from 30 s): "
        "it will not be applied",
    ]


def test_fault_names_resolve_next_to_the_scenario_then_the_user_library_then_the_built_ins(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project" / "scenarios"
    path = write(project, GOOD.replace("fault: {kind: outage}", "fault: outage"))
    user = tmp_path / "user-faults"
    env = {"BAKEOFF_FAULTS": str(user)}

    def resolved_from() -> str:
        return load_scenario(path, environ=env).faults[0].description

    assert resolved_from() == (builtin_dir("faults") / "outage.yaml").read_text().split("description: ")[
        1
    ].splitlines()[0].strip('"')
    user.mkdir()
    (user / "outage.yaml").write_text("name: outage\ndescription: user library\nkind: outage\n")
    assert resolved_from() == "user library"
    (tmp_path / "project" / "faults").mkdir()
    (tmp_path / "project" / "faults" / "outage.yaml").write_text(
        "name: outage\ndescription: project\nkind: outage\n"
    )
    assert resolved_from() == "project"
    (project / "faults").mkdir()
    (project / "faults" / "outage.yaml").write_text("name: outage\ndescription: next to it\nkind: outage\n")
    assert resolved_from() == "next to it"
    labels = [label for _, label in fault_search_dirs(path, env)]
    assert labels == ["next to the scenario", "beside the scenario's folder", "user library", "built-in"]


def test_the_user_library_defaults_to_the_config_folder(tmp_path: Path) -> None:
    dirs = fault_search_dirs(tmp_path / "s.yaml", {"HOME": str(tmp_path / "home")})
    assert (tmp_path / "home" / ".config" / "bakeoff" / "faults", "user library") in dirs
    dirs = fault_search_dirs(tmp_path / "s.yaml", {"XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert (tmp_path / "cfg" / "bakeoff" / "faults", "user library") in dirs


def test_a_scenario_anywhere_finds_the_built_in_fault_library(tmp_path: Path) -> None:
    path = write(tmp_path / "elsewhere", GOOD.replace("fault: {kind: outage}", "fault: stream-cut"))
    [fault] = load_scenario(path, environ={"BAKEOFF_FAULTS": str(tmp_path / "none")}).faults
    assert (fault.name, fault.spec.kind, fault.spec.after_chunks) == ("stream-cut", "stream_cut", 5)


def test_built_in_scenarios_are_found_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # nothing here: only the built-ins can answer
    root = builtin_dir("scenarios")
    assert find_scenario(None) == root / "default.yaml"
    assert find_scenario("brownout") == root / "brownout.yaml"
    assert find_scenario("short/brownout") == root / "short" / "brownout.yaml"
    assert find_scenario("scenarios/short/brownout.yaml") == root / "short" / "brownout.yaml"
    (tmp_path / "brownout").write_text("a local file wins")
    assert find_scenario("brownout") == Path("brownout")
    with pytest.raises(ConfigError) as info:
        find_scenario("brwnout")
    assert info.value.problems == [
        f"brwnout: no such file, and no built-in scenario named 'brwnout' (in {root}); "
        "did you mean 'brownout'?"
    ]


def test_a_fault_name_that_cannot_be_a_file_name_is_a_problem_not_a_silent_drop(tmp_path: Path) -> None:
    out = fails(write(tmp_path, GOOD.replace("fault: {kind: outage}", "fault: ../../etc/outage"))).problems
    assert [line.split(": ", 1)[1] for line in out] == [
        "faults[0].fault: bad name '../../etc/outage': "
        "use letters, digits, '-', '_' or '.', at most 64 characters"
    ]
