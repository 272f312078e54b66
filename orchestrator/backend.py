"""Ray, the only module that imports it: jobs become Ray Tune trials, trial events come back.

Each job is one trial of a function trainable with the spec's resources (GPUs requested through
Ray, so the same command schedules on a laptop or a GPU cluster). A trial reports per-epoch
metrics with ``tune.report`` and its final scores and artifacts as a Tune checkpoint, which Ray
persists to the run's storage (shared NFS/S3 on a cluster). The driver-side callback turns Tune's
events into ``TrialEvents`` calls; it never lets a trial touch the tracking store.

A job with ``resources.workers = N > 1`` is data-parallel: its Tune trial is only a driver that
runs a Ray Train ``TorchTrainer`` with N workers (Ray Train's documented Train-inside-Tune
pattern); every worker runs the same workload, rank 0's epochs are relayed to the trial and its
final result comes back as a Train checkpoint, which the trial reports like any other trial.

Resuming: a workload's per-epoch checkpoints (``report(metrics, checkpoint)``) become Tune
checkpoints, and a trial started from one (Tune's retry after a lost node, or a dead driver's
trial) hands it back to the workload as ``DataHandle.resume``. A data-parallel trial's workers
report to their Train run instead (rank 0 with the checkpoint), which keeps them under a name
stable across the trial's retries; its workers resume from the latest. A sweep's Tune
experiment has a stable name, so the same ``orchestrate run`` after its driver died finds what
it left (``recover_experiment``): finished trials are delivered, not rerun; unfinished ones
(including those that errored on infrastructure, and data-parallel ones from their Train run's
checkpoints) continue from their newest complete checkpoint. Tune's ``Tuner.restore`` is never
used: it unpickles state from the storage path (see ``trials.recover``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import ray
from ray import tune

from orchestrator.jobs import Job
from orchestrator.trials import (
    CHECKPOINT,
    DRIVER_RESOURCES,
    ERROR,
    FINAL,
    RESULT_FILE,
    RESUME_KEY,
    STATE_SAVE_SECONDS,
    TRIAL_FILE,
    DefineByRun,
    forget,
    gate,
    job_of,
    local_checkpoint,
    mark_complete,
    read_checkpoint,
    read_files,
    recover,
    resume_area,
    train_run_name,
    train_slots,
    trial_ctx,
    write_files,
    write_result,
)


class TrialEvents(Protocol):
    """What the driver does with trial events (tracking, progress)."""

    def started(self, job: Job, resumed: bool = False) -> None: ...
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
        # that happens to run on this machine. (Ray 2.60 opens a local Ray's gRPC ports on every
        # interface and ignores a loopback node address; its token authentication, on by
        # default, is what guards them: README, reliability.)
        kwargs["address"] = "local"
        if num_cpus:
            kwargs["num_cpus"] = num_cpus
    ray.init(**kwargs)


def cluster_resources() -> dict[str, float]:
    return dict(ray.cluster_resources())


def _node_id() -> str:
    return ray.get_runtime_context().get_node_id()


def _trial(config: dict[str, Any]) -> None:
    """The function trainable: run the job's workload, report epochs, checkpoint the result."""
    from workloads.base import WORKLOADS

    job, ctx = job_of(config), config["ctx"]
    _setup_workloads(ctx)
    recovered = ctx.get(RESUME_KEY, {}).get(job.run_key)  # a dead driver's trial
    data_parallel = int(ctx.get("workers", 1)) > 1
    # Tune's retry, else (one worker) the recovered checkpoint: its workers read their own
    resume = _resume_files(tune.get_checkpoint(), None if data_parallel else recovered)
    if resume is not None and RESULT_FILE in resume:
        _report_final_again(resume)  # it had finished before its driver died: recompute nothing
        return
    if data_parallel:
        # its Train run keeps (and resumes from) its own checkpoints; a dead driver's trial
        # starts from the one recovered from its earlier Train run
        _train_trial(job, ctx, recovered)
        return
    last: dict[str, float] = json.loads(resume.pop(TRIAL_FILE, b"{}")) if resume else {}

    def report(metrics: Mapping[str, float], checkpoint: Mapping[str, bytes] | None = None) -> None:
        last.update(metrics)
        objective = float(last.get("dev_eer", float("nan")))
        kind = "epoch" if metrics else CHECKPOINT
        payload = {"kind": kind, "metrics": dict(metrics), "objective": objective}
        if checkpoint is None:
            tune.report(payload)
            return
        with _checkpoint_folder({**checkpoint, TRIAL_FILE: json.dumps(last).encode()}) as tmp:
            tune.report(payload, checkpoint=tune.Checkpoint.from_directory(tmp))
        gate(job.run_key, int(last.get("epoch", 0)))

    try:
        result = WORKLOADS.get(job.workload).run_trial(job.params, _data(job, ctx, resume), report)
    except Exception as exc:  # noqa: BLE001 - an application error is final: no retry, no loss
        # Tune retries what raises (a lost node, a killed actor); a bad video or a diverging
        # loss would fail again, so it ends the trial as a reported failure instead.
        error = f"{type(exc).__name__}: {exc}"[:4000]
        tune.report({"kind": ERROR, "error": error, "objective": float("nan")})
        return
    # A sampler learns from dev only: the test split never steers a search.
    objective = float(last.get("dev_eer", float("nan")))
    result.info["objective"] = objective  # kept in result.json for a resumed trial's re-report
    with tempfile.TemporaryDirectory() as tmp:
        write_result(result, Path(tmp), _node_id())
        tune.report(
            {"kind": FINAL, "metrics": dict(result.metrics), "objective": objective},
            checkpoint=tune.Checkpoint.from_directory(tmp),
        )


