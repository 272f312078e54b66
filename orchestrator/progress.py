"""The live progress view: one bar for the sweep (with an estimate), one line per running trial."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from orchestrator.jobs import Job


class SweepProgress:
    """Tracks trials as they start, report epochs, finish or fail."""

    def __init__(self, console: Console, total: int, title: str) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.overall = self.progress.add_task(f"[bold]{title}", total=total, info="")
        self.running: dict[str, TaskID] = {}
        self.failed = 0

    def __enter__(self) -> SweepProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def stage(self, description: str, total: int) -> TaskID:
        return self.progress.add_task(description, total=total, info="")

    def advance_stage(self, task: TaskID, done: int, total: int) -> None:
        self.progress.update(task, completed=done, total=total)

    def started(self, job: Job) -> None:
        epochs = int(job.params.get("epochs", 1))
        self.running[job.run_key] = self.progress.add_task(
            f"  {job.label}", total=epochs, info="starting"
        )

    def epoch(self, job: Job, metrics: dict[str, float]) -> None:
        task = self.running.get(job.run_key)
        if task is None:
            return
        info = " ".join(f"{k}={metrics[k]:.3f}" for k in ("train_loss", "dev_eer") if k in metrics)
        self.progress.update(task, completed=int(metrics.get("epoch", 0)), info=info)

    def _close(self, job: Job, line: str) -> None:
        task = self.running.pop(job.run_key, None)
        if task is not None:
            self.progress.remove_task(task)
        self.progress.advance(self.overall)
        done = int(self.progress.tasks[0].completed)
        self.progress.update(self.overall, info=f"{self.failed} failed" if self.failed else "")
        self.console.print(f"[{done}/{self.progress.tasks[0].total:.0f}] {line}")

    def finished(self, job: Job, metrics: dict[str, float]) -> None:
        acer = metrics.get("test_acer", float("nan"))
        auc = metrics.get("test_auc", float("nan"))
        self._close(job, f"{job.label}: ACER {100 * acer:.2f}%  AUC {auc:.3f}")

    def failed_trial(self, job: Job, error: str) -> None:
        self.failed += 1
        self._close(job, f"[red]{job.label}: FAILED[/red] {error.splitlines()[0][:160]}")
