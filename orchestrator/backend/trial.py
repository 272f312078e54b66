"""The function trainable: one Tune trial runs its job's workload, reports its epochs and
checkpoints its result.

Resuming: a workload's per-epoch checkpoints (``report(metrics, checkpoint)``) become Tune
checkpoints, and a trial started from one (Tune's retry after a lost node, or a dead driver's
trial) hands it back to the workload as ``DataHandle.resume``. A data-parallel trial
(``resources.workers > 1``) runs a Ray Train run instead (``train``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ray import tune

from orchestrator.backend.train import train_trial
from orchestrator.backend.worker import (
    checkpoint_folder,
    data_handle,
    last_metrics,
    report_final_again,
    result_folder,
    resume_files,
    setup_workloads,
)
from orchestrator.trials import (
    CHECKPOINT,
    ERROR,
    FINAL,
    RESULT_FILE,
    RESUME_KEY,
    gate,
    job_of,
    objective,
)


def run_trial(config: dict[str, Any], folds: Mapping[str, Any] | None = None) -> None:
    """The function trainable: run the job's workload, report epochs, checkpoint the result
    (``folds``: the sweep's folds by name, built by the driver, or None)."""
    from workloads.base import WORKLOADS

    job, ctx = job_of(config), config["ctx"]
    setup_workloads(ctx)
    recovered = ctx.get(RESUME_KEY, {}).get(job.run_key)  # a dead driver's trial
    data_parallel = int(ctx.get("workers", 1)) > 1
    # Tune's retry, else (one worker) the recovered checkpoint: its workers read their own
    resume = resume_files(tune.get_checkpoint(), None if data_parallel else recovered)
    if resume is not None and RESULT_FILE in resume:
        report_final_again(resume)  # it had finished before its driver died: recompute nothing
        return
    if data_parallel:
        # its Train run keeps (and resumes from) its own checkpoints; a dead driver's trial
        # starts from the one recovered from its earlier Train run
        train_trial(job, ctx, recovered)
        return
    last = last_metrics(resume)

    def report(metrics: Mapping[str, float], checkpoint: Mapping[str, bytes] | None = None) -> None:
        last.update(metrics)
        kind = "epoch" if metrics else CHECKPOINT
        payload = {"kind": kind, "metrics": dict(metrics), "objective": objective(last)}
        if checkpoint is None:
            tune.report(payload)
            return
        with checkpoint_folder(checkpoint, last) as tmp:
            tune.report(payload, checkpoint=tune.Checkpoint.from_directory(tmp))
        gate(job.run_key, int(last.get("epoch", 0)))

    try:
        data = data_handle(job, ctx, resume, (folds or {}).get(job.fold))
        result = WORKLOADS.get(job.workload).run_trial(job.params, data, report)
    except Exception as exc:  # noqa: BLE001 - an application error is final: no retry, no loss
        # Tune retries what raises (a lost node, a killed actor); a bad video or a diverging
        # loss would fail again, so it ends the trial as a reported failure instead.
        error = f"{type(exc).__name__}: {exc}"[:4000]
        tune.report({"kind": ERROR, "error": error, "objective": float("nan")})
        return
    with result_folder(result, last) as tmp:
        tune.report(
            {"kind": FINAL, "metrics": dict(result.metrics), "objective": objective(last)},
            checkpoint=tune.Checkpoint.from_directory(tmp),
        )