def _setup_workloads(ctx: Mapping[str, Any]) -> None:
    """A trial process: the workloads registered, torch on the trial's threads."""
    import torch

    import workloads

    workloads.load_all()
    torch.set_num_threads(max(1, int(ctx["threads"])))


def _data(job: Job, ctx: Mapping[str, Any], resume: Mapping[str, bytes] | None):
    """The workload's data handle; every trial checkpoints (``report(metrics, checkpoint)``)."""
    from workloads.base import DataHandle

    root, cache = Path(ctx["data_root"]), Path(ctx["cache_root"])
    return DataHandle(root, job.protocol, job.fold, cache, resume=resume, checkpointing=True)


def _resume_files(checkpoint, recovered: str | None) -> dict[str, bytes] | None:
    """What a trial resumes from: the checkpoint Ray hands it (a retry), else the one recovered
    from a dead driver's trial, else nothing (a fresh start)."""
    files = _checkpoint_files(checkpoint)
    if files is None and recovered:
        files = read_checkpoint(recovered)
    return files


@contextlib.contextmanager
def _checkpoint_folder(files: Mapping[str, bytes]) -> Iterator[str]:
    """``files`` in a temporary folder, for a Tune or Train checkpoint made from it."""
    with tempfile.TemporaryDirectory() as tmp:
        write_files(files, tmp)
        yield tmp


def _checkpoint_files(checkpoint: tune.Checkpoint | None) -> dict[str, bytes] | None:
    """A Tune checkpoint's files (None: no checkpoint, a fresh start)."""
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as path:
        return read_files(path)


def _report_final_again(files: Mapping[str, bytes]) -> None:
    """Report a restored trial's final checkpoint as its result again (nothing is recomputed)."""
    result = json.loads(files[RESULT_FILE])
    objective = float(result.get("info", {}).get("objective", float("nan")))
    with _checkpoint_folder(files) as tmp:
        tune.report(
            {"kind": FINAL, "metrics": result["metrics"], "objective": objective},
            checkpoint=tune.Checkpoint.from_directory(tmp),
        )


# --- data-parallel trials: a Ray Train run inside the Tune trial ------------------------------


