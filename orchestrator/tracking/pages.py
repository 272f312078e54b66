"""What the HTML report reads from a store beyond the runs table, and where it logs the page.

Reads: a child run's per-epoch metric histories and its ``genotype.json``; a run's address in
the MLflow UI. Writes (only when ``orchestrate report --log-to-mlflow`` asks): the pages as
artifacts of the sweep's latest parent run, which the MLflow UI previews.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from mlflow.exceptions import MlflowException

from orchestrator.tracking.runs import Tracker

#: Where the pages go on a parent run.
REPORT_ARTIFACT_DIR = "report"
#: Metrics that count time rather than measure the model: no curve of their own.
NOT_CURVES = frozenset({"epoch", "elapsed_s"})

log = logging.getLogger(__name__)


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    """A run's page in the MLflow UI served at ``base``."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def metric_history(tracker: Tracker, run: Mapping[str, object]) -> pd.DataFrame:
    """A run's per-epoch metrics (step >= 1), long form: ``metric, step, value``; ``run`` is
    its row of ``Tracker.child_runs()`` (its ``metrics.*`` columns name what it logged)."""
    keys = [
        str(k).removeprefix("metrics.")
        for k, v in run.items()
        if str(k).startswith("metrics.") and pd.notna(v)
    ]
    rows = []
    for key in keys:
        if key in NOT_CURVES:
            continue
        found = tracker.transport.call(
            "get_metric_history", tracker.client.get_metric_history, str(run["run_id"]), key
        )
        rows += [(key, m.step, m.value) for m in found if m.step >= 1]
    frame = pd.DataFrame(rows, columns=["metric", "step", "value"])
    return frame.sort_values(["metric", "step"]).reset_index(drop=True)


def run_genotype(tracker: Tracker, run_id: str) -> dict | None:
    """A run's ``genotype.json`` as data, or None when it has none."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = tracker.transport.call(
                "download_artifacts",
                tracker.client.download_artifacts,
                run_id,
                "genotype.json",
                tmp,
            )
            return json.loads(Path(local).read_text())
        except (MlflowException, OSError, ValueError) as exc:
            log.info(f"run {run_id} has no readable genotype.json: {exc}")
            return None


def log_html_report(tracker: Tracker, run_id: str, files: Mapping[str, bytes]) -> None:
    """The report's pages as artifacts of a parent run (under ``report/``)."""
    tracker.log_artifacts(run_id, files, REPORT_ARTIFACT_DIR)
