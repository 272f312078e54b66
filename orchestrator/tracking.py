"""MLflow, the only module that imports it: the driver is the single writer of the store.

Layout (DESIGN.md): one MLflow experiment per orchestrator experiment, one parent run per
invocation, one nested child run per trial, tagged with its run key so a re-run finds what is done.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient

PARENT_TAG = "mlflow.parentRunId"
MAX_BATCH = 900


def default_tracking_uri(cwd: Path | None = None) -> str:
    """``sqlite:///mlruns/mlflow.db`` under the working directory (absolute, so workers agree)."""
    db = (cwd or Path.cwd()) / "mlruns" / "mlflow.db"
    return f"sqlite:///{db}"


def resolve_tracking_uri(uri: str | None) -> str:
    """``--tracking-uri``, else ``MLFLOW_TRACKING_URI``, else the local SQLite store."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
    db = _sqlite_path(uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    return uri


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///PATH`` URI (``sqlite:////abs`` is absolute)."""
    prefix = "sqlite:///"
    return Path(uri[len(prefix) :]) if uri.startswith(prefix) else None


class Tracker:
    """Writes and reads one orchestrator experiment's runs."""

    def __init__(self, tracking_uri: str, experiment: str, create: bool = True) -> None:
        self.uri = tracking_uri
        self.client = MlflowClient(tracking_uri)
        self.experiment_name = experiment
        found = self.client.get_experiment_by_name(experiment)
        if found is None and create:
            self.experiment_id = self.client.create_experiment(
                experiment, artifact_location=self._artifact_location(experiment)
            )
        else:
            self.experiment_id = found.experiment_id if found else None

    def _artifact_location(self, experiment: str) -> str | None:
        db = _sqlite_path(self.uri)
        if db is None:
            return None  # a tracking server decides (artifacts proxied)
        return (db.parent / "artifacts" / experiment).resolve().as_uri()

    # -- reading ---------------------------------------------------------------------------
    def runs(self) -> pd.DataFrame:
        """All runs of the experiment, one row each: params.*, metrics.*, tags.*, status."""
        if self.experiment_id is None:
            return pd.DataFrame()
        rows = []
        token = None
        while True:
            page = self.client.search_runs([self.experiment_id], max_results=1000, page_token=token)
            for run in page:
                row: dict[str, Any] = {
                    "run_id": run.info.run_id,
                    "status": run.info.status,
                    "start_time": run.info.start_time,
                    "end_time": run.info.end_time,
                }
                row.update({f"params.{k}": v for k, v in run.data.params.items()})
                row.update({f"metrics.{k}": v for k, v in run.data.metrics.items()})
                row.update({f"tags.{k}": v for k, v in run.data.tags.items()})
                rows.append(row)
            token = page.token
            if not token:
                break
        return pd.DataFrame(rows)

    def child_runs(self) -> pd.DataFrame:
        df = self.runs()
        if df.empty or f"tags.{PARENT_TAG}" not in df:
            return pd.DataFrame()
        return df[df[f"tags.{PARENT_TAG}"].notna()].reset_index(drop=True)

    def parent_runs(self) -> pd.DataFrame:
        df = self.runs()
        if df.empty:
            return df
        if f"tags.{PARENT_TAG}" not in df:
            return df
        return df[df[f"tags.{PARENT_TAG}"].isna()].reset_index(drop=True)

    def finished_run_keys(self) -> dict[str, str]:
        df = self.child_runs()
        if df.empty or "tags.run_key" not in df:
            return {}
        done = df[df["status"] == RunStatus.to_string(RunStatus.FINISHED)]
        return dict(zip(done["tags.run_key"], done["run_id"], strict=True))

    def download(self, run_id: str, path: str, dst: Path) -> Path:
        return Path(self.client.download_artifacts(run_id, path, str(dst)))

    # -- writing ---------------------------------------------------------------------------
    def start_parent(self, name: str, tags: Mapping[str, str], params: Mapping[str, Any]) -> str:
        run = self.client.create_run(self.experiment_id, run_name=name, tags=dict(tags))
        self._log(run.info.run_id, params=params)
        return run.info.run_id

    def start_child(
        self, parent_id: str, name: str, tags: Mapping[str, str], params: Mapping[str, Any]
    ) -> str:
        """A child run for a trial; stale unfinished runs of the same key are removed first."""
        self._drop_stale(tags["run_key"])
        run = self.client.create_run(
            self.experiment_id, run_name=name, tags={**tags, PARENT_TAG: parent_id}
        )
        self._log(run.info.run_id, params=params)
        return run.info.run_id

    def _drop_stale(self, run_key: str) -> None:
        df = self.child_runs()
        if df.empty or "tags.run_key" not in df:
            return
        stale = df[(df["tags.run_key"] == run_key) & (df["status"] != "FINISHED")]
        for run_id in stale["run_id"]:
            self.client.delete_run(run_id)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int) -> None:
        self._log(run_id, metrics=metrics, step=step)

    def log_artifacts(self, run_id: str, files: Mapping[str, bytes] | Path) -> None:
        if isinstance(files, Path):
            self.client.log_artifacts(run_id, str(files))
            return
        with tempfile.TemporaryDirectory() as tmp:
            for name, blob in files.items():
                (Path(tmp) / name).write_bytes(blob)
            self.client.log_artifacts(run_id, tmp)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self._log(run_id, tags=tags)

    def end(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)

    def _log(
        self,
        run_id: str,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        step: int = 0,
    ) -> None:
        ts = int(time.time() * 1000)
        p = [Param(k, str(v)[:6000]) for k, v in (params or {}).items()]
        m = [
            Metric(k, float(v), ts, step)
            for k, v in (metrics or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))
        ]
        t = [RunTag(k, str(v)[:5000]) for k, v in (tags or {}).items()]
        for i in range(0, max(len(p), len(m), len(t), 1), MAX_BATCH):
            chunk = slice(i, i + MAX_BATCH)
            if p[chunk] or m[chunk] or t[chunk]:
                self.client.log_batch(run_id, metrics=m[chunk], params=p[chunk], tags=t[chunk])


def genotype_figures(tracker: Tracker, out: Path) -> list[Path]:
    """The genotype pictures of the finished searched trials, one PNG per trial, into ``out``."""
    children = tracker.child_runs()
    if children.empty or "tags.workload" not in children:
        return []
    done = children[
        (children["status"] == "FINISHED") & (children["tags.workload"] == "nas_search")
    ]
    paths = []
    for row in done.to_dict("records"):
        run_id = row["run_id"]
        label = str(row.get("tags.mlflow.runName") or run_id)
        names = {a.path for a in tracker.client.list_artifacts(run_id)}
        if "genotype.png" not in names:
            continue
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tracker.client.download_artifacts(run_id, "genotype.png", tmp))
            dst = out / f"{label.replace('/', '_')}.png"
            dst.write_bytes(src.read_bytes())
        paths.append(dst)
    return paths


def list_experiments(tracking_uri: str) -> list[str]:
    """Names of the store's experiments (MLflow's own ``Default`` left out)."""
    exps = MlflowClient(tracking_uri).search_experiments()
    return sorted(e.name for e in exps if e.name != "Default")


def launch_ui(tracking_uri: str, host: str = "127.0.0.1", port: int = 5000) -> int:
    """``mlflow ui`` on the configured store (blocks until interrupted)."""
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri]
    cmd += ["--host", host, "--port", str(port)]
    return subprocess.call(cmd)
