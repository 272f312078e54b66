"""Trial events -> MLflow child runs and the progress view: the driver's side of a sweep.

What a trial's run holds: its params; per epoch its metrics at step = the epoch (the epoch and
the elapsed time are the step and the metric's timestamp, not metrics of their own); its final
test metrics, per attack species ``test_apcer_<species>`` too; MLflow's source fields (the git
commit) and the protocol's manifest as its data set; tags the reports and resumes read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orchestrator.jobs import Job, git_sha
from orchestrator.progress import SweepProgress
from orchestrator.specs import ExperimentSpec
from orchestrator.tracking.presentation import source_tags
from orchestrator.tracking.runs import Tracker

#: Reported by workloads per epoch but not logged as metrics: the step and the clock say them.
NOT_METRICS = frozenset({"epoch", "elapsed_s"})


def species_metrics(apcer_per_pai: dict[str, float]) -> dict[str, float]:
    """Per-species APCER as metric names MLflow accepts (``test_apcer_print``)."""
    out = {}
    for species, value in apcer_per_pai.items():
        name = "".join(c if c.isalnum() or c in "_-." else "_" for c in str(species))
        out[f"test_apcer_{name}"] = float(value)
    return out


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
        dataset: Any = None,
    ):
        """``dataset``: the protocol's manifest as a tracking data set, logged on every trial's
        run (``presentation.dataset_input``), or None."""
        self.tracker, self.parent, self.spec, self.view = tracker, parent, spec, view
        self.dataset = dataset
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
                "experiment": job.experiment,
                "workload": job.workload,
                **source_tags(self.sha),
            }
            run_id = self.tracker.start_child(self.parent, job.label, tags, job.params)
            if self.dataset is not None:
                self.tracker.log_dataset(run_id, self.dataset)
            self.children[job.run_key] = run_id
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
        logged = {k: v for k, v in metrics.items() if k not in NOT_METRICS}
        self.tracker.log_metrics(self._child(job), logged, step=step)
        self.view.epoch(job, metrics)

    def finished(self, job: Job, metrics: dict[str, float], artifact_dir: Path) -> None:
        if job.run_key in self.done:
            return
        run_id = self._child(job)
        info = json.loads((artifact_dir / "result.json").read_text()).get("info", {})
        self.trial_seconds += float(info.get("train_seconds", 0.0))
        held = self.existing.get(job.run_key, set()) | NOT_METRICS
        final = {**metrics, **species_metrics(info.get("apcer_per_pai") or {})}
        self.tracker.log_metrics(run_id, {k: v for k, v in final.items() if k not in held}, 0)
        tags = {"threshold_policy": info.get("threshold_policy", "")}
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
