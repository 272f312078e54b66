"""The contract between the orchestrator and a unit of work.

A workload is registered as a :class:`WorkloadDef`: a run function ``(params, data, report) ->
WorkloadResult`` taking its typed params (a :class:`workloads.params.TrialParams` dataclass),
the params type itself (the driver parses and validates a trial's flat config with it), what
frames a trial reads (``data_config``) and, if it has them, the choices a sampler fills
(``choices``) and the search space it builds networks from (``search_space``). The driver asks
it nothing else. A workload never imports ray or mlflow: the orchestrator hands it its params,
a data handle and a ``report`` callable, and turns what it reports and returns into Ray results
and MLflow runs. Adding a workload is one module defining these plus one ``WORKLOADS.add`` line
(and its import in ``workloads/catalog.py``).

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
from typing import TYPE_CHECKING, Any, Generic

import pandas as pd

from core.registry import Registry
from workloads.params import P, TrialParams, parse

if TYPE_CHECKING:
    from protocols.protocols import Fold
    from search_spaces.spaces import SearchSpace
    from workloads.pipeline import PipelineConfig

#: Per-epoch metrics (name -> float); the orchestrator records them at step = ``metrics["epoch"]``.
#: Called ``report(metrics)`` or, with ``data.checkpointing``, ``report(metrics, checkpoint)``.
Report = Callable[..., None]
#: A checkpoint: file name -> bytes.
Checkpoint = Mapping[str, bytes]

#: Per-video scores: ``pai`` is the PAI species APCER is taken over, ``instrument`` the individual
#: instrument inside it, ``subject`` the person (interval estimates resample test subjects).
SCORE_COLUMNS = ["video_id", "score", "label", "pai", "instrument", "subject", "split"]
#: A sampler's choice ``name`` (a key of ``WorkloadDef.choices``) reaches the trial's config as
#: ``arch.<name>``.
CHOICE_PREFIX = "arch."


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
    #: The fold's rows when the caller already built them (the driver does, once per sweep):
    #: the trial then reads no manifest; None: the workload builds its fold from ``data_root``.
    fold_rows: Fold | None = None


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


@dataclass(frozen=True)
class WorkloadDef(Generic[P]):
    """A registered workload: all the driver may ask of it."""

    #: ``run(params, data, report)``; under torch.distributed ranks other than 0 return None.
    run: Callable[[P, DataHandle, Report], WorkloadResult | None]
    #: The trial params' dataclass (flat config -> typed params, and the spec's validation).
    params: type[P]
    #: The frame-cache setting a trial reads (the driver builds it once before the trials).
    data_config: Callable[[P], PipelineConfig]
    #: Categorical choices a sampler draws (``{name: options}``; they come back as
    #: ``CHOICE_PREFIX + name`` params), for a workload a sampler can drive.
    choices: Callable[[P], dict[str, list]] | None = None
    #: The search space a trial builds its networks from (the driver's size guard), if any.
    search_space: Callable[[P], SearchSpace] | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.params, type) and issubclass(self.params, TrialParams)):
            raise TypeError(f"a workload's params must subclass TrialParams; got {self.params!r}")

    def parse(self, config: Mapping[str, Any]) -> P:
        """A trial's flat config as this workload's typed params (a ``ValueError`` naming the
        param, the value and what is valid)."""
        return parse(self.params, config)

    def run_trial(
        self, config: Mapping[str, Any], data: DataHandle, report: Report
    ) -> WorkloadResult | None:
        """Run one trial from its flat config."""
        return self.run(self.parse(config), data, report)


#: The ``network`` param value that retrains the trial's ``genotype`` (a searched architecture)
#: instead of a hand-designed net; the driver resolves genotype references for it.
GENOTYPE_NETWORK = "genotype"

WORKLOADS: Registry[WorkloadDef] = Registry(
    "workload",
    "Workloads (a ``WorkloadDef`` each): ``run(params, data, report) -> WorkloadResult`` with "
    "``params`` its typed trial params parsed from the flattened trial config (plain JSON "
    "values); ``report`` takes per-epoch metrics including ``epoch`` and, when "
    "``data.checkpointing``, a checkpoint to resume from (``data.resume``).",
    entries="workloads.catalog",
)
