"""``orchestrate``: the command line. Each command's help is its docstring."""

from __future__ import annotations

import json
import math
import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from orchestrator.cli_common import (
    DataRoot,
    TrackingUri,
    console,
    err,
    fail,
    json_safe,
    one_line,
)
from orchestrator.cli_data import data_app, protocols_app


class _Commands(TyperGroup):
    """Any command: a tracking store it cannot use (unreachable server, no store where a
    read-only command looks) ends in one line naming the URI, exit 2, no traceback."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except Exception as exc:
            store = sys.modules.get("orchestrator.tracking.store")  # loaded if a command used it
            if store is None or not isinstance(exc, store.TrackingStoreError):
                raise
            err.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_Commands,
    help="Distributed NAS experiments for face anti-spoofing on Ray, tracked in MLflow.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(protocols_app, name="protocols")
app.add_typer(data_app, name="data")

#: Exit codes of ``run`` besides 0, 1 (a trial failed) and 2 (bad input): another live driver
#: runs the experiment (EX_TEMPFAIL: try again later); interrupted by Ctrl-C (128 + SIGINT).
EXIT_BUSY, EXIT_INTERRUPTED = 75, 130


def _trackers(uri: str, names: list[str]):
    """(name, Tracker) for the named experiments (an unknown one is an error), else for every
    experiment the store holds."""
    from orchestrator.tracking.runs import Tracker
    from orchestrator.tracking.views import list_experiments as stored_experiments

    for name in names or stored_experiments(uri):
        tracker = Tracker(uri, name, create=False)
        if tracker.experiment_id is None:
            fail(f"MLflow at {uri} has no experiment {name!r}")
        yield name, tracker


@app.command("list")
def list_experiments() -> None:
    """The built-in experiments and their trial counts per preset."""
    from orchestrator.experiments import EXPERIMENTS
    from orchestrator.specs import PRESETS, with_preset
    from protocols.protocols import PROTOCOLS

    table = Table()
    for col in ("experiment", "protocol", "trials " + "/".join(PRESETS)):
        table.add_column(col, no_wrap=True)
    table.add_column("what")
    for name in EXPERIMENTS:
        spec = EXPERIMENTS.get(name)
        n_folds = getattr(PROTOCOLS.get(spec.protocol), "n_folds", 1)
        counts = "/".join(str(with_preset(spec, p).n_trials(n_folds)) for p in PRESETS)
        table.add_row(name, spec.protocol, counts, spec.description)
    console.print(table)


@app.command()
def run(
    experiment: Annotated[str, typer.Argument(help="A built-in experiment name or a spec file")],
    preset: Annotated[str, typer.Option(help="smoke | quick | paper")] = "quick",
    set_: Annotated[
        list[str], typer.Option("--set", help="Override a field: KEY=VALUE (repeatable)")
    ] = [],  # noqa: B006 - typer needs a literal default
    data_root: DataRoot = None,
    tracking_uri: TrackingUri = None,
    address: Annotated[
        Optional[str], typer.Option(help="Ray cluster address, e.g. auto (default: local Ray)")  # noqa: UP045
    ] = None,
    storage_path: Annotated[
        Optional[str], typer.Option(help="Ray results storage (shared NFS/S3 on a cluster)")  # noqa: UP045
    ] = None,
    cache_root: Annotated[
        Optional[Path], typer.Option(help="Frame cache (default: $FAS_CACHE_ROOT)")  # noqa: UP045
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option(
            help="Start over: ignore finished runs in MLflow and the trial checkpoints a killed "
            "run left (by default the same command resumes them)"
        ),
    ] = False,
    yes_large: Annotated[
        bool,
        typer.Option(
            "--yes-large",
            help="Confirm a sweep of more than 1000 trials or a network above the size limits",
        ),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the traceback of an error")
    ] = False,
) -> None:
    """Run an experiment: every missing trial on Ray, every result into MLflow.

    Everything is validated before any work starts (params, grid, genotype, folders, sizes);
    a problem is one line naming the field or file (exit code 2).
    """
    from orchestrator.experiments import resolve_experiment
    from orchestrator.genotype_ref import resolve_network
    from orchestrator.runner import RunRequest, run_experiment
    from orchestrator.settings import (
        SettingsError,
        check_run_paths,
        protocol_folders,
        resolve_cache_root,
        resolve_data_root,
    )
    from orchestrator.specs import SpecError, apply_overrides, parse_set_options
    from orchestrator.tracking.claim import DriverBusy
    from orchestrator.tracking.store import resolve_tracking_uri
    from orchestrator.validation import validate_spec
    from protocols.datasets import DatasetLayoutError
    from workloads.frames import VideoDecodeError

    try:
        spec = resolve_experiment(experiment, preset)
        spec = validate_spec(apply_overrides(spec, parse_set_options(set_)), yes_large)
        check_run_paths(cache_root, data_root, storage_path)
        spec = resolve_network(spec, lambda: resolve_tracking_uri(tracking_uri), yes_large)
        uri = resolve_tracking_uri(tracking_uri)
        root = resolve_data_root(
            data_root, spec.data_size, console, protocol_folders(spec.protocol)
        )
        where = RunRequest(
            data_root=root,
            cache_root=resolve_cache_root(cache_root),
            tracking_uri=uri,
            console=console,
            address=address,
            storage_path=storage_path,
            fresh=fresh,
        )
        summary = run_experiment(spec, where)
    except (
        SpecError,
        SettingsError,
        DatasetLayoutError,
        VideoDecodeError,
        FileNotFoundError,
    ) as exc:
        if verbose:
            err.print_exception()
        fail(one_line(exc))
        return
    except DriverBusy as exc:
        fail(str(exc), EXIT_BUSY)
        return
    except KeyboardInterrupt:
        err.print(
            f"[yellow]interrupted:[/yellow] finished trials are kept in MLflow and unfinished "
            f"ones keep their checkpoints; run the same command again to resume "
            f"({escape(shlex.join(['orchestrate', *sys.argv[1:]]))})"
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    console.print(
        f"done: {len(summary.finished)} finished, {len(summary.failed)} failed, "
        f"{summary.reused} reused; wall {summary.wall_seconds:.1f}s "
        f"(preprocessing {summary.prepare_seconds:.1f}s, trial compute {summary.trial_seconds:.1f}s)"
    )
    if summary.failed:
        raise typer.Exit(1)


@app.command()
def report(
    tables: Annotated[bool, typer.Option("--tables", help="Print the tables")] = False,
    experiment: Annotated[list[str], typer.Option(help="Only these experiments (repeatable)")] = [],  # noqa: B006
    fmt: Annotated[str, typer.Option("--format", help="md | csv | latex")] = "md",
    out: Annotated[Path, typer.Option(help="Where tables and figures are written")] = Path(
        "reports"
    ),
    tracking_uri: TrackingUri = None,
) -> None:
    """Paper-shaped tables with 95 % intervals, and figures, from MLflow into --out (the store is
    only read; each sweep's parent run already carries its summary from `orchestrate run`)."""
    from orchestrator.report import (
        FORMATS,
        experiment_report,
        latest_spec,
        render_report,
        write_report,
    )
    from orchestrator.tracking.store import resolve_tracking_uri
    from orchestrator.tracking.views import genotype_figures

    if fmt not in FORMATS:
        fail(f"unknown --format {fmt!r}; valid: {', '.join(FORMATS)}")
    uri = resolve_tracking_uri(tracking_uri, read_only=True)
    shown = 0
    for name, tracker in _trackers(uri, experiment):
        rep = experiment_report(
            name, tracker.parent_runs(), tracker.child_runs(), tracker.scores, spec_of=tracker.spec
        )
        if rep is None:
            continue
        shown += 1
        paths = write_report(rep, fmt, out)
        spec = latest_spec(tracker.parent_runs(), tracker.spec) or {}
        paths += genotype_figures(tracker, out / f"{name}_genotypes", spec.get("workload", ""))
        if tables:
            console.print(f"\n[bold]{rep.title}[/bold]")
            console.print(render_report(rep, fmt), markup=False)
        console.print("written: " + ", ".join(str(p) for p in paths))
    if not shown:
        console.print(f"no finished runs in {uri}; run an experiment first (orchestrate list)")


@app.command()
def status(
    experiment: Annotated[
        Optional[str], typer.Argument(help="One experiment (default: all in the store)")  # noqa: UP045
    ] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Per experiment: trials done, running, failed and missing (from MLflow, read only)."""
    from orchestrator.report import latest_spec
    from orchestrator.tracking.store import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri, read_only=True)
    table = Table("experiment", "preset", "trials", "done", "running", "failed", "missing")
    empty = []
    for name, tracker in _trackers(uri, [experiment] if experiment else []):
        parents, children = tracker.parent_runs(), tracker.child_runs()
        if parents.empty and children.empty:
            empty.append(name)
        spec = latest_spec(parents, tracker.spec) or {}
        last = parents.sort_values("start_time").iloc[-1] if not parents.empty else {}
        raw = last.get("tags.n_trials")  # a tag: a sweep's parent is reused when it grows
        raw = raw if isinstance(raw, str) else last.get("params.n_trials")
        total = int(raw) if isinstance(raw, str) and raw.isdigit() else 0
        counts = {}
        if not children.empty and "tags.run_key" in children:
            latest = children.sort_values("start_time").drop_duplicates("tags.run_key", keep="last")
            counts = latest["status"].value_counts()
        done, running = int(counts.get("FINISHED", 0)), int(counts.get("RUNNING", 0))
        failed = int(counts.get("FAILED", 0))
        preset = spec.get("preset") or last.get("tags.preset")
        row = [name, preset if isinstance(preset, str) else "?", total, done, running, failed]
        row.append(max(total - done - running - failed, 0))
        table.add_row(*[str(c) for c in row])
    console.print(table)
    if not table.row_count:
        console.print(f"no experiments in {uri}")
    for name in empty:
        console.print(f"{name}: no runs yet")


@app.command()
def score(
    test: Annotated[Path, typer.Argument(help="Score file (csv/parquet: score,label,pai)")],
    dev: Annotated[Optional[Path], typer.Option(help="Dev score file for dev_eer")] = None,  # noqa: UP045
    threshold: Annotated[str, typer.Option(help="dev_eer | test_eer | a number")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """ISO/IEC 30107-3 metrics of a score file (APCER per species, BPCER, ACER, HTER, EER, AUC).

    APCER is per ``pai`` species (OULU-NPU: print, display), the instruments of a species pooled.
    """
    from protocols.metrics import compute_metrics, load_scores

    policy: str | float = threshold or ("dev_eer" if dev else "test_eer")
    if policy not in ("dev_eer", "test_eer"):
        try:
            policy = float(policy)
        except ValueError:
            fail(f"--threshold {threshold!r}: expected dev_eer, test_eer or a number")
        if not math.isfinite(float(policy)):
            fail(f"--threshold {threshold!r}: expected dev_eer, test_eer or a finite number")
    try:
        m = compute_metrics(load_scores(test), load_scores(dev) if dev else None, threshold=policy)
    except ValueError as exc:
        fail(str(exc))
        return
    if as_json:
        sys.stdout.write(json.dumps(json_safe(m), allow_nan=False) + "\n")
        return
    table = Table("metric", "value")
    for key in ("apcer", "apcer_pooled", "bpcer", "acer", "far", "frr", "hter", "eer"):
        table.add_row(key.upper(), f"{100 * m[key]:.2f}%")
    table.add_row("AUC", f"{m['auc']:.4f}")
    table.add_row("threshold", f"{m['threshold']:.6g} ({m['threshold_policy']})")
    for pai, value in sorted(m["apcer_per_pai"].items()):
        table.add_row(f"APCER {pai}", f"{100 * value:.2f}%")
    console.print(table)


@app.command()
def ui(
    tracking_uri: TrackingUri = None,
    host: str = "127.0.0.1",
    port: int = 5000,
) -> None:
    """The MLflow UI on the configured store."""
    from orchestrator.tracking.store import resolve_tracking_uri
    from orchestrator.tracking.views import launch_ui

    raise typer.Exit(launch_ui(resolve_tracking_uri(tracking_uri), host, port))


if __name__ == "__main__":
    app()
