"""``gate``: pass/fail per contender against the must-pass SLOs, for pipelines (exit non-zero on failure),
and the ``--slo KEY=VALUE`` overrides it takes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness._errors import ConfigError
from harness._model import parse_duration
from harness._text import terminal_safe
from harness.analysis import SLO_KEYS
from harness.analysis._risks import gate_checks, slo_text
from harness.report._context import _GATE_NAMES, plain
from harness.report._render import load_run

__all__ = [
    "EXIT_SLO_FAILED",
    "GateCheck",
    "GateResult",
    "evaluate_gate",
    "gate",
    "gate_json",
    "github_summary",
    "junit_xml",
    "parse_slo_overrides",
]

EXIT_SLO_FAILED = 3  # bakeoff gate's exit code when a contender fails its SLOs
_TIME_KEYS = ("ttft", "ttfot", "tpot", "e2e")


def parse_slo_overrides(items: list[str]) -> dict[str, float]:
    """``["ttft=800ms", "max_error_rate=2%"]`` → ``{"ttft": 0.8, "max_error_rate": 0.02}``.

    Raises ``ConfigError`` with one line per bad item.
    """
    out: dict[str, float] = {}
    problems: list[str] = []
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in SLO_KEYS:
            problems.append(f"--slo {item}: expected KEY=VALUE with KEY one of {', '.join(SLO_KEYS)}")
            continue
        try:
            if key in _TIME_KEYS:
                out[key] = parse_duration(value)
            elif value.endswith("%"):
                out[key] = float(value[:-1]) / 100.0
            else:
                out[key] = float(value)
        except ValueError as exc:
            problems.append(f"--slo {item}: {exc}")
            continue
        if key not in _TIME_KEYS and not 0.0 <= out[key] <= 1.0:
            problems.append(f"--slo {item}: a fraction between 0 and 1 (or a percentage)")
    if problems:
        raise ConfigError(problems)
    return out


@dataclass(frozen=True, slots=True)
class GateCheck:
    """One contender against one SLO: ``measured op target`` passes (fractions 0–1).

    ``must_pass`` checks decide the gate; the others (SLOs set but not declared must-pass) are shown
    for information only and never fail it.
    """

    contender: str
    gate: str  # an SLO key (ttft, ttfot, tpot, e2e, max_error_rate, min_good_fraction) or "requests"
    passed: bool
    must_pass: bool
    text: str  # the numbers in words: "error rate 10.0 % > 5.0 %"
    measured: float | None
    target: float | None
    op: str  # "≤" or "≥"
    threshold_s: float | None = None  # per-request gates: the latency each request had to meet
    why: str | None = None  # for a failure a fault window explains: which window

    @property
    def label(self) -> str:
        """The SLO in words: "error rate ≤ 5.0 %", "TTFT ≤ 1 s (per request)"."""
        name = _GATE_NAMES.get(self.gate, self.gate)
        if self.gate == "requests":
            return "requests completed in the measured window"
        if self.threshold_s is not None:
            return f"{name} ≤ {_seconds(self.threshold_s)} met by ≥ {_pct(self.target)} of requests"
        return f"{name} {self.op} {_pct(self.target)}"


@dataclass(frozen=True, slots=True)
class GateResult:
    """The outcome of ``bakeoff gate`` on one run folder."""

    run_dir: Path
    run_id: str
    scenario: str
    passed: bool
    slo: dict[str, float | None]
    gates: list[str]  # the must-pass SLO keys
    contenders: list[str]
    checks: list[GateCheck] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # what ``bakeoff gate`` prints

    def contender_passed(self, contender: str) -> bool:
        return all(c.passed for c in self.checks if c.contender == contender and c.must_pass)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def _seconds(x: float) -> str:
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:g} s"


def evaluate_gate(run_dir: Path, slo_overrides: dict[str, float] | None = None) -> GateResult:
    """Judge every contender of a run against its must-pass SLO gates (and, for information, against every
    other SLO that is set). A run with no contenders or requests fails.

    ``slo_overrides`` replaces scenario SLOs by key: ttft, ttfot, tpot, e2e (seconds), max_error_rate,
    min_good_fraction (0–1).
    """
    a = load_run(Path(run_dir), slo_overrides=slo_overrides)
    rows = a.run_rows()
    gates = list(a.decision.get("gates") or ())
    why = a.decision.get("attributions", {})
    lines = [
        f"SLOs: {slo_text(a.slo)}",
        "must-pass: " + ", ".join(_GATE_NAMES.get(g, g) for g in gates),
    ]
    checks: list[GateCheck] = []
    all_ok = bool(a.contenders)
    for c in a.contenders:
        gating = gate_checks(rows.get(c), a.slo, gates)
        ok = all(x["passed"] for x in gating)
        all_ok &= ok
        line = f"{'PASS' if ok else 'FAIL'} {c}: {'; '.join(x['text'] for x in gating)}"
        if not ok and c in why:
            line += f" — {why[c]}"
        lines.append(line)
        seen = {x["gate"] for x in gating}
        extra = [x for x in gate_checks(rows.get(c), a.slo, SLO_KEYS) if x["gate"] not in seen]
        for x, must in [*((x, True) for x in gating), *((x, False) for x in extra)]:
            checks.append(
                GateCheck(
                    contender=c,
                    gate=x["gate"],
                    passed=bool(x["passed"]),
                    must_pass=must,
                    text=x["text"],
                    measured=_float(x.get("measured")),
                    target=_float(x.get("target")),
                    op=x.get("op", "≤"),
                    threshold_s=_float(x.get("threshold_s")),
                    why=why.get(c) if must and not x["passed"] else None,
                )
            )
    if not a.contenders:
        lines.append("FAIL: the run has no contenders")
    return GateResult(
        run_dir=Path(run_dir),
        run_id=str(a.meta.get("run_id") or Path(run_dir).name),
        scenario=str(a.meta.get("scenario") or ""),
        passed=all_ok,
        slo=dict(a.slo),
        gates=gates,
        contenders=list(a.contenders),
        checks=checks,
        lines=lines,
    )


def _float(x: Any) -> float | None:
    return None if x is None else float(x)


def gate(run_dir: Path, slo_overrides: dict[str, float] | None = None) -> tuple[bool, list[str]]:
    """(every contender passed?, lines): the SLO thresholds and must-pass gates, then one line per contender
    with its numbers against them (and, for a failure a fault window explains, which window). A run with no
    contenders or requests fails. See :func:`evaluate_gate` for the structured result.
    """
    result = evaluate_gate(run_dir, slo_overrides)
    return result.passed, result.lines


def gate_json(result: GateResult) -> dict[str, Any]:
    """The result as plain JSON data (``bakeoff gate --json``)."""
    out: dict[str, Any] = plain(
        {
            "run_id": result.run_id,
            "scenario": result.scenario,
            "run_dir": str(result.run_dir),
            "passed": result.passed,
            "slo": result.slo,
            "must_pass": result.gates,
            "contenders": [
                {
                    "name": c,
                    "passed": result.contender_passed(c),
                    "checks": [
                        {
                            "slo": x.gate,
                            "label": x.label,
                            "must_pass": x.must_pass,
                            "passed": x.passed,
                            "measured": x.measured,
                            "op": x.op,
                            "target": x.target,
                            "threshold_s": x.threshold_s,
                            "text": x.text,
                            "why": x.why,
                        }
                        for x in result.checks
                        if x.contender == c
                    ],
                }
                for c in result.contenders
            ],
            "lines": result.lines,
        }
    )
    return out


# XML 1.0 allows no surrogate and no U+FFFE/U+FFFF (controls are escaped before, by terminal_safe)
_XML_ILLEGAL = re.compile("[\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    """``text`` as XML 1.0 can hold it and a test report shows it inertly: control, escape and bidi
    characters as visible escapes (``\\x1b``, ``\\u202e``; ElementTree escapes ``<&>"`` but writes controls
    raw), line breaks and tabs kept."""
    text = terminal_safe(text, keep_newlines=True)
    return _XML_ILLEGAL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def junit_xml(result: GateResult) -> str:
    """JUnit XML as GitHub's and Jenkins' test reporters read it: ``testsuites/testsuite/testcase``, one
    testcase per contender and SLO, a ``failure`` (with the measured number and its target) for a
    must-pass SLO that failed, ``skipped`` for an SLO not met that is not must-pass (it does not fail
    the gate)."""
    cases = result.checks
    failures = sum(1 for x in cases if x.must_pass and not x.passed)
    skipped = sum(1 for x in cases if not x.must_pass and not x.passed)
    no_contenders = not result.contenders
    tests = len(cases) + (1 if no_contenders else 0)
    failures += 1 if no_contenders else 0
    name = f"bakeoff gate: {result.scenario} ({result.run_id})"
    counts = {"tests": str(tests), "failures": str(failures), "errors": "0", "skipped": str(skipped)}
    root = ET.Element("testsuites", {"name": _xml_text(name), **counts, "time": "0"})
    suite = ET.SubElement(root, "testsuite", {"name": _xml_text(name), **counts, "time": "0"})
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("run_dir", str(result.run_dir)),
        ("slo", slo_text(result.slo)),
        ("must_pass", ", ".join(result.gates)),
    ):
        ET.SubElement(props, "property", {"name": key, "value": _xml_text(value)})
    for x in cases:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": _xml_text(f"bakeoff.{result.scenario}.{x.contender}"),
                "name": _xml_text(x.label + ("" if x.must_pass else " (not must-pass)")),
                "time": "0",
            },
        )
        numbers = f"measured {_number(x.measured)}, target {x.op} {_number(x.target)}" + (
            f" (per-request threshold {x.threshold_s:g} s)" if x.threshold_s is not None else ""
        )
        if x.must_pass and not x.passed:
            fail = ET.SubElement(
                case, "failure", {"message": _xml_text(f"{x.contender}: {x.text}"), "type": "SLOFailed"}
            )
            fail.text = _xml_text(numbers + (f"\n{x.why}" if x.why else ""))
        elif not x.passed:
            ET.SubElement(case, "skipped", {"message": _xml_text(f"not must-pass, not met: {x.text}")})
        out = ET.SubElement(case, "system-out")
        out.text = _xml_text(f"{x.text}\n{numbers}")
    if no_contenders:
        case = ET.SubElement(suite, "testcase", {"classname": "bakeoff", "name": "contenders", "time": "0"})
        ET.SubElement(case, "failure", {"message": "the run has no contenders", "type": "SLOFailed"})
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _number(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.6g}"


_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MD_SPECIAL = re.compile(r"[\\`*_\[\]|~]")


def _md(text: str) -> str:
    """Text safe inside a line of GitHub-flavoured markdown that does not start with it (a table cell):
    control, escape and bidi characters as visible escapes, HTML characters as entities (GitHub renders
    HTML in a step summary), markdown's inline characters backslash-escaped."""
    text = terminal_safe(text)
    text = re.sub("[&<>]", lambda m: _MD_ENTITIES[m.group()], text)
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(), text)


