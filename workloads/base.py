"""The contract between the orchestrator and a unit of work.

A workload is a plain function ``(params, data, report) -> WorkloadResult``. It never imports ray or
mlflow: the orchestrator hands it a config dict, a data handle and a ``report`` callable, and turns
what it reports and returns into Ray results and MLflow runs.

Checkpoints (so a trial killed mid-way continues instead of starting over): when
``data.checkpointing`` is set, a workload may pass ``report(metrics, checkpoint)`` a dict file name
-> bytes (e.g. ``{"state.pt": ...}`` with weights, optimizer, scheduler, every RNG and the epoch;
each checkpoint must be complete on its own: only the latest few are kept). Empty ``metrics``
with a checkpoint save state between epochs (e.g. a finished search before its retrain). A
resumed trial finds the latest checkpoint in ``data.resume`` and continues with the epoch after
it, ending with the result an uninterrupted run would give. Without ``data.checkpointing`` a
workload never passes a checkpoint, so a plain one-argument ``report`` (a test's
``list.append``) works and no state is serialised in vain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from core.registry import Registry

#: Per-epoch metrics (name -> float); the orchestrator records them at step = ``metrics["epoch"]``.
#: Called ``report(metrics)`` or, with ``data.checkpointing``, ``report(metrics, checkpoint)``.
Report = Callable[..., None]
#: A checkpoint: file name -> bytes.
Checkpoint = Mapping[str, bytes]

#: Per-video scores: ``pai`` is the PAI species APCER is taken over, ``instrument`` the individual
#: instrument inside it, ``subject`` the person (interval estimates resample test subjects).
SCORE_COLUMNS = ["video_id", "score", "label", "pai", "instrument", "subject", "split"]


@dataclass(frozen=True)
class DataHandle:
    """Where a trial finds its data: a data root, a protocol fold and the shared frame cache;
    and, for a resumed trial, the state it resumes from (see the module docstring)."""

    data_root: Path
    protocol: str
    fold: str
    cache_root: Path
    #: The latest checkpoint of this trial (file name -> bytes), None on a fresh start.
    resume: Checkpoint | None = None
    #: Whether the caller stores checkpoints passed to ``report`` (else none are built).
    checkpointing: bool = False


@dataclass
class WorkloadResult:
    """Final metrics (fractions, names prefixed ``test_``), per-video scores and artifacts.

    ``scores`` has ``SCORE_COLUMNS`` and is the source of truth every table is derived from.
    ``artifacts`` maps a file name (``genotype.json``, ``model.pt``, ``*.png``) to its bytes.
    """

    metrics: dict[str, float]
    scores: pd.DataFrame
    artifacts: dict[str, bytes] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


class Workload(Protocol):
    def __call__(
        self, params: dict[str, Any], data: DataHandle, report: Report
    ) -> WorkloadResult: ...


WORKLOADS: Registry[Workload] = Registry(
    "workload",
    "Workloads: ``(params, data, report) -> WorkloadResult``; params are the flattened trial config "
    "(plain JSON values), ``report`` takes per-epoch metrics including ``epoch`` and, when "
    "``data.checkpointing``, a checkpoint to resume from (``data.resume``).",
)
