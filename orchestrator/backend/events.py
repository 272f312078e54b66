"""Tune's driver-side events -> ``TrialEvents`` (tracking, progress), in the driver only."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Protocol

from ray import tune

from orchestrator.jobs import Job
from orchestrator.trials import ERROR, FINAL, RESUME_KEY, job_of


class TrialEvents(Protocol):
    """What the driver does with trial events (tracking, progress)."""

    def started(self, job: Job, resumed: bool = False) -> None: ...
    def epoch(self, job: Job, metrics: dict[str, float]) -> None: ...
    def finished(self, job: Job, metrics: dict[str, float], artifact_dir: Path) -> None: ...
    def failed(self, job: Job, error: str) -> None: ...


class Bridge(tune.Callback):
    """Tune's driver-side events -> ``TrialEvents``. The sink's own errors are not caught here
    (Tune does not catch a callback's either): the tracker retries a store that is away.

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