def _train_trial(job: Job, ctx: dict[str, Any], recovered: str | None) -> None:
    """Drive a ``TorchTrainer`` with ``ctx["workers"]`` workers and report like ``_trial``.

    Rank 0's epochs travel through a queue and are reported from this thread while ``fit`` runs
    in another, so they reach Tune in order and before the final result. (Ray's
    ``TuneReportCallback`` relays through the Tune session's own queue, which the trial's main
    thread drains concurrently with this thread's reports: the final report could overtake the
    last epoch; it would also forward the final result without a Tune checkpoint.)
    """
    from concurrent.futures import ThreadPoolExecutor

    import ray.train
    from ray.train.torch import TorchTrainer
    from ray.util.queue import Empty, Queue

    cpu, gpu = float(ctx["cpu"]), float(ctx["gpu"])
    epochs: Queue = Queue(actor_options={"num_cpus": 0})  # in the trial's bundle: on the head
    context = tune.get_context()
    trainer = TorchTrainer(
        _train_worker,
        train_loop_config={
            "job": job.to_dict(),
            "ctx": ctx,
            "epochs": epochs,
            "recovered": recovered,
        },
        scaling_config=ray.train.ScalingConfig(
            num_workers=int(ctx["workers"]),
            use_gpu=gpu > 0,
            resources_per_worker={"CPU": cpu, **({"GPU": gpu} if gpu > 0 else {})},
        ),
        run_config=ray.train.RunConfig(
            name=train_run_name(context.get_experiment_name(), job.run_key, context.get_trial_id()),
            storage_path=ctx.get("storage_path"),
            # No Train-level retries: an application error must end the trial, and Tune already
            # retries infrastructure faults (max_failures) by re-running this function.
            failure_config=ray.train.FailureConfig(max_failures=0),
            # each checkpoint is complete on its own: the latest two are enough to resume
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
        ),
    )
    pool = ThreadPoolExecutor(1, thread_name_prefix="train-fit")
    fit = pool.submit(trainer.fit)
    pool.shutdown(wait=False)  # if Tune stops this trial early, nothing waits for the run
    try:
        while not fit.done() or not epochs.empty():
            try:
                item = epochs.get(timeout=0.2)
            except Empty:
                continue
            tune.report(item)
        result = fit.result()
    except ray.train.TrainingFailedError as exc:
        error = _application_error(exc)
        if error is None:
            raise  # a lost worker or node: Tune retries the trial
        tune.report({"kind": ERROR, "error": error, "objective": float("nan")})
        return
    finally:
        epochs.shutdown()
    # Rank 0's files, reported as ``_trial`` reports its own (the objective is in result.json).
    _report_final_again(_checkpoint_files(result.checkpoint))


def _train_worker(config: dict[str, Any]) -> None:
    """One Ray Train worker (Ray Train has set up torch.distributed): the job's workload on this
    rank. Rank 0 relays its epochs to the trial and returns the final result as a checkpoint.

    Every rank reports to Ray Train whenever its workload reports (each epoch: Ray Train needs
    every rank in each report); rank 0 passes the workload's checkpoint (the model state). A
    retried or restored trial runs this Train run again (same storage path and run name), and
    every rank starts from its latest checkpoint (``DataHandle.resume``), after that epoch."""
    import ray.train

    from workloads.base import WORKLOADS

    job, ctx, epochs = job_of(config), config["ctx"], config["epochs"]
    _setup_workloads(ctx)
    rank = ray.train.get_context().get_world_rank()
    resume = _resume_files(ray.train.get_checkpoint(), config.get("recovered"))
    if resume is not None and RESULT_FILE in resume:  # the run had finished: its result again
        _final_to_train(rank, resume)
        return
    last: dict[str, float] = json.loads(resume.pop(TRIAL_FILE, b"{}")) if resume else {}

    def report(metrics: Mapping[str, float], checkpoint: Mapping[str, bytes] | None = None) -> None:
        kind = "epoch" if metrics else CHECKPOINT
        if rank == 0 and metrics:  # other ranks' reports have no dev metrics: not forwarded
            last.update(metrics)
            objective = float(last.get("dev_eer", float("nan")))
            # relayed before the checkpoint is saved: a loss in between recomputes the epoch
            # (its repeat is not forwarded), never loses its metrics
            epochs.put({"kind": kind, "metrics": dict(metrics), "objective": objective})
        step = {"kind": kind, "rank": rank, "epoch": float(metrics.get("epoch", 0.0))}
        if rank != 0 or checkpoint is None:
            ray.train.report(step)
        else:
            files = {**checkpoint, TRIAL_FILE: json.dumps(last).encode()}
            with _checkpoint_folder(files) as tmp:
                ray.train.report(step, checkpoint=ray.train.Checkpoint.from_directory(tmp))
        if checkpoint is not None:
            gate(job.run_key, int(step["epoch"]))  # every rank, after each checkpointed epoch

    result = WORKLOADS.get(job.workload).run_trial(job.params, _data(job, ctx, resume), report)
    if rank != 0:
        ray.train.report({"kind": FINAL, "rank": rank})  # every rank takes part in a report
        return
    if result is None:
        raise RuntimeError(f"workload {job.workload!r} returned no result on rank 0")
    result.info["objective"] = float(last.get("dev_eer", float("nan")))  # dev only, as _trial
    with tempfile.TemporaryDirectory() as tmp:
        write_result(result, Path(tmp), _node_id())
        ray.train.report(
            {"kind": FINAL, "rank": rank}, checkpoint=ray.train.Checkpoint.from_directory(tmp)
        )


