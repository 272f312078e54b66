"""``orchestrate protocols`` (the registered protocols and their folds) and ``orchestrate data``
(the embedded synthetic benchmark)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from orchestrator.cli_common import DataRoot, console, fail

protocols_app = typer.Typer(help="Testing protocols and their folds.", no_args_is_help=True)
data_app = typer.Typer(help="The embedded synthetic FAS benchmark.", no_args_is_help=True)


@protocols_app.command("list")
def protocols_list() -> None:
    """The registered protocols."""
    from protocols.protocols import PROTOCOLS

    table = Table("protocol", "datasets", "what")
    for name in PROTOCOLS:
        p = PROTOCOLS.get(name)
        table.add_row(name, ", ".join(p.datasets), p.description)
    console.print(table)


@protocols_app.command("show")
def protocols_show(
    name: str,
    data_root: DataRoot = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """A protocol's folds with live/attack counts per split."""
    from orchestrator.settings import resolve_data_root
    from protocols.datasets import DatasetLayoutError
    from protocols.protocols import PROTOCOLS, protocol_summary

    try:
        protocol = PROTOCOLS.get(name)
        root = resolve_data_root(data_root, "smoke", None if as_json else console)
        summary = protocol_summary(protocol.folds(root))
    except KeyError as exc:
        fail(str(exc.args[0]))
        return
    except (DatasetLayoutError, FileNotFoundError) as exc:
        fail(str(exc))
        return
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    table = Table("fold", *[f"{s} live/attack" for s in ("train", "dev", "test")])
    for fold in summary:
        cells = [
            f"{fold['splits'][s]['live']}/{fold['splits'][s]['attack']}"
            for s in ("train", "dev", "test")
        ]
        table.add_row(fold["fold"], *cells)
    console.print(table)


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option(help="Output folder (the data root)")],
    size: Annotated[str, typer.Option(help="smoke | quick | paper")] = "smoke",
    seed: Annotated[int, typer.Option(help="Generator seed")] = 0,
    datasets: Annotated[
        str,
        typer.Option(
            help="Comma list of dataset folders to write, e.g. oulu_npu,siw (default: all)"
        ),
    ] = "",
) -> None:
    """Write the synthetic benchmark in the real datasets' layouts."""
    from rich.progress import Progress

    from synth import SYNTH_SIZES, generate
    from synth.oulu import select_datasets

    if size not in SYNTH_SIZES:
        fail(f"unknown size {size!r}; valid: {', '.join(SYNTH_SIZES)}")
    chosen = [d.strip() for d in datasets.split(",") if d.strip()] or None
    try:
        select_datasets(SYNTH_SIZES[size], chosen)
    except ValueError as e:
        fail(str(e))
    with Progress(console=console) as progress:
        task = progress.add_task(f"synthesizing ({size})", total=None)
        generate(
            out,
            size=size,
            seed=seed,
            progress=lambda d, t: progress.update(task, completed=d, total=t),
            datasets=chosen,
        )
    console.print(f"written: {out}")
