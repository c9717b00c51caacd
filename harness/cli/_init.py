"""``bakeoff init [DIR]``: a starter project that runs at once and shows where real vendors go.

The scenario lists OpenAI, Anthropic and Azure OpenAI endpoints (keys by environment variable name)
beside a simulated stand-in. Only the stand-in's contender is active, so ``bakeoff run`` works at once
with no key: endpoints no contender uses are not started, probed or keyed (a run and ``bakeoff
validate`` say so in a warning). The real contenders are written commented out; uncommenting one after
exporting its key is the whole switch.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.cli._main import _errors_to_exit

__all__ = ["STARTER_FILES", "init"]

SCENARIO = """\
# A starter bake-off written by `bakeoff init`. Check it with `bakeoff validate scenario.yaml`
# (add --lint where the keys are not set, e.g. in CI) and run it with `bakeoff run scenario.yaml`.
# Field by field: `bakeoff schema --kind scenario`, and docs/scenarios.md in the bakeoff repository.
name: my-bakeoff
description: >
  A simulated stand-in vendor under a steady 1 request/s for 30 s, with a slow network path from
  10 s to 20 s. Uncomment the real vendors' contenders below once their keys are exported.
seed: 1
prompts: prompts.jsonl

endpoints:
  # Real vendors. api_key_env names the environment variable that holds the key: keys are never
  # written in files. An endpoint no contender uses is not started, probed or sent load, and needs
  # no key, so these wait here until you uncomment their contenders. Prices: USD per million tokens;
  # check them against your own rate card.
  - name: openai
    dialect: openai-chat
    base_url: https://api.openai.com/v1
    api_key_env: OPENAI_API_KEY
    model: gpt-4o-mini
    max_tokens_field: max_completion_tokens
    price: {input_per_mtok: 0.15, cached_input_per_mtok: 0.075, output_per_mtok: 0.60}
  - name: anthropic
    dialect: anthropic-messages
    base_url: https://api.anthropic.com   # no /v1: the dialect adds /v1/messages itself
    api_key_env: ANTHROPIC_API_KEY
    model: claude-3-5-haiku-latest
    price: {input_per_mtok: 0.80, output_per_mtok: 4.00}
  - name: azure
    dialect: azure-openai
    base_url: https://YOUR-RESOURCE.openai.azure.com   # your Azure OpenAI resource
    api_key_env: AZURE_OPENAI_API_KEY
    api_version: "2024-10-21"
    model: YOUR-DEPLOYMENT                              # the deployment name
    price: {input_per_mtok: 0.15, output_per_mtok: 0.60}
  # A simulated vendor the harness starts itself (OpenAI wire protocol, no key): runs at once.
  - name: simulated
    dialect: openai-chat
    sim: steady
    model: stand-in
    price: {input_per_mtok: 0.50, output_per_mtok: 1.50}

contenders:
  - name: stand-in
    primary: simulated
    retries: 1
  # Uncomment a contender once its key is exported (export OPENAI_API_KEY=...):
  # - name: openai-with-fallback
  #   primary: openai
  #   fallbacks: [anthropic]     # tried when openai fails
  #   retries: 1
  # - name: claude
  #   primary: anthropic
  #   retries: 1
  # - name: azure-openai
  #   primary: azure
  #   retries: 1

load:
  model: open
  arrival: poisson
  rate: 1/s          # per contender: every contender gets the same seeded schedule
  users: 8
  duration: 30s

faults:
  # faults/slow-network.yaml, next to this file (a fault of your own library). The target is an
  # endpoint or a contender; give each contender the same entry to compare them under one fault.
  - at: 10s
    duration: 10s
    target: stand-in
    fault: slow-network

slo:
  ttft: 2s           # user TTFT: from when the request was scheduled
  e2e: 10s           # user latency: retries and fallbacks included
  max_error_rate: 0.05
  min_good_fraction: 0.9

