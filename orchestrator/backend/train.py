"""A data-parallel trial (``resources.workers = N > 1``): its Tune trial is only a driver that
runs a Ray Train ``TorchTrainer`` with N workers (Ray Train's documented Train-inside-Tune
pattern); every worker runs the same workload, rank 0's epochs are relayed to the trial and its
final result comes back as a Train checkpoint, which the trial reports like any other trial.

Resuming: the workers report to their Train run (rank 0 with the checkpoint), which keeps them
under a name stable across the trial's retries (``trials.train_run_name``); its workers resume
from the latest. A dead driver's trial starts from the checkpoint recovered from its earlier
Train run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ray
from ray import tune

from orchestrator.backend.worker import (
    checkpoint_files,
    checkpoint_folder,
    data_handle,
    last_metrics,
    report_final_again,
    result_folder,
    resume_files,
    setup_workloads,
)
from orchestrator.jobs import Job
from orchestrator.trials import (
    CHECKPOINT,
    ERROR,
    FINAL,
    RESULT_FILE,
    gate,
    job_of,
    objective,
    train_run_name,
)


def train_trial(job: Job, ctx: dict[str, Any], recovered: str | None) -> None:
    """Drive a ``TorchTrainer`` with ``ctx["workers"]`` workers and report like ``run_trial``.

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
        error = application_error(exc)
        if error is None:
            raise  # a lost worker or node: Tune retries the trial
        tune.report({"kind": ERROR, "error": error, "objective": float("nan")})
        return
    finally:
        epochs.shutdown()
    # Rank 0's files, reported as ``run_trial`` reports its own (the objective is in result.json)
    report_final_again(checkpoint_files(result.checkpoint))


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
    setup_workloads(ctx)
    rank = ray.train.get_context().get_world_rank()
    resume = resume_files(ray.train.get_checkpoint(), config.get("recovered"))
    if resume is not None and RESULT_FILE in resume:  # the run had finished: its result again
        _final_to_train(rank, resume)
        return
    last = last_metrics(resume)

    def report(metrics: Mapping[str, float], checkpoint: Mapping[str, bytes] | None = None) -> None:
        kind = "epoch" if metrics else CHECKPOINT
        if rank == 0 and metrics:  # other ranks' reports have no dev metrics: not forwarded
            last.update(metrics)
            # relayed before the checkpoint is saved: a loss in between recomputes the epoch
            # (its repeat is not forwarded), never loses its metrics
            epochs.put({"kind": kind, "metrics": dict(metrics), "objective": objective(last)})
        step = {"kind": kind, "rank": rank, "epoch": float(metrics.get("epoch", 0.0))}
        if rank != 0 or checkpoint is None:
            ray.train.report(step)
        else:
            with checkpoint_folder(checkpoint, last) as tmp:
                ray.train.report(step, checkpoint=ray.train.Checkpoint.from_directory(tmp))
        if checkpoint is not None:
            gate(job.run_key, int(step["epoch"]))  # every rank, after each checkpointed epoch

    data = data_handle(job, ctx, resume)
    result = WORKLOADS.get(job.workload).run_trial(job.params, data, report)
    if rank != 0:
        ray.train.report({"kind": FINAL, "rank": rank})  # every rank takes part in a report
        return
    if result is None:
        raise RuntimeError(f"workload {job.workload!r} returned no result on rank 0")
    with result_folder(result, last) as tmp:  # its objective from dev only, as ``run_trial``'s
        ray.train.report(
            {"kind": FINAL, "rank": rank}, checkpoint=ray.train.Checkpoint.from_directory(tmp)
        )


def _final_to_train(rank: int, files: Mapping[str, bytes]) -> None:
    """A finished Train run's final result, reported again (rank 0 with its files)."""
    import ray.train

    if rank != 0:
        ray.train.report({"kind": FINAL, "rank": rank})
        return
    with checkpoint_folder(files) as tmp:
        ray.train.report(
            {"kind": FINAL, "rank": rank}, checkpoint=ray.train.Checkpoint.from_directory(tmp)
        )


def application_error(exc: Exception) -> str | None:
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