def _final_to_train(rank: int, files: Mapping[str, bytes]) -> None:
    """A finished Train run's final result, reported again (rank 0 with its files)."""
    import ray.train

    if rank != 0:
        ray.train.report({"kind": FINAL, "rank": rank})
        return
    with _checkpoint_folder(files) as tmp:
        ray.train.report(
            {"kind": FINAL, "rank": rank}, checkpoint=ray.train.Checkpoint.from_directory(tmp)
        )


def _application_error(exc: Exception) -> str | None:
    """The workload's own error behind a failed Train run, or None when workers were lost.

    A worker that raises ends the run at once (Ray Train tears the group down); its peers may
    fail in a collective at the same time, so an error that is not a collective's is preferred.
    A lost worker (its actor or node died; Ray Train reports a failed health check whose cause
    is Ray's) makes its peers' collective errors collateral too: the trial is retried.
    """
    import torch.distributed as dist

    def lost(e: BaseException) -> bool:
        cause = getattr(e, "health_check_failure", None)
        return isinstance(e, ray.exceptions.RayError) or isinstance(cause, ray.exceptions.RayError)

    def collateral(e: BaseException) -> bool:
        return isinstance(e, dist.DistError) or any(w in str(e).lower() for w in ("gloo", "nccl"))

    failures = getattr(exc, "worker_failures", None) or {}
    own = {r: e for r, e in failures.items() if not lost(e)}
    if not own or (len(own) < len(failures) and all(collateral(e) for e in own.values())):
        return None
    rank = min(own, key=lambda r: (collateral(own[r]), r))
    return f"{type(own[rank]).__name__}: {own[rank]}"[:4000]


def _max_resources() -> dict[str, float]:
    """The largest size the autoscaler may grow the cluster to ({} on a fixed or local one)."""
    try:
        from ray._private.state import state

        return dict(state.get_max_resources_from_cluster_config() or {})
    except Exception:  # noqa: BLE001 - an internal API: fall back to the current size
        return {}


