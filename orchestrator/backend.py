"""Ray, the only module that imports it: jobs become Ray Tune trials, trial events come back.

Each job is one trial of a function trainable with the spec's resources (GPUs requested through
Ray, so the same command schedules on a laptop or a GPU cluster). A trial reports per-epoch
metrics with ``tune.report`` and its final scores and artifacts as a Tune checkpoint, which Ray
persists to the run's storage (shared NFS/S3 on a cluster). The driver-side callback turns Tune's
events into ``TrialEvents`` calls; it never lets a trial touch the tracking store.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import ray
from ray import tune

from orchestrator.jobs import Job

FINAL = "final"


class TrialEvents(Protocol):
    """What the driver does with trial events (tracking, progress)."""

    def started(self, job: Job) -> None: ...
    def epoch(self, job: Job, metrics: dict[str, float]) -> None: ...
    def finished(self, job: Job, metrics: dict[str, float], artifact_dir: Path) -> None: ...
    def failed(self, job: Job, error: str) -> None: ...


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to a cluster (``address``, e.g. ``auto``) or start a local Ray."""
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "logging_level": logging.WARNING,
        "log_to_driver": os.environ.get("FAS_RAY_LOG_TO_DRIVER", "0") == "1",
    }
    if address:
        kwargs["address"] = address
    elif num_cpus:
        kwargs["num_cpus"] = num_cpus
    ray.init(**kwargs)


def cluster_resources() -> dict[str, float]:
    return dict(ray.cluster_resources())


def _trial(config: dict[str, Any]) -> None:
    """The function trainable: run the job's workload, report epochs, checkpoint the result."""
    import torch

    import workloads
    from workloads.base import WORKLOADS, DataHandle

    workloads.load_all()
    job = Job.from_dict(config["job"])
    ctx = config["ctx"]
    torch.set_num_threads(max(1, int(ctx["threads"])))

    def report(metrics: Mapping[str, float]) -> None:
        tune.report({"kind": "epoch", "metrics": dict(metrics)})

    data = DataHandle(Path(ctx["data_root"]), job.protocol, job.fold, Path(ctx["cache_root"]))
    result = WORKLOADS.get(job.workload)(dict(job.params), data, report)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        result.scores.to_parquet(out / "scores.parquet", index=False)
        for name, blob in result.artifacts.items():
            (out / name).write_bytes(blob)
        (out / "result.json").write_text(
            json.dumps({"metrics": result.metrics, "info": result.info}, default=str, indent=1)
        )
        tune.report(
            {"kind": FINAL, "metrics": dict(result.metrics)},
            checkpoint=tune.Checkpoint.from_directory(tmp),
        )


class _Bridge(tune.Callback):
    """Tune's driver-side events -> ``TrialEvents``; errors in the sink never kill the sweep."""

    def __init__(self, events: TrialEvents) -> None:
        self.events = events

    def __getstate__(self) -> dict:
        # Tune pickles its run config into the experiment state; the sink lives in this driver.
        return {"events": None}

    @staticmethod
    def _job(trial) -> Job:
        return Job.from_dict(trial.config["job"])

    def on_trial_start(self, iteration, trials, trial, **info):
        self.events.started(self._job(trial))

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if result.get("kind") == "epoch":
            self.events.epoch(self._job(trial), dict(result["metrics"]))

    def on_trial_complete(self, iteration, trials, trial, **info):
        job = self._job(trial)
        last = dict(trial.last_result or {})
        if last.get("kind") != FINAL or trial.checkpoint is None:
            self.events.failed(job, "trial ended without a final result")
            return
        with trial.checkpoint.as_directory() as path:
            self.events.finished(job, dict(last["metrics"]), Path(path))

    def on_trial_error(self, iteration, trials, trial, **info):
        self.events.failed(self._job(trial), _error_text(trial))


def _error_text(trial) -> str:
    try:
        err = trial.get_error()
        if err is not None:
            cause = getattr(err, "cause", None) or err
            return f"{type(cause).__name__}: {cause}".strip()[:4000]
    except Exception:  # noqa: BLE001 - the error text is best effort, the failure is not
        traceback.print_exc()
    return "trial failed (see the Ray logs)"


def run_trials(
    jobs: list[Job],
    events: TrialEvents,
    *,
    name: str,
    resources: Mapping[str, float],
    data_root: Path,
    cache_root: Path,
    storage_path: str | None = None,
    max_failures: int = 0,
) -> float:
    """Run every job as a Tune trial; returns the wall time. Trial failures do not raise."""
    if not jobs:
        return 0.0
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the legacy reporter is silent at verbose=0
    cpu = float(resources.get("cpu", 1))
    gpu = float(resources.get("gpu", 0))
    ctx = {"data_root": str(data_root), "cache_root": str(cache_root), "threads": max(1, cpu)}
    trainable = tune.with_resources(_trial, {"cpu": cpu, "gpu": gpu})
    by_key = {j.run_key: j for j in jobs}
    tuner = tune.Tuner(
        trainable,
        param_space={
            "job": tune.grid_search([j.to_dict() for j in jobs]),
            "ctx": ctx,
        },
        tune_config=tune.TuneConfig(
            trial_name_creator=lambda t: by_key[t.config["job"]["run_key"]].label,
            trial_dirname_creator=lambda t: t.config["job"]["run_key"],
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage_path,
            callbacks=[_Bridge(events)],
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        ),
    )
    start = time.perf_counter()
    tuner.fit()
    return time.perf_counter() - start


def map_tasks(fn, items: list[Any], num_cpus: float = 1.0, on_done=None) -> list[Any]:
    """Run ``fn(item)`` as Ray tasks (e.g. cache building across the cluster), in order."""
    remote = ray.remote(num_cpus=num_cpus)(fn)
    refs = [remote.remote(item) for item in items]
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        ray.get(ready)  # raise the first failure with its original error
        if on_done:
            on_done(len(refs) - len(pending), len(refs))
    return ray.get(refs)
