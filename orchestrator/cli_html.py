"""``orchestrate report --html``: an experiment's page from its tracker, and its logging."""

from __future__ import annotations

from functools import partial

from orchestrator.report import Report, latest_spec
from orchestrator.report_html import experiment_html, page_file
from orchestrator.report_page import ExperimentPage, PageSource, build_page
from orchestrator.tracking.pages import log_html_report, metric_history, run_genotype, run_url
from orchestrator.tracking.runs import Tracker


def _latest_parent(tracker: Tracker) -> str | None:
    parents = tracker.parent_runs()
    if parents.empty:
        return None
    return str(parents.sort_values("start_time").iloc[-1]["run_id"])


def experiment_page(tracker: Tracker, report: Report, ui_url: str) -> ExperimentPage:
    """The page of ``report``'s experiment, its runs linked to the MLflow UI at ``ui_url``."""
    spec = latest_spec(tracker.parent_runs(), tracker.spec) or {}
    experiment_id = str(tracker.experiment_id)
    source = PageSource(
        scores=tracker.scores,
        history=partial(metric_history, tracker),
        genotype=partial(run_genotype, tracker),
        url=lambda run_id: run_url(ui_url, experiment_id, run_id),
    )
    page = build_page(report.experiment, report, spec, tracker.child_runs(), source)
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
