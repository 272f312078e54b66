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
ERROR = "error"


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
    else:
        # "local" always starts a fresh local Ray: never attach silently to another cluster
        # that happens to run on this machine.
        kwargs["address"] = "local"
        if num_cpus:
            kwargs["num_cpus"] = num_cpus
    ray.init(**kwargs)


def cluster_resources() -> dict[str, float]:
    return dict(ray.cluster_resources())


SAMPLE_PREFIX = "arch."


def _node_id() -> str:
    return ray.get_runtime_context().get_node_id()


def job_of(config: Mapping[str, Any]) -> Job:
    """The job a trial runs: the grid job, or the template filled with a sampler's choices."""
    job = Job.from_dict(config["job"])
    sample = {k: v for k, v in config.items() if k.startswith(SAMPLE_PREFIX)}
    return job.with_sample(sample) if sample else job


def _trial(config: dict[str, Any]) -> None:
    """The function trainable: run the job's workload, report epochs, checkpoint the result."""
    import torch

    import workloads
    from workloads.base import WORKLOADS, DataHandle

    workloads.load_all()
    job = job_of(config)
    ctx = config["ctx"]
    torch.set_num_threads(max(1, int(ctx["threads"])))

    last: dict[str, float] = {}

    def report(metrics: Mapping[str, float]) -> None:
        last.update(metrics)
        objective = float(last.get("dev_eer", float("nan")))
        tune.report({"kind": "epoch", "metrics": dict(metrics), "objective": objective})

    data = DataHandle(Path(ctx["data_root"]), job.protocol, job.fold, Path(ctx["cache_root"]))
    try:
        result = WORKLOADS.get(job.workload)(dict(job.params), data, report)
    except Exception as exc:  # noqa: BLE001 - an application error is final: no retry, no loss
        # Tune retries what raises (a lost node, a killed actor); a bad video or a diverging
        # loss would fail again, so it ends the trial as a reported failure instead.
        error = f"{type(exc).__name__}: {exc}"[:4000]
        tune.report({"kind": ERROR, "error": error, "objective": float("nan")})
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        result.scores.to_parquet(out / "scores.parquet", index=False)
        for name, blob in result.artifacts.items():
            (out / name).write_bytes(blob)
        (out / "result.json").write_text(
            json.dumps(
                {"metrics": result.metrics, "info": {**result.info, "node_id": _node_id()}},
                default=str,
                indent=1,
            )
        )
        # A sampler learns from dev only: the test split never steers a search.
        objective = float(last.get("dev_eer", float("nan")))
        tune.report(
            {"kind": FINAL, "metrics": dict(result.metrics), "objective": objective},
            checkpoint=tune.Checkpoint.from_directory(tmp),
        )


class _Bridge(tune.Callback):
    """Tune's driver-side events -> ``TrialEvents``; errors in the sink never kill the sweep.

    A trial whose node dies is retried by Tune (``FailureConfig``) on another node, from its last
    Tune checkpoint, or from scratch when it has none (the workloads checkpoint only their final
    result). A from-scratch retry reports its first epochs again; those were already delivered,
    so they are recomputed but not forwarded twice: each trial's reports are forwarded once per
    ``training_iteration`` (which restarts at 1 without a checkpoint and continues after one).
    An optional ``events.retried(job, error, attempt)`` hears of each retry.
    """

    def __init__(self, events: TrialEvents) -> None:
        self.events = events
        self._delivered: dict[str, int] = {}

    def __getstate__(self) -> dict:
        # Tune pickles its run config into the experiment state; the sink lives in this driver.
        return {"events": None, "_delivered": {}}

    @staticmethod
    def _job(trial) -> Job:
        return job_of(trial.config)

    def on_trial_start(self, iteration, trials, trial, **info):
        self.events.started(self._job(trial))

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if result.get("kind") == "epoch":
            step = int(result.get("training_iteration") or 0)
            if step and step <= self._delivered.get(trial.trial_id, 0):
                return  # a retry replaying what its lost attempt already reported
            self._delivered[trial.trial_id] = step
            self.events.epoch(self._job(trial), dict(result["metrics"]))

    def on_trial_recover(self, iteration, trials, trial, **info):
        job = self._job(trial)
        attempt = int(trial.run_metadata.num_failures) + 1
        error = _last_failure(trial)
        logging.getLogger(__name__).warning(
            "trial %s lost (%s); Tune retries it (attempt %d of %d)",
            job.label,
            " ".join(ln.strip() for ln in error.splitlines() if ln[:1] not in ("\t", " "))[:400],
            attempt,
            int(trial.max_failures) + 1,
        )
        retried = getattr(self.events, "retried", None)
        if retried is not None:
            retried(job, error, attempt)

    def on_trial_complete(self, iteration, trials, trial, **info):
        job = self._job(trial)
        last = dict(trial.last_result or {})
        if last.get("kind") == ERROR:
            self.events.failed(job, str(last.get("error")))
            return
        if last.get("kind") != FINAL or trial.checkpoint is None:
            self.events.failed(job, "trial ended without a final result")
            return
        with trial.checkpoint.as_directory() as path:
            self.events.finished(job, dict(last["metrics"]), Path(path))

    def on_trial_error(self, iteration, trials, trial, **info):
        self.events.failed(self._job(trial), _error_text(trial))