monthly_requests: 1000000   # for the report's monthly cost projection
"""

FAULT = """\
# A fault of this project's own library: scenario.yaml names it (fault: slow-network). Names are looked
# up next to the scenario first, then in ~/.config/bakeoff/faults ($BAKEOFF_FAULTS), then in the
# faults bakeoff ships (outage, brownout-latency, http-429-storm, ... see `bakeoff scenarios`).
name: slow-network
description: Every byte from the vendor arrives 300 ms late (±50 ms), as on a congested path.
kind: latency
attributes: {latency: 300, jitter: 50}
"""

_PROMPTS = [
    ("chat-01", "chat", "In two sentences, explain what a bake-off between vendors is.", 80, None),
    ("chat-02", "chat", "Give three tips for writing a clear incident report.", 120, None),
    (
        "chat-03",
        "chat",
        "Explain the difference between latency and throughput to a new engineer.",
        120,
        None,
    ),
    ("chat-04", "chat", "Summarise why retries need a backoff, in one paragraph.", 100, None),
    ("math-01", "check", "What is 17 multiplied by 3? Answer with the number only.", 8, {"contains": "51"}),
    (
        "json-01",
        "json",
        'Reply with a JSON object {"status": "ok"} and nothing else.',
        20,
        {"regex": "status"},
    ),
    ("sum-01", "summary", "Summarise in one sentence: The meeting moved to Thursday at 10.", 40, None),
    ("code-01", "code", "Write a Python function that returns the square of a number.", 120, None),
]
PROMPTS = "".join(
    json.dumps(
        {
            "id": pid,
            "class": cls,
            "messages": [{"role": "user", "content": text}],
            "max_tokens": max_tokens,
            **({"check": check} if check else {}),
        }
    )
    + "\n"
    for pid, cls, text, max_tokens, check in _PROMPTS
)

GITIGNORE = "# bakeoff run writes one folder per run here\nreports/\n"

STARTER_FILES: dict[str, str] = {
    "scenario.yaml": SCENARIO,
    "prompts.jsonl": PROMPTS,
    "faults/slow-network.yaml": FAULT,
    ".gitignore": GITIGNORE,
}
"""Path (relative to the project folder) → content of every file ``bakeoff init`` writes."""

_WHAT = {
    "scenario.yaml": "endpoints (OpenAI, Anthropic, Azure OpenAI, a simulated stand-in), load, faults, SLOs",
    "prompts.jsonl": f"{len(_PROMPTS)} prompts, the same for every contender",
    "faults/slow-network.yaml": "a fault of the project's own library",
    ".gitignore": "keeps reports/ out of git",
}


@click.command()
@click.argument("folder", default=".", metavar="[DIR]", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite files of the same names (never anything else).")
@_errors_to_exit
def init(folder: Path, force: bool) -> None:
    """Write a starter project into DIR (default: this folder) and say what to do next.

    It runs at once on a simulated stand-in vendor (no key); the OpenAI, Anthropic and Azure OpenAI
    contenders are written commented out until their keys are set.
    """
    from harness._errors import ConfigError

    existing = [name for name in STARTER_FILES if (folder / name).exists()]
    if existing and not force:
        raise ConfigError(
            [f"{folder / name}: already exists (bakeoff init --force overwrites it)" for name in existing]
        )
    for name, text in STARTER_FILES.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    width = max(len(str(folder / name)) for name in STARTER_FILES)
    click.echo(f"wrote a starter bake-off in {folder}/:")
    for name in STARTER_FILES:
        click.echo(f"  {str(folder / name).ljust(width)}  {_WHAT[name]}")
    cd = [] if folder.resolve() == Path.cwd().resolve() else [f"  cd {folder}"]
    steps = [
        "next:",
        *cd,
        "  bakeoff run scenario.yaml        # runs now (30 s, the stand-in); writes reports/<run-id>/",
        "  export OPENAI_API_KEY=...        # then uncomment the openai contender in scenario.yaml",
        "                                   # (ANTHROPIC_API_KEY, AZURE_OPENAI_API_KEY for the others)",
        "  bakeoff validate scenario.yaml   # every problem at once; --lint checks without keys (CI)",
        "  bakeoff probe scenario.yaml -e openai --skip overlong_context   # one request per probe, no load",
    ]
    for line in steps:
        click.echo(line)
