"""The driver: a sweep's jobs run as Ray Tune trials (a grid, or samples drawn by Optuna), and
what a dead driver's Tune experiment left is recovered.

A sweep's Tune experiment has a stable name, so the same ``orchestrate run`` after its driver
died finds what it left (``recover_experiment``): finished trials are delivered, not rerun;
unfinished ones (including those that errored on infrastructure, and data-parallel ones from
their Train run's checkpoints) continue from their newest complete checkpoint. Tune's
``Tuner.restore`` is never used: it unpickles state from the storage path (see
``trials.recover``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import tune

from orchestrator.backend.cluster import cluster_resources, max_resources
from orchestrator.backend.events import Bridge, TrialEvents
from orchestrator.backend.trial import run_trial
from orchestrator.jobs import Job
from orchestrator.trials import (
    DRIVER_RESOURCES,
    ERROR,
    FINAL,
    RESULT_FILE,
    RESUME_KEY,
    STATE_SAVE_SECONDS,
    DefineByRun,
    forget,
    job_of,
    local_checkpoint,
    mark_complete,
    read_checkpoint,
    recover,
    resume_area,
    train_slots,
    trial_ctx,
)


@dataclass(frozen=True)
class RunOptions:
    """Where and how a sweep's trials run: the same for each of its Tune experiments."""

    resources: Mapping[str, float]
    data_root: Path
    cache_root: Path
    #: Tune's storage (shared NFS/S3 on a cluster); None: Ray's default.
    storage_path: str | None = None
    #: Tune's retries of a trial lost to infrastructure (a node, an actor).
    max_failures: int = 0
    #: The sweep's folds (``protocols.protocols.Fold``), built once by the driver and handed
    #: to the trials through Ray's object store (``tune.with_parameters``): a trial reads no
    #: manifest. Empty: each trial builds its own fold.
    folds: Sequence[Any] = ()

    def trial_ctx(self, resume: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The context every trial of an experiment gets (``resume``: run key -> checkpoint)."""
        ctx: dict[str, Any] = {"data_root": str(self.data_root), "cache_root": str(self.cache_root)}
        if resume is not None:
            ctx[RESUME_KEY] = dict(resume)
        return trial_ctx(ctx, self.resources, self.storage_path)


def experiment_path(storage_path: str | None, name: str) -> str:
    """Where Tune keeps experiment ``name`` (Ray's default storage when none is given)."""
    root = str(tune.RunConfig(name=name, storage_path=storage_path).storage_path)
    if "://" not in root:
        root = os.path.abspath(os.path.expanduser(root))
    return f"{root.rstrip('/')}/{name}"


def recover_experiment(
    events: TrialEvents, *, name: str, storage_path: str | None = None
) -> tuple[set[str], dict[str, Job], dict[str, str]]:
    """What a dead driver's experiment ``name`` left, read back without unpickling anything
    (``trials.recover``): its finished trials are delivered to ``events`` now (nothing is
    rerun); its unfinished ones come back as (jobs, run key -> checkpoint) for the caller to run
    again, each continuing after its last checkpointed epoch. Returns (the run keys delivered,
    the unfinished jobs by run key, their checkpoints)."""
    path = experiment_path(storage_path, name)
    settled: set[str] = set()
    jobs: dict[str, Job] = {}
    points: dict[str, str] = {}
    for key, found in recover(path).items():
        job = found.job
        if found.finished:
            result = json.loads(read_checkpoint(found.checkpoint)[RESULT_FILE])
            events.started(job, resumed=True)
            with local_checkpoint(found.checkpoint) as ckpt:
                events.finished(job, dict(result["metrics"]), ckpt)
            settled.add(key)
        else:
            jobs[key], points[key] = job, found.checkpoint
    if not points:
        forget(resume_area(path))  # nothing left to continue
    return settled, jobs, points


def run_trials(
    jobs: list[Job],
    events: TrialEvents,
    *,
    name: str,
    options: RunOptions,
    resume: Mapping[str, str] | None = None,
) -> float:
    """Run every job as a Tune trial (a grid) in a new experiment ``name`` (replacing any old
    state under it); a job in ``resume`` (run key -> checkpoint, from ``recover_experiment``)
    continues from it. Returns the wall time. Failures do not raise."""
    if not jobs:
        return 0.0
    points = {j.run_key: resume[j.run_key] for j in jobs if j.run_key in resume} if resume else None
    ctx = options.trial_ctx(points)
    space = {"job": tune.grid_search([j.to_dict() for j in jobs]), "ctx": ctx}
    return _run(events, name, options, ctx, param_space=space)


def run_sampled(
    template: Job,
    choices: Mapping[str, list],
    events: TrialEvents,
    *,
    num_samples: int,
    algorithm: str,
    seed: int,
    name: str,
    options: RunOptions,
) -> float:
    """Sample ``num_samples`` configurations of categorical ``choices`` with Optuna, driven by
    Tune's ``OptunaSearch`` (``random``: RandomSampler, the NAS random baseline; ``tpe``: TPE,
    minimising the trials' ``objective``), each a trial of ``template`` filled with its choices.
    Returns the wall time."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    if num_samples <= 0:
        return 0.0
    samplers = {"random": optuna.samplers.RandomSampler, "tpe": optuna.samplers.TPESampler}
    if algorithm not in samplers:
        raise ValueError(f"unknown sampling algorithm {algorithm!r}; valid: {sorted(samplers)}")
    ctx = options.trial_ctx()
    searcher = OptunaSearch(
        space=DefineByRun(dict(choices), {"job": template.to_dict(), "ctx": ctx}),
        metric="objective",
        mode="min",
        sampler=samplers[algorithm](seed=seed),
    )
    search = {"search_alg": searcher, "num_samples": num_samples, "max_concurrent_trials": None}
    return _run(events, name, options, ctx, tune_config=search)


def _run(
    events: TrialEvents,
    name: str,
    options: RunOptions,
    ctx: dict[str, Any],
    *,
    param_space: dict[str, Any] | None = None,
    tune_config: dict[str, Any] | None = None,
) -> float:
    """A new Tune experiment ``name`` of trials with context ``ctx``, run to its end; returns
    the wall time of ``fit``."""
    tuner = _tuner(events, name, options, ctx, param_space, dict(tune_config or {}))
    start = time.perf_counter()
    _fit(tuner, options.storage_path, name)
    return time.perf_counter() - start


def _tuner(
    events: TrialEvents,
    name: str,
    options: RunOptions,
    ctx: dict[str, Any],
    param_space: dict[str, Any] | None,
    tune_config: dict[str, Any],
) -> tune.Tuner:
    _tune_env()
    if int(ctx.get("workers", 1)) > 1 and not tune_config.get("max_concurrent_trials"):
        slots = train_slots(
            cluster_resources(), max_resources(), ctx["cpu"], ctx["gpu"], ctx["workers"]
        )
        tune_config = {**tune_config, "max_concurrent_trials": slots}
    path = experiment_path(options.storage_path, name)
    forget(path)  # a new experiment replaces any old state ...
    if not ctx.get(RESUME_KEY):
        forget(resume_area(path))  # ... and, unless it continues them, old checkpoints
    return tune.Tuner(
        _trainable(ctx, options.folds),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            trial_name_creator=lambda t: job_of(t.config).label,
            trial_dirname_creator=lambda t: job_of(t.config).run_key,
            reuse_actors=True,
            **tune_config,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=options.storage_path,
            callbacks=[Bridge(events, name)],
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=options.max_failures),
            # each checkpoint is complete on its own: the latest two are enough to resume
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        ),
    )


def _tune_env() -> None:
    tune_log = logging.getLogger("ray.tune.tune")
    if not any(isinstance(f, _NoTuneRestoreHint) for f in tune_log.filters):
        tune_log.addFilter(_NoTuneRestoreHint())
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the legacy reporter is silent at verbose=0
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", STATE_SAVE_SECONDS)
    # Tune also saves its state whenever a trial wrote ``num_to_keep`` checkpoints (so the state
    # never names a deleted one) and warns when that is frequent: expected with per-epoch ones.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")


def _trainable(ctx: dict[str, Any], folds: Sequence[Any] = ()):
    """The function trainable with one trial's reservation (a Train driver's workers reserve
    for themselves, so the driver takes almost nothing); a single-worker trial gets the sweep's
    ``folds`` from the object store."""
    if int(ctx.get("workers", 1)) > 1:
        return tune.with_resources(run_trial, dict(DRIVER_RESOURCES))
    trainable = run_trial
    if folds:
        trainable = tune.with_parameters(run_trial, folds={f.name: f for f in folds})
    return tune.with_resources(trainable, {"cpu": ctx.get("cpu", 1.0), "gpu": ctx.get("gpu", 0.0)})


def _fit(tuner: tune.Tuner, storage_path: str | None, name: str):
    """``tuner.fit()``; marks the experiment complete when no trial is left unfinished or
    errored (an errored experiment stays restorable).

    Ctrl-C: Tune catches the first SIGINT, stops its trials, saves its state and returns; a
    trial then has neither ended nor errored. That is raised as ``KeyboardInterrupt``, so an
    interrupted sweep is never reported as done (the same command resumes it)."""
    # Tune warns of every trial with no result yet ("could not fetch metrics"): expected after
    # a Ctrl-C or a restore; what is unfinished is decided below.
    analysis_log = logging.getLogger("ray.tune.analysis.experiment_analysis")
    level = analysis_log.level
    analysis_log.setLevel(logging.ERROR)
    try:
        grid = tuner.fit()
    finally:
        analysis_log.setLevel(level)
    ended = (FINAL, ERROR)
    if all(r.error is None and (r.metrics or {}).get("kind") in ended for r in grid):
        mark_complete(experiment_path(storage_path, name))
    elif any(r.error is None and (r.metrics or {}).get("kind") not in ended for r in grid):
        raise KeyboardInterrupt(f"Tune experiment {name} interrupted")
    return grid


class _NoTuneRestoreHint(logging.Filter):
    """Tune's own resume hint (``Tuner.restore(...)``) is wrong for this tool: the same
    ``orchestrate run`` command resumes, and says so."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tuner.restore(" not in record.getMessage()
