"""``orchestrate report``'s pictures and ``--html`` pages from a tracker, and their logging."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from orchestrator.report import Report, latest_spec
from orchestrator.report_html import experiment_html, page_file
from orchestrator.report_page import (
    ExperimentPage,
    PageSource,
    Picture,
    build_page,
    genotype_pictures,
    report_rows,
)
from orchestrator.tracking.pages import log_html_report, metric_history, run_genotype, run_url
from orchestrator.tracking.runs import Tracker


def _latest_parent(tracker: Tracker) -> str | None:
    parents = tracker.parent_runs()
    if parents.empty:
        return None
    return str(parents.sort_values("start_time").iloc[-1]["run_id"])


def genotype_drawings(tracker: Tracker, out: Path) -> tuple[list[Picture], list[Path]]:
    """The searched genotypes of the experiment's latest sweep, drawn with a legend, each
    also written to ``out`` as ``<run name>.png``."""
    spec = latest_spec(tracker.parent_runs(), tracker.spec) or {}
    rows = report_rows(spec, tracker.child_runs())
    read = partial(run_genotype, tracker)
    pictures = genotype_pictures(rows, read, str(spec.get("workload", "")))
    paths = []
    for picture in pictures:
        out.mkdir(parents=True, exist_ok=True)
        paths.append(out / f"{picture.stem}.png")
        paths[-1].write_bytes(picture.png)
    return pictures, paths


def experiment_page(
    tracker: Tracker, report: Report, ui_url: str, genotypes: list[Picture] | None = None
) -> ExperimentPage:
    """The page of ``report``'s experiment, its runs linked to the MLflow UI at ``ui_url``."""
    spec = latest_spec(tracker.parent_runs(), tracker.spec) or {}
    experiment_id = str(tracker.experiment_id)
    source = PageSource(
        scores=tracker.scores,
        history=partial(metric_history, tracker),
        genotype=partial(run_genotype, tracker),
        url=lambda run_id: run_url(ui_url, experiment_id, run_id),
    )
    page = build_page(report.experiment, report, spec, tracker.child_runs(), source, genotypes)
    parent = _latest_parent(tracker)
    page.parent_url = source.url(parent) if parent else ""
    return page


def log_page(tracker: Tracker, page: ExperimentPage) -> str | None:
    """The page as an artifact of the experiment's latest parent run (its id, None if none)."""
    parent = _latest_parent(tracker)
    if parent is not None:
        log_html_report(tracker, parent, {page_file(page.name): experiment_html(page).encode()})
        tracker.flush()
    return parent
