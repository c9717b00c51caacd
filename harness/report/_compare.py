"""Render a comparison of repeated runs: a self-contained HTML page or a plain-text table."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.analysis import Comparison, compare_runs
from harness.analysis._analyse import records_of
from harness.report._context import plain
from harness.report._render import _env, _fmt

__all__ = ["comparison_json", "comparison_text", "write_comparison"]


def _context(cmp: Comparison) -> dict[str, Any]:
    rows = records_of(cmp.table)
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    grid = []
    for m in metrics:
        cells = {r["contender"]: r for r in rows if r["metric"] == m}
        first = next(iter(cells.values()))
        grid.append(
            {
                "metric": m,
                "label": first["label"],
                "kind": first["kind"],
                "better": first["better"],
                "cells": [plain(cells.get(c)) for c in cmp.contenders],
            }
        )
    out: dict[str, Any] = plain(
        {
            "scenario": cmp.scenario,
            "runs": cmp.runs,
            "contenders": cmp.contenders,
            "grid": grid,
            "findings": cmp.findings,
            "pairs": cmp.pairs,
            "warnings": cmp.warnings,
        }
    )
    return out


def comparison_json(cmp: Comparison) -> dict[str, Any]:
    """The comparison as plain JSON data (``bakeoff compare --json``): runs, contenders, one row per metric
    with each contender's mean, 95 % interval and run count, the findings, every pair, the warnings."""
    ctx = _context(cmp)
    metrics = [
        {
            "metric": g["metric"],
            "label": g["label"],
            "kind": g["kind"],
            "better": g["better"],
            "contenders": {c: _cell(cell) for c, cell in zip(cmp.contenders, g["cells"], strict=True)},
        }
        for g in ctx["grid"]
    ]
    return {
        "scenario": ctx["scenario"],
        "runs": ctx["runs"],
        "contenders": ctx["contenders"],
        "metrics": metrics,
        "findings": ctx["findings"],
        "pairs": ctx["pairs"],
        "warnings": ctx["warnings"],
    }


def _cell(cell: dict[str, Any] | None) -> dict[str, Any] | None:
    if not cell:
        return None
    out = {k: cell.get(k) for k in ("mean", "ci_low", "ci_high")}
    out["n"] = None if cell.get("n") is None else int(cell["n"])  # runs with data
    return out


def comparison_text(cmp: Comparison) -> str:
    """Fixed-width table: mean ± half-interval per metric and contender, then the findings."""
    ctx = _context(cmp)
    head = ["metric", *cmp.contenders]

    def cell_text(cell: dict[str, Any] | None, kind: str) -> str:
        if not cell or cell["mean"] is None:
            return "—"
        ci = f"[{_fmt(cell['ci_low'], kind)}, {_fmt(cell['ci_high'], kind)}]"
        return f"{_fmt(cell['mean'], kind)} {ci} n={int(cell['n'])}"

    lines = [
        [f"{g['label']} ({g['better']} is better)"] + [cell_text(c, g["kind"]) for c in g["cells"]]
        for g in ctx["grid"]
    ]
    widths = [max(len(r[i]) for r in [head, *lines]) for i in range(len(head))]
    out = [
        f"scenario {cmp.scenario}: {len(cmp.runs)} runs ({', '.join(cmp.runs)})",
        "each cell: mean over the runs [95 % bootstrap interval: runs and their requests resampled], "
        "n = runs with data",
        "",
        "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
    ]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in lines]
    out += [
        "",
        "every pair (a difference is proven when its 95 % interval excludes 0, with two runs or more):",
    ]
    for pair in cmp.pairs:
        parts = []
        if pair["a_better"]:
            parts.append(f"{pair['a']} better on {', '.join(pair['a_better'])}")
        if pair["b_better"]:
            parts.append(f"{pair['b']} better on {', '.join(pair['b_better'])}")
        if pair["not_proven"]:
            parts.append(f"not proven: {', '.join(pair['not_proven'])}")
        out.append(f"  {pair['a']} vs {pair['b']}: " + ("; ".join(parts) or "nothing to compare"))
    out += [f"warning: {w}" for w in cmp.warnings]
    return "\n".join(out) + "\n"


def write_comparison(run_dirs: list[Path], out: Path, *, allow_mismatch: bool = False) -> Path:
    """Compare repeats of one scenario; write HTML when ``out`` ends in .html, else a text table."""
    cmp = compare_runs([Path(d) for d in run_dirs], allow_mismatch=allow_mismatch)
    out = Path(out)
    if out.suffix.lower() in (".html", ".htm"):
        text = _env().get_template("compare.html.j2").render(**_context(cmp))
    else:
        text = comparison_text(cmp)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    return out
