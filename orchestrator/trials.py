"""What a trial reads and writes, without Ray: report kinds, checkpoint files, the trial's
context, Tune's experiment folder on any filesystem, and the Optuna space of sampled trials.

``backend.py`` (the only module that imports ray) drives Tune with these; keeping them here keeps
the Ray module to the Ray calls and lets the rest be tested without a cluster.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow.fs

FINAL = "final"
ERROR = "error"
#: A report that only saves state between epochs (empty metrics with a checkpoint).
CHECKPOINT = "checkpoint"
#: Files of a Tune checkpoint the backend owns: the final result, and the trial's last metrics
#: (so a resumed trial's objective is right); workload files must not use these names.
RESULT_FILE, TRIAL_FILE = "result.json", "trial.json"
#: How often (seconds) the driver saves Tune's experiment state: what a killed driver's restore
#: sees. Tune's default ("auto", at least 10 s) would rerun more of what finished just before.
STATE_SAVE_SECONDS = "5"
#: Written into an experiment's directory when every trial ended (finished or an application
#: failure): nothing there is left to restore, the next run starts a new experiment.
COMPLETE_FILE = "orchestrator-complete"
#: Config keys of a sampler's choices (``arch.<choice>``) in a sampled trial's config.
SAMPLE_PREFIX = "arch."
#: Ray's resource that only the head node has (a node-affinity label Ray itself uses so).
HEAD_RESOURCE = "node:__internal_head__"
#: What a multi-worker trial's Tune function reserves: it only drives and waits for its Train
#: workers (which reserve the spec's cpu/gpu each), so no CPU -- a fractional CPU would make
#: N workers x 1 CPU unschedulable on an N-CPU machine -- and a little memory, because Tune
#: needs a non-empty request. It runs on the head (with its Train controller, which Ray Train
#: places beside it): a lost worker node then takes Train workers only, and the controller
#: releases their reservation before Tune retries the trial. A driver lost with a worker node
#: would take its controller along and leave the workers' placement group reserved (it lives
#: as long as the job), so the retry could never schedule its workers.
DRIVER_RESOURCES = {"cpu": 0.0, "memory": 256 * 1024**2, HEAD_RESOURCE: 0.001}


def write_result(result, out: Path, node_id: str) -> None:
    """A trial's final result as files: ``scores.parquet``, the artifacts, ``result.json``."""
    result.scores.to_parquet(out / "scores.parquet", index=False)
    for name, blob in result.artifacts.items():
        (out / name).write_bytes(blob)
    (out / RESULT_FILE).write_text(
        json.dumps(
            {"metrics": result.metrics, "info": {**result.info, "node_id": node_id}},
            default=str,
            indent=1,
        )
    )


def read_files(path: Path | str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in Path(path).iterdir() if p.is_file()}


def write_files(files: Mapping[str, bytes], path: Path | str) -> None:
    for name, blob in files.items():
        (Path(path) / name).write_bytes(blob)


def trial_ctx(
    ctx: dict[str, Any], resources: Mapping[str, float], storage_path: str | None
) -> dict[str, Any]:
    """What a trial knows of its resources: threads per process, and for a multi-worker trial
    the per-worker cpu/gpu, the worker count and the storage its Train run shares with Tune."""
    cpu, gpu = float(resources.get("cpu", 1)), float(resources.get("gpu", 0))
    out = {**ctx, "threads": max(1, cpu), "cpu": cpu, "gpu": gpu}
    workers = int(resources.get("workers", 1))
    if workers > 1:
        out.update({"workers": workers, "storage_path": storage_path})
    return out


def train_run_name(experiment: str, run_key: str, trial_id: str) -> str:
    """A Train run's name under the Tuner's storage path: stable across Tune's retries of the
    trial (same trial id), so a retried trial finds the run's checkpoints; never a timestamp."""
    return f"{experiment}_{run_key}_{trial_id}"


def train_slots(
    now: Mapping[str, float], most: Mapping[str, float], cpu: float, gpu: float, workers: int
) -> int | None:
    """How many multi-worker trials fit the cluster at once (Tune's ``max_concurrent_trials``),
    from its current resources and the autoscaler's maximum (``most``, empty when fixed):
    drivers reserve no CPU, so Tune would otherwise start every trial's driver at once."""
    slots = [
        int(max(float(now.get(name, 0)), float(most.get(name, 0))) // (per * workers))
        for name, per in (("CPU", cpu), ("GPU", gpu))
        if per > 0
    ]
    return max(1, min(slots)) if slots else None


def _fs(experiment_dir: str):
    """(pyarrow filesystem, path) of a Tune experiment folder: a local folder or a URI (s3://)."""
    return pyarrow.fs.FileSystem.from_uri(experiment_dir)


def forget(experiment_dir: str) -> None:
    """Delete a Tune experiment's state and checkpoints, if any."""
    fs, path = _fs(experiment_dir)
    if fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound:
        fs.delete_dir(path)


def mark_complete(experiment_dir: str) -> None:
    fs, path = _fs(experiment_dir)
    with fs.open_output_stream(f"{path}/{COMPLETE_FILE}") as out:
        out.write(b"every trial ended\n")


def is_complete(experiment_dir: str) -> bool:
    fs, path = _fs(experiment_dir)
    return fs.get_file_info(f"{path}/{COMPLETE_FILE}").type != pyarrow.fs.FileType.NotFound


class DefineByRun:
    """Optuna's define-by-run space: one categorical per choice; the job rides along as constants
    (a class, not a closure, because Tune pickles its searcher)."""

    def __init__(self, choices: dict[str, list], constants: dict[str, Any]) -> None:
        self.choices, self.constants = choices, constants

    def __call__(self, trial) -> dict[str, Any]:
        for key, options in self.choices.items():
            trial.suggest_categorical(SAMPLE_PREFIX + key, list(options))
        return self.constants
