"""Trial events -> MLflow child runs and the progress view: the driver's side of a sweep."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from orchestrator.jobs import Job, git_sha
from orchestrator.progress import SweepProgress
from orchestrator.specs import ExperimentSpec
from orchestrator.tracking.runs import Tracker


class TrialSink:
    """Trial events -> MLflow child runs and the progress view (runs in the driver only).

    ``done``: run keys already FINISHED in MLflow; a restored experiment may report them again
    (a trial that finished just before its driver died), and they stay untouched.
    """

    def __init__(
        self,
        tracker: Tracker,
        parent: str,
        spec: ExperimentSpec,
        view: SweepProgress,
        done: Iterable[str] = (),
    ):
        self.tracker, self.parent, self.spec, self.view = tracker, parent, spec, view
        self.done = set(done)
        self.children: dict[str, str] = {}
        self.logged: dict[str, int] = {}  # run key -> last epoch its adopted run already holds
        self.existing: dict[str, set[str]] = {}  # run key -> metric names its adopted run holds
        self.resumed: list[str] = []
        self.summary_finished: list[str] = []
        self.summary_failed: dict[str, str] = {}
        self.trial_seconds = 0.0
        self.sha = git_sha()

    def _child(self, job: Job, resumed: bool = False) -> str:
        if job.run_key not in self.children and resumed:
            adopted = self.tracker.adopt_child(self.parent, job.run_key)
            if adopted is not None:
                run_id, self.logged[job.run_key], self.existing[job.run_key] = adopted
                self.children[job.run_key] = run_id
                self.resumed.append(job.run_key)
        if job.run_key not in self.children:
            tags = {
                "run_key": job.run_key,
                "protocol": job.protocol,
                "fold": job.fold,
                "preset": self.spec.preset,
                "git_sha": self.sha,
                "experiment": job.experiment,
                "workload": job.workload,
            }
            self.children[job.run_key] = self.tracker.start_child(
                self.parent, job.label, tags, job.params
            )
        return self.children[job.run_key]

    def started(self, job: Job, resumed: bool = False) -> None:
        if job.run_key in self.done:
            return
        self._child(job, resumed)
        self.view.started(job)

    def epoch(self, job: Job, metrics: dict[str, float]) -> None:
        step = int(metrics.get("epoch", 0))
        if job.run_key in self.done or (step and step <= self.logged.get(job.run_key, 0)):
            return  # a resumed trial replaying epochs its run already holds
        self.tracker.log_metrics(self._child(job), metrics, step=step)
        self.view.epoch(job, metrics)

    def finished(self, job: Job, metrics: dict[str, float], artifact_dir: Path) -> None:
        if job.run_key in self.done:
            return
        run_id = self._child(job)
        info = json.loads((artifact_dir / "result.json").read_text()).get("info", {})
        self.trial_seconds += float(info.get("train_seconds", 0.0))
        held = self.existing.get(job.run_key, set())
        self.tracker.log_metrics(run_id, {k: v for k, v in metrics.items() if k not in held}, 0)
        tags = {
            "threshold_policy": info.get("threshold_policy", ""),
            "node_id": info.get("node_id", ""),
        }
        if "resumed_from_epoch" in info:  # the workload continued after this epoch
            tags["resumed_from_epoch"] = str(info["resumed_from_epoch"])
        self.tracker.set_tags(run_id, tags)
        self.tracker.log_artifacts(run_id, artifact_dir)
        self.tracker.end(run_id, "FINISHED")
        self.summary_finished.append(job.run_key)
        self.view.finished(job, metrics)

    def interrupted(self) -> None:
        """Ctrl-C: the runs of trials that had not ended end KILLED (a resume adopts them)."""
        ended = set(self.summary_finished) | set(self.summary_failed)
        for key, run_id in self.children.items():
            if key not in ended:
                self.tracker.end(run_id, "KILLED")

    def failed(self, job: Job, error: str) -> None:
        if job.run_key in self.done:
            return
        run_id = self._child(job)
        self.tracker.set_tags(run_id, {"error": error})
        self.tracker.end(run_id, "FAILED")
        self.summary_failed[job.run_key] = error
        self.view.failed_trial(job, error)
