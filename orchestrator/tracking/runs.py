"""The ``Tracker``: one orchestrator experiment's runs in MLflow, written and read.

One parent run per sweep identity (``SWEEP_TAG``: re-running the sweep, with more grid points or
seeds, continues the same parent), one nested child run per trial, tagged with its run key so a
re-run finds what is done. A parent run keeps its full spec as the artifact ``spec.json``. What
the UI shows (the experiment's kind, description and results view, the source and data set
fields) is ``presentation``'s. Every call goes through the store's ``Transport`` (retries,
buffered metric and tag writes).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.entities import DatasetInput, Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestrator.tracking.presentation import (
    NOTE_TAG,
    experiment_tags,
    results_view,
    view_tag,
)
from orchestrator.tracking.store import schema_lock, sqlite_path
from orchestrator.tracking.transport import Transport

PARENT_TAG = "mlflow.parentRunId"
MAX_BATCH = 900
#: A one-off tag that makes run creation idempotent when a create request is retried; deleted
#: once the run exists (it is nothing the user needs to see).
CREATE_TOKEN_TAG = "orchestrator.create_token"
#: A parent run's sweep identity: the same sweep re-run (or extended) nests under it again.
SWEEP_TAG = "sweep"
#: The full spec of a sweep, an artifact of its parent run.
SPEC_ARTIFACT = "spec.json"
MAX_PARAM = 6000  # MLflow's limit on a param value
MAX_NOTE = 20000  # MLflow's limit on an experiment tag's value

log = logging.getLogger(__name__)


class Tracker:
    """Writes and reads one orchestrator experiment's runs."""

    def __init__(self, tracking_uri: str, experiment: str, create: bool = True) -> None:
        self.uri = tracking_uri
        self.experiment_name = experiment
        # The first client of a new SQLite store creates it; a reader opens an existing one.
        with schema_lock(tracking_uri) if create else contextlib.nullcontext():
            self.client = MlflowClient(tracking_uri)
            self.transport = Transport(self.client, tracking_uri)
            found = self.transport.call(
                "get_experiment_by_name", self.client.get_experiment_by_name, experiment
            )
        if found is None and create:
            try:
                self.experiment_id = self.transport.call(
                    "create_experiment",
                    self.client.create_experiment,
                    experiment,
                    artifact_location=self._artifact_location(experiment),
                )
            except MlflowException as exc:  # another driver created it a moment ago
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                found = self.client.get_experiment_by_name(experiment)
                self.experiment_id = found.experiment_id
        else:
            self.experiment_id = found.experiment_id if found else None

    def flush(self) -> None:
        """Wait until every buffered write reached MLflow (raises if one could not)."""
        self.transport.flush()

    def _artifact_location(self, experiment: str) -> str | None:
        db = sqlite_path(self.uri)
        if db is None:
            return None  # a tracking server decides (artifacts proxied)
        return (db.parent / "artifacts" / experiment).resolve().as_uri()

    # -- reading ---------------------------------------------------------------------------
    def runs(self) -> pd.DataFrame:
        """All runs of the experiment, one row each: params.*, metrics.*, tags.*, status."""
        if self.experiment_id is None:
            return pd.DataFrame()
        self.flush()  # read what this tracker wrote
        rows = []
        token = None
        while True:
            page = self.transport.call(
                "search_runs",
                self.client.search_runs,
                [self.experiment_id],
                max_results=1000,
                page_token=token,
            )
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

    def _download(self, run_id: str, path: str, dst: Path) -> Path:
        """One artifact into ``dst``. Reports and ``status`` read a file per run: MLflow's
        per-download progress bar stays off unless the user turned it on."""
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        self.flush()
        return Path(
            self.transport.call(
                "download_artifacts", self.client.download_artifacts, run_id, path, str(dst)
            )
        )

    def scores(self, run_id: str, path: str = "scores.parquet") -> pd.DataFrame | None:
        """A child run's per-video scores (the source of every table), or None if it has none."""
        with tempfile.TemporaryDirectory() as tmp:
            try:
                return pd.read_parquet(self._download(run_id, path, Path(tmp)))
            except (MlflowException, OSError) as exc:
                log.info(f"run {run_id} has no readable {path}: {exc}")
                return None

    # -- writing ---------------------------------------------------------------------------
    def describe(self, description: str, swept: list[str]) -> None:
        """The experiment as the UI shows it: a model-training experiment, its description, and
        the results view of its trials (see ``presentation``)."""
        tags = {**experiment_tags(description[:MAX_NOTE]), **view_tag(results_view(swept))}
        for key, value in tags.items():
            self.transport.call(
                "set_experiment_tag",
                self.client.set_experiment_tag,
                self.experiment_id,
                key,
                value,
            )

    def start_parent(
        self,
        name: str,
        tags: Mapping[str, str],
        params: Mapping[str, Any],
        spec: Mapping[str, Any] | None = None,
        identity: str | None = None,
    ) -> str:
        """A sweep's parent run, RUNNING: the one tagged ``identity`` if the sweep ran before
        (its tags updated; ``params`` are written only when the run is created, MLflow keeps a
        param's first value), else a new one. ``spec`` is stored in full as ``spec.json`` (read
        back by ``spec()``; a re-run's replaces the one before)."""
        tags = {**tags, SWEEP_TAG: identity} if identity else dict(tags)
        run_id = self.parent_of(identity) if identity else None
        if run_id is None:
            run_id = self._create_run(name, tags)
            self._log(run_id, params=params, sync=True)
        else:
            self.transport.call("update_run", self.client.update_run, run_id, status="RUNNING")
            self._log(run_id, tags=tags, sync=True)
        if spec is not None:
            text = json.dumps(spec, sort_keys=True)
            self.log_artifacts(run_id, {SPEC_ARTIFACT: text.encode()})
        return run_id

    def parent_of(self, identity: str) -> str | None:
        """The latest parent run of the sweep ``identity`` (None if it never ran)."""
        parents = self.parent_runs()
        if parents.empty or f"tags.{SWEEP_TAG}" not in parents:
            return None
        found = parents[parents[f"tags.{SWEEP_TAG}"] == identity]
        return None if found.empty else str(found.sort_values("start_time")["run_id"].iloc[-1])

    def spec(self, run_id: str) -> dict | None:
        """A parent run's full spec (``spec.json``); None for runs from before it was stored."""
        return self.artifact_json(run_id, SPEC_ARTIFACT)

    def artifact_json(self, run_id: str, path: str) -> Any:
        """A JSON artifact at the top of a run, parsed; None if the run has none."""
        listed = self.transport.call("list_artifacts", self.client.list_artifacts, run_id)
        if path not in {a.path for a in listed}:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            return json.loads(self._download(run_id, path, Path(tmp)).read_text())

    def start_child(
        self, parent_id: str, name: str, tags: Mapping[str, str], params: Mapping[str, Any]
    ) -> str:
        """A child run for a trial; stale unfinished runs of the same key are removed first."""
        self._drop_stale(tags["run_key"])
        run_id = self._create_run(name, {**tags, PARENT_TAG: parent_id})
        self._log(run_id, params=params, sync=True)
        return run_id

    def _create_run(self, name: str, tags: dict[str, str]) -> str:
        """Create a run; a retried create finds the run an unanswered attempt already made."""
        self.flush()
        token = uuid.uuid4().hex

        def existing() -> str | None:
            found = self.client.search_runs(
                [self.experiment_id], filter_string=f"tags.`{CREATE_TOKEN_TAG}` = '{token}'"
            )
            return found[0].info.run_id if found else None

        run: Any = self.transport.call(
            "create_run",
            self.client.create_run,
            self.experiment_id,
            run_name=name,
            tags={**tags, CREATE_TOKEN_TAG: token},
            on_retry=existing,
        )
        run_id = run if isinstance(run, str) else run.info.run_id
        self.transport.call("delete_tag", self.client.delete_tag, run_id, CREATE_TOKEN_TAG)
        return run_id

    def log_dataset(self, run_id: str, dataset: DatasetInput) -> None:
        """A data set (``presentation.dataset_input``) as an input of a run."""
        self.flush()
        self.transport.call("log_inputs", self.client.log_inputs, run_id, datasets=[dataset])

    def adopt_child(self, parent_id: str, run_key: str) -> tuple[str, int, set[str]] | None:
        """The unfinished child run a resumed trial continues (one run per trial), moved under
        ``parent_id`` and RUNNING again: its id, the last epoch it logged and its metric names.
        None if there is none. A dead driver's parent run still RUNNING is ended KILLED."""
        stale = self._unfinished(run_key)
        if stale.empty:
            return None
        row = stale.sort_values("start_time").iloc[-1]
        for other in stale["run_id"]:
            if other != row["run_id"]:
                self.transport.call("delete_run", self.client.delete_run, other)
        run_id, old_parent = str(row["run_id"]), str(row[f"tags.{PARENT_TAG}"])
        if old_parent != parent_id:
            if (
                self.transport.call("get_run", self.client.get_run, old_parent).info.status
                == "RUNNING"
            ):
                self.transport.call(
                    "set_terminated", self.client.set_terminated, old_parent, "KILLED"
                )
            self._log(run_id, tags={PARENT_TAG: parent_id}, sync=True)
        if isinstance(row.get("tags.error"), str):
            self.transport.call("delete_tag", self.client.delete_tag, run_id, "error")
        self.transport.call("update_run", self.client.update_run, run_id, status="RUNNING")
        names = {
            k.split(".", 1)[1] for k, v in row.items() if k.startswith("metrics.") and pd.notna(v)
        }
        return run_id, self._last_step(run_id, names), names

    def _last_step(self, run_id: str, names: set[str]) -> int:
        """The last epoch a run logged: the highest step of its metrics (epochs are steps)."""
        last = 0
        for name in sorted(names):
            history = self.transport.call(
                "get_metric_history", self.client.get_metric_history, run_id, name
            )
            last = max([last, *(int(m.step) for m in history)])
        return last

    def _drop_stale(self, run_key: str) -> None:
        stale = self._unfinished(run_key)
        for run_id in [] if stale.empty else stale["run_id"]:
            self.transport.call("delete_run", self.client.delete_run, run_id)

    def _unfinished(self, run_key: str) -> pd.DataFrame:
        """The child runs of trial ``run_key`` that did not finish (empty if none)."""
        df = self.child_runs()
        if df.empty or "tags.run_key" not in df:
            return pd.DataFrame()
        return df[(df["tags.run_key"] == run_key) & (df["status"] != "FINISHED")]

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int) -> None:
        self._log(run_id, metrics=metrics, step=step)

    def log_artifacts(
        self, run_id: str, files: Mapping[str, bytes] | Path, artifact_path: str | None = None
    ) -> None:
        """Files (a folder, or name -> bytes) as artifacts of a run, under ``artifact_path``."""
        self.flush()
        if isinstance(files, Path):
            self.transport.call(
                "log_artifacts", self.client.log_artifacts, run_id, str(files), artifact_path
            )
            return
        with tempfile.TemporaryDirectory() as tmp:
            for name, blob in files.items():
                (Path(tmp) / name).write_bytes(blob)
            self.transport.call(
                "log_artifacts", self.client.log_artifacts, run_id, tmp, artifact_path
            )

    def log_summary(
        self, run_id: str, files: Mapping[str, bytes], description: str | None = None
    ) -> None:
        """A sweep's summary on its parent run: files under ``summary/`` (table, statistics,
        figure) and the markdown table as the run's description, readable in the MLflow UI."""
        self.log_artifacts(run_id, files, "summary")
        if description:
            self._log(run_id, tags={NOTE_TAG: description}, sync=True)

    def note(self, run_id: str) -> str:
        """A run's description (what ``log_summary`` wrote), or ''."""
        self.flush()
        run = self.transport.call("get_run", self.client.get_run, run_id)
        return run.data.tags.get(NOTE_TAG, "")

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self._log(run_id, tags=tags)

    def end(self, run_id: str, status: str = "FINISHED") -> None:
        """End a run once everything logged before reached MLflow."""
        self.flush()
        self.transport.call("set_terminated", self.client.set_terminated, run_id, status=status)

    def _log(
        self,
        run_id: str,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        step: int = 0,
        sync: bool = False,
    ) -> None:
        ts = int(time.time() * 1000)
        p = [Param(k, str(v)[:MAX_PARAM]) for k, v in (params or {}).items()]
        m = [
            Metric(k, float(v), ts, step)
            for k, v in (metrics or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))
        ]
        t = [RunTag(k, str(v)[:5000]) for k, v in (tags or {}).items()]
        for i in range(0, max(len(p), len(m), len(t), 1), MAX_BATCH):
            chunk = slice(i, i + MAX_BATCH)
            if p[chunk] or m[chunk] or t[chunk]:
                batch = {"metrics": m[chunk], "params": p[chunk], "tags": t[chunk]}
                if sync:
                    self.flush()
                    self.transport.call("log_batch", self.client.log_batch, run_id, **batch)
                else:
                    self.transport.enqueue(run_id, batch)
