"""``bakeoff repro export|verify`` and ``bakeoff replay``: vendor reproduction bundles.

Registered in the ``bakeoff`` group by ``harness.cli``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.cli._main import _errors_to_exit

__all__ = ["replay", "repro"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def repro() -> None:
    """Vendor reproduction bundles: export one contender's run, verify a bundle."""


@repro.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--contender", required=True, help="The contender whose requests the vendor should see.")
@click.option("--fault", help="Keep only this fault (its id, e.g. f1-outage, or its name).")
@click.option(
    "--redact-prompts",
    is_flag=True,
    help="Ship prompt ids, classes and token counts instead of their text (replay sends placeholders).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Archive to write (default: RUN_DIR/bakeoff-repro-<run>-<contender>.tar.gz).",
)
@_errors_to_exit
def export(run_dir: Path, contender: str, fault: str | None, redact_prompts: bool, out: Path | None) -> None:
    """Write a .tar.gz a vendor can replay with nothing but "pip install bakeoff"."""
    from harness.repro import export_bundle

    path = export_bundle(run_dir, contender, fault=fault, redact_prompts=redact_prompts, out=out)
    click.echo(str(path))


@repro.command("verify")
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@_errors_to_exit
def verify(bundle: Path) -> None:
    """Check a bundle's files against its SHA256SUMS (exit 2 naming any altered file)."""
    from harness.repro import verify_bundle

    b = verify_bundle(bundle)
    m = b.manifest
    click.echo(
        f"{bundle}: ok ({m['contender']} in {m['source']['scenario']}, run {m['source']['run_id']}, "
        f"{m['schedule']['requests']} scheduled requests, {len(m['faults'])} faults)"
    )


@click.command()
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--endpoint",
    required=True,
    help="Base URL to replay against (as for the vendor's SDK), or 'sim' for a simulated vendor.",
)
@click.option(
    "--api-key-env",
    metavar="VAR",
    help="Name of the environment variable that holds the API key (needed unless the endpoint is on "
    "this machine).",
)
@click.option("--model", help="Model (or deployment) to request instead of the bundle's.")
@click.option(
    "--toxiproxy", "toxiproxy_url", metavar="URL", help="Use a running Toxiproxy instead of the embedded one."
)
@click.option(
    "--out",
    "out_root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Folder that receives the replay's run folder.",
)
@click.option("--report", is_flag=True, help="Also write report.html for the replay run.")
@click.option(
    "--probes",
    is_flag=True,
    help="Also send the conformance probes first (bad key, malformed input, unknown model, ...: one "
    "small request each), without the over-long prompt.",
)
@click.option(
    "--billable-overlong-probe",
    is_flag=True,
    help="With the probes, also send the over-long prompt (about 2.1 million tokens; a vendor that "
    "accepts it bills it).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress lines while the replay runs.")
@_errors_to_exit
def replay(
    bundle: Path,
    endpoint: str,
    api_key_env: str | None,
    model: str | None,
    toxiproxy_url: str | None,
    out_root: Path,
    report: bool,
    probes: bool,
    billable_overlong_probe: bool,
    quiet: bool,
) -> None:
    """Replay a bundle's schedule and faults against one endpoint; print observed vs original.

    Sends the bundle's requests and nothing else unless asked (--probes). An endpoint that is not on
    this machine needs --api-key-env. Progress goes to stderr as plain lines when there is no terminal.
    """
    from harness.load import ensure_patched

    ensure_patched()  # Locust patches the process (gevent): before anything else opens sockets
    from harness.repro import format_comparison, replay_bundle

    result = replay_bundle(
        bundle,
        endpoint,
        api_key_env=api_key_env,
        model=model,
        out_root=out_root,
        toxiproxy_url=toxiproxy_url,
        quiet=quiet,
        report=report,
        probes=probes,
        overlong_probe=billable_overlong_probe,
    )
    for line in result.problems:
        click.echo(f"warning: {line}", err=True)
    for fid in result.dropped_faults:
        click.echo(
            f"note: fault {fid} targeted a fallback endpoint; a single-endpoint replay skips it", err=True
        )
    click.echo(format_comparison(result.rows))
    click.echo(f"schedule: {result.schedule_detail}")
    click.echo(str(result.run_dir))
    if not result.schedule_identical:
        sys.exit(1)
