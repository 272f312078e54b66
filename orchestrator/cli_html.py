"""``orchestrate report``'s pictures and ``--html`` pages from a tracker, and their logging."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pandas as pd

from orchestrator.report import Report
from orchestrator.report_html import experiment_html, page_file
from orchestrator.report_page import (
    ExperimentPage,
    PageSource,
    Picture,
    build_page,
    genotype_pictures,
    report_rows,
)
from orchestrator.report_stats import ScoreSource
from orchestrator.tracking.pages import log_html_report, metric_history, run_genotype, run_url
from orchestrator.tracking.runs import Tracker


def genotype_drawings(
    tracker: Tracker, spec: dict, children: pd.DataFrame, out: Path
) -> tuple[list[Picture], list[Path]]:
    """The searched genotypes of the report's runs (``spec``'s latest sweep, ``children`` as
    the report read them), drawn with a legend, each also written to ``out/<run name>.png``."""
    rows = report_rows(spec, children)
    read = partial(run_genotype, tracker)
    pictures = genotype_pictures(rows, read, str(spec.get("workload", "")))
    paths = []
    for picture in pictures:
        out.mkdir(parents=True, exist_ok=True)
        paths.append(out / f"{picture.stem}.png")
        paths[-1].write_bytes(picture.png)
    return pictures, paths


def experiment_page(
    tracker: Tracker,
    report: Report,
    ui_url: str,
    read: tuple[dict, pd.DataFrame, ScoreSource, str | None],
    genotypes: list[Picture] | None = None,
) -> ExperimentPage:
    """The page of ``report``'s experiment from what the report read (``spec, children,
    scores, parent run id``), its runs linked to the MLflow UI at ``ui_url``."""
    spec, children, scores, parent = read
    experiment_id = str(tracker.experiment_id)
    source = PageSource(
        scores=scores,
        history=partial(metric_history, tracker),
        genotype=partial(run_genotype, tracker),
        url=lambda run_id: run_url(ui_url, experiment_id, run_id),
    )
    page = build_page(report.experiment, report, spec, children, source, genotypes)
    page.parent_url = source.url(parent) if parent else ""
    return page


def log_page(tracker: Tracker, parent: str, page: ExperimentPage) -> None:
    """The page as an artifact of the sweep's parent run ``parent``."""
    log_html_report(tracker, parent, {page_file(page.name): experiment_html(page).encode()})