def _last_failure(trial) -> str:
    """The failure Tune just recorded (its local error file: storage is synced later)."""
    try:
        text = Path(trial.error_file).read_text()
    except (OSError, TypeError):
        return _error_text(trial)
    return text.rsplit("Failure # ", 1)[-1].split("\n", 1)[-1].strip()[:4000] or _error_text(trial)


def _error_text(trial) -> str:
    try:
        err = trial.get_error()
        if err is not None:
            cause = getattr(err, "cause", None) or err
            return f"{type(cause).__name__}: {cause}".strip()[:4000]
    except Exception:  # noqa: BLE001 - the error text is best effort, the failure is not
        traceback.print_exc()
    return "trial failed (see the Ray logs)"


def _tuner(
    trainable_space: dict[str, Any] | None,
    events: TrialEvents,
    *,
    name: str,
    resources: Mapping[str, float],
    ctx: dict[str, Any],
    storage_path: str | None,
    max_failures: int,
    tune_config: dict[str, Any],
) -> tune.Tuner:
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the legacy reporter is silent at verbose=0
    cpu, gpu = float(resources.get("cpu", 1)), float(resources.get("gpu", 0))
    ctx = {**ctx, "threads": max(1, cpu)}
    return tune.Tuner(
        tune.with_resources(_trial, {"cpu": cpu, "gpu": gpu}),
        param_space=trainable_space(ctx) if trainable_space else None,
        tune_config=tune.TuneConfig(
            trial_name_creator=lambda t: job_of(t.config).label,
            trial_dirname_creator=lambda t: job_of(t.config).run_key,
            reuse_actors=True,
            **tune_config,
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
    """Run every job as a Tune trial (a grid); returns the wall time. Failures do not raise."""
    if not jobs:
        return 0.0
    ctx = {"data_root": str(data_root), "cache_root": str(cache_root)}
    tuner = _tuner(
        lambda c: {"job": tune.grid_search([j.to_dict() for j in jobs]), "ctx": c},
        events,
        name=name,
        resources=resources,
        ctx=ctx,
        storage_path=storage_path,
        max_failures=max_failures,
        tune_config={},
    )
    start = time.perf_counter()
    tuner.fit()
    return time.perf_counter() - start


class _DefineByRun:
    """Optuna's define-by-run space: one categorical per choice; the job rides along as constants
    (a class, not a closure, because Tune pickles its searcher)."""

    def __init__(self, choices: dict[str, list], constants: dict[str, Any]) -> None:
        self.choices, self.constants = choices, constants

    def __call__(self, trial) -> dict[str, Any]:
        for key, options in self.choices.items():
            trial.suggest_categorical(SAMPLE_PREFIX + key, list(options))
        return self.constants


def run_sampled(
    template: Job,
    choices: Mapping[str, list],
    events: TrialEvents,
    *,
    num_samples: int,
    algorithm: str,
    seed: int,
    name: str,
    resources: Mapping[str, float],
    data_root: Path,
    cache_root: Path,
    storage_path: str | None = None,
    max_failures: int = 0,
) -> float:
    """Sample ``num_samples`` configurations of categorical ``choices`` with Optuna, driven by
    Tune's ``OptunaSearch`` (``random``: RandomSampler, the NAS random baseline; ``tpe``: TPE,
    minimising the dev EER), each a trial of ``template`` filled with its choices."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    if num_samples <= 0:
        return 0.0
    samplers = {"random": optuna.samplers.RandomSampler, "tpe": optuna.samplers.TPESampler}
    if algorithm not in samplers:
        raise ValueError(f"unknown sampling algorithm {algorithm!r}; valid: {sorted(samplers)}")
    ctx = {"data_root": str(data_root), "cache_root": str(cache_root)}
    constants = {
        "job": template.to_dict(),
        "ctx": {**ctx, "threads": max(1, float(resources.get("cpu", 1)))},
    }

    searcher = OptunaSearch(
        space=_DefineByRun(dict(choices), constants),
        metric="objective",
        mode="min",
        sampler=samplers[algorithm](seed=seed),
    )
    tuner = _tuner(
        None,
        events,
        name=name,
        resources=resources,
        ctx=ctx,
        storage_path=storage_path,
        max_failures=max_failures,
        tune_config={
            "search_alg": searcher,
            "num_samples": num_samples,
            "max_concurrent_trials": None,
        },
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
