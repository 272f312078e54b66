"""``orchestrate plan``: an experiment's trials, epochs, GPU-hours, wall time on N GPUs and frame
cache size, before anything runs (no data generated, no MLflow, no Ray)."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Optional

import typer
from rich.table import Table

from orchestrator.cli_common import DataRoot, choices, console, fail, json_safe, one_line
from orchestrator.specs import PRESETS

Preset = choices("PlanPreset", PRESETS)
PAPER = Preset("paper")


def duration(seconds: float) -> str:
    """Seconds as the unit a reader plans in: 42 s, 13.5 min, 7.2 h, 3.1 d."""
    for unit, size, above in (("d", 86400, 172800), ("h", 3600, 7200), ("min", 60, 100)):
        if seconds >= above:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def plan(
    experiment: Annotated[str, typer.Argument(help="A built-in experiment name or a spec file")],
    preset: Annotated[Preset, typer.Option(help="The experiment's size")] = PAPER,  # type: ignore[valid-type]
    gpus: Annotated[int, typer.Option(min=1, help="GPUs of the cluster to plan for")] = 8,
    cpus: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            min=1, help="CPUs of the cluster, for CPU-only trials (default: this machine's)"
        ),
    ] = None,
    images_per_s: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            "--images-per-s",
            min=1e-9,
            help="A stated training throughput per GPU instead of timing the networks here",
        ),
    ] = None,
    bench_steps: Annotated[int, typer.Option(min=1, help="Timed training steps per network")] = 2,
    step_seconds: Annotated[
        float,
        typer.Option(min=0.01, help="On a CPU, shrink the timed batch to about this many s a step"),
    ] = 2.0,
    set_: Annotated[
        list[str], typer.Option("--set", help="Override a field: KEY=VALUE (repeatable)")
    ] = [],  # noqa: B006 - typer needs a literal default
    data_root: DataRoot = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """What an experiment will cost before it runs: trials, epochs, GPU-hours, the wall time on
    --gpus GPUs and the frame cache's size.

    Each distinct network is timed for a few training steps on this device at the preset's
    input size and batch (on a CPU a smaller batch, about --step-seconds a step), unless
    --images-per-s states a throughput. Without a data root the videos are counted from the
    embedded benchmark's declared sizes (nothing is generated).
    """
    from orchestrator.experiments import resolve_experiment
    from orchestrator.plan_bench import build_plan
    from orchestrator.settings import SettingsError, planning_root, protocol_folders
    from orchestrator.specs import SpecError, apply_overrides, parse_set_options
    from orchestrator.validation import validate_spec
    from protocols.datasets import DatasetLayoutError

    try:
        spec = resolve_experiment(experiment, preset.value)
        spec = validate_spec(apply_overrides(spec, parse_set_options(set_)), allow_large=True)
        folders = protocol_folders(spec.protocol)
        with planning_root(data_root, spec.data_size, folders) as (root, source):
            where = f"{source} ({spec.data_size})" if source != "data root" else str(root)
            result = build_plan(
                spec,
                root,
                where,
                gpus,
                cpus or os.cpu_count() or 1,
                images_per_s,
                bench_steps,
                step_seconds,
            )
    except (SpecError, SettingsError, DatasetLayoutError, FileNotFoundError) as exc:
        fail(one_line(exc))
        return
    d = result.to_dict()
    if as_json:
        sys.stdout.write(json.dumps(json_safe(d)) + "\n")
        return
    show(d)


def show(d: dict) -> None:
    jobs = d["jobs"]
    console.print(
        f"[bold]{d['experiment']}[/bold] ({d['preset']}) on {d['protocol']}: "
        f"{len(d['folds'])} fold(s), {d['videos']} videos ({d['data']})"
    )
    fan = f"{jobs['folds']} fold(s) x {jobs['grid_points']} grid point(s) x {jobs['seeds']} seed(s)"
    extra = f" + {jobs['sampled']} sampled" if jobs["sampled"] else ""
    console.print(f"jobs: {fan} = {jobs['grid_jobs']}{extra}")
    table = Table("trials", "what", "epochs", "search epochs x steps", "train frames", "GPU-h")
    per_gpu = float(d["resources"].get("gpu", 0)) * int(d["resources"].get("workers", 1))
    for g in d["groups"]:
        search = f"{g['search_epochs']} x {g['search_steps']}" if g["search_epochs"] else "-"
        hours = g["seconds"] * per_gpu / 3600
        table.add_row(
            str(g["trials"]), g["group"], str(g["epochs"]), search, str(g["train_frames"]),
            f"{hours:.1f}",
        )  # fmt: skip
    console.print(table)
    totals = Table("total", "value", show_header=False)
    totals.add_row("trials", str(d["trials"]))
    totals.add_row("training epochs", str(d["epochs"]))
    if d["search_epochs"]:
        totals.add_row("search epochs (steps)", f"{d['search_epochs']} ({d['search_steps']})")
    totals.add_row("trial compute", duration(d["trial_seconds"]))
    totals.add_row("GPU-hours", f"{d['gpu_hours']:.1f}")
    slots = d["concurrent_trials"]
    on = f"{d['gpus']} GPUs" if per_gpu else "the CPUs"
    totals.add_row(f"wall on {on}", f"{duration(d['wall_seconds'])} ({slots} trials at once)")
    totals.add_row("frame cache", f"{size(d['cache_bytes'])} (uncompressed)")
    console.print(totals)
    for key, speed in d["throughput"].items():
        console.print(
            f"throughput of {d['measured'][key]}: {speed['train_ips']:.3g} images/s training, "
            f"{speed['eval_ips']:.3g} scoring"
        )
