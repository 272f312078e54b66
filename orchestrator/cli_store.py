"""``orchestrate report`` and ``orchestrate status``: the commands that read a tracking store.

Both only read (a store they would have to create is refused, ``report`` writes to MLflow only
with ``--log-to-mlflow``), and both refuse a store without experiments: a mistyped
``--tracking-uri`` ends in one line naming it, not in an empty table.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from orchestrator.cli_common import TrackingUri, choices, console, fail, json_safe
from orchestrator.report_formats import FORMATS

ReportFormat = choices("ReportFormat", FORMATS)
MARKDOWN = ReportFormat("md")


def trackers(uri: str, names: list[str]):
    """(name, Tracker) for the named experiments (an unknown one is an error), else for every
    experiment the store holds (none is an error: the URI is likely mistyped)."""
    from orchestrator.tracking.runs import Tracker
    from orchestrator.tracking.views import list_experiments as stored_experiments

    found = names or stored_experiments(uri)
    if not found:
        fail(
            f"no experiments in MLflow at {uri}; check --tracking-uri or MLFLOW_TRACKING_URI, "
            "or run an experiment first (orchestrate list)"
        )
    for name in found:
        tracker = Tracker(uri, name, create=False)
        if tracker.experiment_id is None:
            fail(f"MLflow at {uri} has no experiment {name!r}")
        yield name, tracker


def report(
    tables: Annotated[bool, typer.Option("--tables", help="Print the tables")] = False,
    experiment: Annotated[list[str], typer.Option(help="Only these experiments (repeatable)")] = [],  # noqa: B006
    fmt: Annotated[ReportFormat, typer.Option("--format", help="Table format")] = MARKDOWN,  # type: ignore[valid-type]
    out: Annotated[Path, typer.Option(help="Where tables and figures are written")] = Path(
        "reports"
    ),
    log_to_mlflow: Annotated[
        bool,
        typer.Option(
            "--log-to-mlflow",
            help="Also log each summary (and HTML page) to its experiment's latest parent run"
            " (the only write)",
        ),
    ] = False,
    html: Annotated[
        bool, typer.Option("--html", help="Also a self-contained HTML page per experiment")
    ] = False,
    mlflow_url: Annotated[
        str, typer.Option(help="The MLflow UI the HTML pages link runs to")
    ] = "http://127.0.0.1:5000",
    tracking_uri: TrackingUri = None,
) -> None:
    """Paper-shaped tables with 95 % intervals, and figures, from MLflow into --out. The store is
    only read (each sweep's parent run already carries its summary from `orchestrate run`)
    unless --log-to-mlflow."""
    from orchestrator.cli_html import experiment_page, genotype_drawings, log_page
    from orchestrator.report import (
        experiment_report,
        latest_spec,
        publish,
        render_report,
        write_report,
    )
    from orchestrator.tracking.store import resolve_tracking_uri

    fmt_name = fmt.value
    uri = resolve_tracking_uri(tracking_uri, read_only=True)
    shown, pages = 0, []
    for name, tracker in trackers(uri, experiment):
        # the store is read once per experiment; tables, drawings and page share what was read
        parents, children = tracker.parent_runs(), tracker.child_runs()
        scores = cache(tracker.scores)  # each trial's scores downloaded once, not per use
        spec_of = cache(tracker.spec)
        rep = experiment_report(name, parents, children, scores, spec_of=spec_of)
        if rep is None:
            continue
        shown += 1
        spec = latest_spec(parents, spec_of) or {}
        parent = str(parents.sort_values("start_time").iloc[-1]["run_id"]) if len(parents) else None
        paths = write_report(rep, fmt_name, out)
        genotypes, drawn = genotype_drawings(tracker, spec, children, out / f"{name}_genotypes")
        paths += drawn
        if html or log_to_mlflow:
            read = (spec, children, scores, parent)
            pages.append(experiment_page(tracker, rep, mlflow_url, read, genotypes))
        if tables:
            console.print(f"\n[bold]{rep.title}[/bold]")
            console.print(render_report(rep, fmt_name), markup=False)
        console.print("written: " + ", ".join(str(p) for p in paths))
        if log_to_mlflow and parent is not None:
            publish(tracker, parent, rep)
            log_page(tracker, parent, pages[-1])
            tracker.flush()
            console.print(f"logged to MLflow: {name} parent run {parent} (summary, HTML page)")
    if html and pages:
        from orchestrator.report_html import write_pages

        console.print("HTML: " + ", ".join(str(p) for p in write_pages(pages, out)))
    if not shown:
        console.print(f"no finished runs in {uri}; run an experiment first (orchestrate list)")


def status(
    experiment: Annotated[
        Optional[str], typer.Argument(help="One experiment (default: all in the store)")  # noqa: UP045
    ] = None,
    tracking_uri: TrackingUri = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list")] = False,
) -> None:
    """Per experiment: trials done, running, failed and missing of the latest `orchestrate run`'s
    plan (from MLflow, read only)."""
    from orchestrator.report import latest_spec
    from orchestrator.status import PLAN_ARTIFACT, experiment_status
    from orchestrator.tracking.store import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri, read_only=True)
    rows, empty = [], []
    for name, tracker in trackers(uri, [experiment] if experiment else []):
        parents, children = tracker.parent_runs(), tracker.child_runs()
        if parents.empty and children.empty:
            empty.append(name)
        rows.append(
            experiment_status(
                name,
                parents,
                children,
                latest_spec(parents, tracker.spec),
                lambda run_id, t=tracker: t.artifact_json(run_id, PLAN_ARTIFACT),
            )
        )
    if as_json:
        sys.stdout.write(json.dumps(json_safe([r.to_dict() for r in rows])) + "\n")
        return
    table = Table("experiment", "preset", "trials", "done", "running", "failed", "missing")
    for row in rows:
        table.add_row(*[str(v) for v in row.to_dict().values()])
    console.print(table)
    for name in empty:
        console.print(f"{name}: no runs yet")
