"""What one experiment's HTML page shows, gathered from its runs (no MLflow here: the store is
read through plain callables, ``PageSource``).

The table and its figure are the ``Report`` that ``orchestrate report --tables`` prints; this
module adds, per finished trial of the report: its per-epoch curves, ROC/DET curves of its stored
test scores, its genotype drawing (searches) and the address of its MLflow run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from orchestrator.report import Report, reported_runs
from orchestrator.report_curves import epoch_figure, roc_det_figure
from orchestrator.report_stats import FINISHED, ScoreSource, run_threshold
from search_spaces.draw import draw_genotype
from search_spaces.genotypes import Genotype, GenotypeError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageSource:
    """How the page reads a store: a run's scores, its per-epoch history (``metric, step,
    value`` rows; from its runs-table row), its genotype data, and its address in the UI."""

    scores: ScoreSource
    history: Callable[[dict], pd.DataFrame]
    genotype: Callable[[str], dict | None]
    url: Callable[[str], str]


@dataclass(frozen=True)
class RunLink:
    label: str
    status: str
    acer: float  # the run's own test ACER (fraction), nan if it has none
    url: str


@dataclass
class Picture:
    caption: str
    png: bytes
    alt: str = ""
    stem: str = ""  # a file name for it, where it is written on its own


@dataclass
class ExperimentPage:
    name: str
    report: Report
    description: str = ""
    parent_url: str = ""
    figures: list[Picture] = field(default_factory=list)
    genotypes: list[Picture] = field(default_factory=list)
    runs: list[RunLink] = field(default_factory=list)


def run_label(row: dict) -> str:
    """A run's name in the page: its MLflow run name (the trial's label), else its id."""
    return str(row.get("tags.mlflow.runName") or row["run_id"])


def _acer(row: dict) -> float:
    value = row.get("metrics.test_acer")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _curves(rows: list[dict], source: PageSource) -> dict[str, tuple[pd.DataFrame, float]]:
    found = {}
    for row in rows:
        scores = source.scores(str(row["run_id"]))
        if scores is None or not len(scores):
            continue
        try:
            found[run_label(row)] = (scores, run_threshold(row, scores))
        except ValueError as exc:  # e.g. a test split with one class: no curve
            log.warning(f"run {row['run_id']}: no ROC curve: {exc}")
    return found


def genotype_title(row: dict) -> str:
    """``S-CD-CDP-Att: test ACER 12.5 % (run S-CD-CDP-Att_seed0)``."""
    variant = row.get("params.variant")
    name = str(variant) if isinstance(variant, str) and variant else run_label(row)
    acer = _acer(row)
    score = f"test ACER {100 * acer:.1f} %" if not math.isnan(acer) else "no test ACER"
    return f"{name}: {score} (run {run_label(row)})"


def genotype_pictures(
    rows: list[dict], read: Callable[[str], dict | None], workload: str
) -> list[Picture]:
    """The drawings of the finished trials' genotypes (``read``: run id -> genotype data) of
    ``workload`` (the experiment's own, not its random samples'), each titled with the
    variant's name and its score."""
    pictures = []
    for row in rows:
        if row.get("status") != FINISHED:
            continue
        if workload and row.get("tags.workload", workload) != workload:
            continue
        data = read(str(row["run_id"]))
        if data is None:
            continue
        try:
            genotype = Genotype.from_dict(data)
            title = genotype_title(row)
            png = draw_genotype(genotype, title)
        except (GenotypeError, KeyError, ValueError) as exc:
            log.warning(f"run {row['run_id']}: genotype not drawn: {exc}")
            continue
        label = run_label(row)
        stem = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in label)
        pictures.append(Picture(title, png, f"genotype of {label}", stem))
    return pictures


def report_rows(spec: dict, children: pd.DataFrame) -> list[dict]:
    """The runs a report covers, oldest first, as records."""
    runs = reported_runs(spec, children)
    return runs.sort_values("start_time").to_dict("records") if len(runs) else []


def build_page(
    name: str,
    report: Report,
    spec: dict,
    children: pd.DataFrame,
    source: PageSource,
    genotypes: list[Picture] | None = None,
) -> ExperimentPage:
    """The page of one experiment: ``report`` as ``experiment_report`` built it from ``spec``
    and ``children`` (the same runs, the same numbers), plus each trial's pictures and link
    (``genotypes``: the drawings if already made, see ``genotype_pictures``)."""
    rows = report_rows(spec, children)
    done = [r for r in rows if r.get("status") == FINISHED]
    page = ExperimentPage(name, report, str(spec.get("description", "")))
    if report.figure is not None:
        page.figures.append(Picture(report.title, report.figure, f"{name} summary figure"))
    curves = _curves(done, source)
    if curves:
        title = f"{name}: test scores of each finished trial"
        png = roc_det_figure(curves, title)
        page.figures.append(Picture("ROC and DET curves of the test scores", png, "ROC and DET"))
    histories = {run_label(r): source.history(r) for r in done}
    png = epoch_figure(histories, f"{name}: per-epoch metrics")
    if png is not None:
        page.figures.append(Picture("Per-epoch metrics of each trial", png, "per-epoch curves"))
    if genotypes is None:
        genotypes = genotype_pictures(done, source.genotype, str(spec.get("workload", "")))
    page.genotypes = genotypes
    page.runs = [
        RunLink(run_label(r), str(r.get("status")), _acer(r), source.url(str(r["run_id"])))
        for r in rows
    ]
    return page
