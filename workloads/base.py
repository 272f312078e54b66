"""The contract between the orchestrator and a unit of work.

A workload is a plain function ``(params, data, report) -> WorkloadResult``. It never imports ray or
mlflow: the orchestrator hands it a config dict, a data handle and a ``report`` callable, and turns
what it reports and returns into Ray results and MLflow runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from orchestrator.registry import Registry

#: Per-epoch metrics (name -> float); the orchestrator records them at step = ``metrics["epoch"]``.
Report = Callable[[dict[str, float]], None]

SCORE_COLUMNS = ["video_id", "score", "label", "pai", "split"]


@dataclass(frozen=True)
class DataHandle:
    """Where a trial finds its data: a data root, a protocol fold and the shared frame cache."""

    data_root: Path
    protocol: str
    fold: str
    cache_root: Path


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
    "(plain JSON values), ``report`` takes per-epoch metrics including ``epoch``.",
)