class _Bridge(tune.Callback):
    """Tune's driver-side events -> ``TrialEvents``; errors in the sink never kill the sweep.

    A trial whose node dies is retried by Tune (``FailureConfig``) on another node, from its last
    checkpoint (the workload continues after that epoch; a data-parallel trial's are its Train
    run's), or from scratch when it has none (lost before its first checkpoint). A retry may
    report epochs again that were already delivered; they are not forwarded twice: each trial's
    epochs are forwarded once per ``epoch`` (the MLflow step; Tune's ``training_iteration``
    restarts at 1 in a retried data-parallel trial, whose Tune trial has no checkpoint).
    An optional ``events.retried(job, error, attempt)`` hears of each retry.

    Tune pickles the bridge with its run config (``tuner.pkl``): only its name goes there (the
    events live in this driver; nothing reads ``tuner.pkl`` back, see ``trials.recover``).
    """

    def __init__(self, events: TrialEvents | None, name: str) -> None:
        self.events, self.name = events, name
        self._delivered: dict[str, int] = {}

    def __getstate__(self) -> dict:
        return {"name": self.name}

    @staticmethod
    def _job(trial) -> Job:
        return job_of(trial.config)

    def on_trial_start(self, iteration, trials, trial, **info):
        # A trial with a checkpoint continues (a retry, or a dead driver's trial): its run too.
        # A data-parallel trial keeps its checkpoints in its Train run, not in Tune: retried, it
        # continues too once it had reported anything.
        job = self._job(trial)
        recovered = job.run_key in trial.config["ctx"].get(RESUME_KEY, {})
        data_parallel = int(trial.config["ctx"].get("workers", 1)) > 1
        retried = data_parallel and bool(trial.last_result)
        self.events.started(job, resumed=trial.checkpoint is not None or recovered or retried)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if result.get("kind") == "epoch":
            metrics = dict(result["metrics"])
            step = int(metrics.get("epoch") or result.get("training_iteration") or 0)
            if step and step <= self._delivered.get(trial.trial_id, 0):
                return  # a retry replaying what its lost attempt already reported
            self._delivered[trial.trial_id] = step
            self.events.epoch(self._job(trial), metrics)

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
    _tune_env()
    ctx = trial_ctx(ctx, resources, storage_path)
    if int(ctx.get("workers", 1)) > 1 and not tune_config.get("max_concurrent_trials"):
        slots = train_slots(
            dict(ray.cluster_resources()), _max_resources(), ctx["cpu"], ctx["gpu"], ctx["workers"]
        )
        tune_config = {**tune_config, "max_concurrent_trials": slots}
    path = experiment_path(storage_path, name)
    forget(path)  # a new experiment replaces any old state ...
    if not ctx.get(RESUME_KEY):
        forget(resume_area(path))  # ... and, unless it continues them, old checkpoints
    return tune.Tuner(
        _trainable(ctx),
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
            callbacks=[_Bridge(events, name)],
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=max_failures),
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


def _trainable(ctx: dict[str, Any]):
    """The function trainable with one trial's reservation (a Train driver's workers reserve
    for themselves, so the driver takes almost nothing)."""
    if int(ctx.get("workers", 1)) > 1:
        return tune.with_resources(_trial, dict(DRIVER_RESOURCES))
    return tune.with_resources(_trial, {"cpu": ctx.get("cpu", 1.0), "gpu": ctx.get("gpu", 0.0)})


def experiment_path(storage_path: str | None, name: str) -> str:
    """Where Tune keeps experiment ``name`` (Ray's default storage when none is given)."""
    root = str(tune.RunConfig(name=name, storage_path=storage_path).storage_path)
    if "://" not in root:
        root = os.path.abspath(os.path.expanduser(root))
    return f"{root.rstrip('/')}/{name}"


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
    resources: Mapping[str, float],
    data_root: Path,
    cache_root: Path,
    storage_path: str | None = None,
    max_failures: int = 0,
    resume: Mapping[str, str] | None = None,
) -> float:
    """Run every job as a Tune trial (a grid) in a new experiment ``name`` (replacing any old
    state under it); a job in ``resume`` (run key -> checkpoint, from ``recover_experiment``)
    continues from it. Returns the wall time. Failures do not raise."""
    if not jobs:
        return 0.0
    ctx = {"data_root": str(data_root), "cache_root": str(cache_root)}
    if resume:
        ctx[RESUME_KEY] = {j.run_key: resume[j.run_key] for j in jobs if j.run_key in resume}
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
    _fit(tuner, storage_path, name)
    return time.perf_counter() - start


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
        "ctx": trial_ctx(ctx, resources, storage_path),
    }

    searcher = OptunaSearch(
        space=DefineByRun(dict(choices), constants),
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
    _fit(tuner, storage_path, name)
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