def github_summary(result: GateResult) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY``: the verdict, then one table row per contender and SLO."""
    head = "passed" if result.passed else "FAILED"
    lines = [
        f"## bakeoff gate {head}: {_md(result.scenario)} ({_md(result.run_id)})",
        "",
        f"SLOs: {_md(slo_text(result.slo))}  ",
        "must-pass: " + (", ".join(_md(_GATE_NAMES.get(g, g)) for g in result.gates) or "none"),
        "",
        "| contender | SLO | must-pass | result | measured | target |",
        "|---|---|---|---|---|---|",
    ]
    for x in result.checks:
        verdict = "✅ pass" if x.passed else ("❌ FAIL" if x.must_pass else "⚠️ not met")
        lines.append(
            f"| {_md(x.contender)} | {_md(x.label)} | {'yes' if x.must_pass else 'no'} | {verdict} | "
            f"{_md(_fmt_value(x.measured, x.gate))} | {_md(x.op)} {_md(_fmt_value(x.target, x.gate))} |"
        )
    if not result.contenders:
        lines.append("| — | contenders | yes | ❌ FAIL | none | ≥ 1 |")
    explained = [(x.contender, x.why) for x in result.checks if x.why]
    if explained:
        lines.append("")
    for contender, why in dict(explained).items():
        lines.append(f"- why {_md(contender)} failed: {_md(why)}")
    return "\n".join(lines) + "\n\n"


def _fmt_value(x: float | None, gate: str) -> str:
    if x is None:
        return "n/a"
    return f"{x:g}" if gate == "requests" else _pct(x)
