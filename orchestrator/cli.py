"""``orchestrate``: the command line. Each command's help is its docstring."""

from __future__ import annotations

import json
import math
import os
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
    choices,
    console,
    err,
    fail,
    json_safe,
    one_line,
    set_verbosity,
)
from orchestrator.cli_data import data_app, protocols_app
from orchestrator.cli_plan import plan
from orchestrator.cli_store import report, status
from orchestrator.settings import LOG_LEVEL_ENV
from orchestrator.specs import PRESETS

Preset = choices("Preset", PRESETS)
QUICK = Preset("quick")


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
app.command()(report)
app.command()(status)
app.command()(plan)


@app.callback()
def main(
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help="More library logging (Ray, MLflow): -v warnings and download bars, -vv info",
        ),
    ] = 0,
) -> None:
    """Distributed NAS experiments for face anti-spoofing on Ray, tracked in MLflow."""
    set_verbosity(verbose)


#: Exit codes of ``run`` besides 0, 1 (a trial failed) and 2 (bad input): another live driver
#: runs the experiment (EX_TEMPFAIL: try again later); interrupted by Ctrl-C (128 + SIGINT).
EXIT_BUSY, EXIT_INTERRUPTED = 75, 130


@app.command("list")
def list_experiments(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list")] = False,
) -> None:
    """The built-in experiments and their trial counts per preset."""
    from orchestrator.experiments import EXPERIMENTS
    from orchestrator.specs import with_preset
    from orchestrator.validation import n_trials

    rows = []
    for name in EXPERIMENTS:
        spec = EXPERIMENTS.get(name)
        trials = {p: n_trials(with_preset(spec, p)) for p in PRESETS}
        rows.append((name, spec.protocol, trials, spec.description))
    if as_json:
        keys = ("experiment", "protocol", "trials", "description")
        sys.stdout.write(json.dumps([dict(zip(keys, r, strict=True)) for r in rows]) + "\n")
        return
    table = Table()
    for col in ("experiment", "protocol", "trials " + "/".join(PRESETS)):
        table.add_column(col, no_wrap=True)
    table.add_column("what")
    for name, protocol, trials, description in rows:
        table.add_row(name, protocol, "/".join(str(n) for n in trials.values()), description)
    console.print(table)


@app.command()
def run(
    experiment: Annotated[str, typer.Argument(help="A built-in experiment name or a spec file")],
    preset: Annotated[Preset, typer.Option(help="The experiment's size")] = QUICK,  # type: ignore[valid-type]
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
        bool,
        typer.Option(
            "--verbose", "-v", help="Show the traceback of an error (and as orchestrate -v)"
        ),
    ] = False,
) -> None:
    """Run an experiment: every missing trial on Ray, every result into MLflow.

    Everything is validated before any work starts (params, grid, genotype, folders, sizes);
    a problem is one line naming the field or file (exit code 2).
    """
    if verbose:
        set_verbosity(1)
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
    from orchestrator.validation import check_networks, validate_spec
    from protocols.datasets import DatasetLayoutError
    from workloads.frames import VideoDecodeError

    try:
        spec = resolve_experiment(experiment, preset.value)
        spec = validate_spec(apply_overrides(spec, parse_set_options(set_)), yes_large)
        check_run_paths(cache_root, data_root, storage_path)
        if address:  # before data, MLflow and Ray: one line if the cluster cannot be joined
            from orchestrator.backend.connect import check_cluster

            check_cluster(address)
        spec = resolve_network(spec, lambda: resolve_tracking_uri(tracking_uri), yes_large)
        check_networks(spec)
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
        if verbose or os.environ.get(LOG_LEVEL_ENV) != "ERROR":  # run -v, or orchestrate -v
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
def score(
    test: Annotated[Path, typer.Argument(help="Score file (csv/parquet: score,label,pai)")],
    dev: Annotated[Optional[Path], typer.Option(help="Dev score file for dev_eer")] = None,  # noqa: UP045
    threshold: Annotated[str, typer.Option(help="dev_eer | test_eer | a number")] = "",
    split: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Only the rows of this split (a file with a split column, e.g. test)"),
    ] = None,
    dev_split: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="The dev rows' split (e.g. dev), from --dev, else from the score file"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """ISO/IEC 30107-3 metrics of a score file (APCER per species, BPCER, ACER, HTER, EER, AUC).

    APCER is per ``pai`` species (OULU-NPU: print, display), the instruments of a species pooled.
    A trial's own ``scores.parquet`` holds dev and test rows: ``--split test --dev-split dev``
    gives the metrics the trial logged.
    """
    from protocols.metrics import compute_metrics, load_scores

    if dev_split is not None and dev is None:
        dev = test
    policy: str | float = threshold or ("dev_eer" if dev else "test_eer")
    if policy not in ("dev_eer", "test_eer"):
        try:
            policy = float(policy)
        except ValueError:
            fail(f"--threshold {threshold!r}: expected dev_eer, test_eer or a number")
        if not math.isfinite(float(policy)):
            fail(f"--threshold {threshold!r}: expected dev_eer, test_eer or a finite number")
    try:
        dev_scores = load_scores(dev, dev_split) if dev else None
        m = compute_metrics(load_scores(test, split), dev_scores, threshold=policy)
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
