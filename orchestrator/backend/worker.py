"""What every trial process shares, a single-worker trial or a Ray Train worker: the workloads
set up, the workload's data handle, the checkpoint it resumes from, checkpoints as folders, and
a finished trial's result reported to Tune."""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ray import tune

from orchestrator.backend.cluster import node_id
from orchestrator.jobs import Job
from orchestrator.trials import (
    FINAL,
    RESULT_FILE,
    TRIAL_FILE,
    objective,
    read_checkpoint,
    read_files,
    write_files,
    write_result,
)


def setup_workloads(ctx: Mapping[str, Any]) -> None:
    """A trial process: torch on the trial's threads (the workloads register on first lookup)."""
    import torch

    torch.set_num_threads(max(1, int(ctx["threads"])))


def data_handle(
    job: Job, ctx: Mapping[str, Any], resume: Mapping[str, bytes] | None, fold_rows: Any = None
):
    """The workload's data handle; every trial checkpoints (``report(metrics, checkpoint)``).
    ``fold_rows``: the job's fold as the driver built it (None: the workload builds it)."""
    from workloads.base import DataHandle

    root, cache = Path(ctx["data_root"]), Path(ctx["cache_root"])
    return DataHandle(
        root, job.protocol, job.fold, cache, resume=resume, checkpointing=True, fold_rows=fold_rows
    )


def resume_files(checkpoint, recovered: str | None) -> dict[str, bytes] | None:
    """What a trial resumes from: the checkpoint Ray hands it (a retry), else the one recovered
    from a dead driver's trial, else nothing (a fresh start)."""
    files = checkpoint_files(checkpoint)
    if files is None and recovered:
        files = read_checkpoint(recovered)
    return files


def last_metrics(resume: dict[str, bytes] | None) -> dict[str, float]:
    """The metrics a resumed trial had reported before its checkpoint (taken out of ``resume``:
    they are the backend's, not the workload's), so its objective stays right; {} if fresh."""
    return json.loads(resume.pop(TRIAL_FILE, b"{}")) if resume else {}


@contextlib.contextmanager
def checkpoint_folder(
    files: Mapping[str, bytes], last: Mapping[str, float] | None = None
) -> Iterator[str]:
    """``files`` in a temporary folder, for a Tune or Train checkpoint made from it; with
    ``last``, the trial's latest metrics too (``last_metrics`` reads them back)."""
    if last is not None:
        files = {**files, TRIAL_FILE: json.dumps(last).encode()}
    with tempfile.TemporaryDirectory() as tmp:
        write_files(files, tmp)
        yield tmp


@contextlib.contextmanager
def result_folder(result, last: Mapping[str, float]) -> Iterator[str]:
    """A workload's final result as checkpoint files in a temporary folder; its objective is kept
    in ``result.json`` (a restored trial's result reported again reads it there)."""
    result.info["objective"] = objective(last)
    with tempfile.TemporaryDirectory() as tmp:
        write_result(result, Path(tmp), node_id())
        yield tmp


def checkpoint_files(checkpoint: tune.Checkpoint | None) -> dict[str, bytes] | None:
    """A Tune (or Train) checkpoint's files (None: no checkpoint, a fresh start)."""
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as path:
        return read_files(path)


def report_final_again(files: Mapping[str, bytes]) -> None:
    """Report a trial's final checkpoint files as its result (nothing is recomputed): a restored
    trial that had finished, or a data-parallel trial's result from its rank 0."""
    result = json.loads(files[RESULT_FILE])
    objective = float(result.get("info", {}).get("objective", float("nan")))
    with checkpoint_folder(files) as tmp:
        tune.report(
            {"kind": FINAL, "metrics": result["metrics"], "objective": objective},
            checkpoint=tune.Checkpoint.from_directory(tmp),
        )
