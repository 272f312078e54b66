"""The params of ``train_eval`` and of the retrain both NAS workloads end with.

``RetrainParams`` are the training settings every one of them reads, with the NAS workloads'
defaults; ``TrainEvalParams`` adds the network and makes the settings a ``train_eval`` spec must
state required.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from search_spaces.nets import NETWORKS
from workloads.base import GENOTYPE_NETWORK
from workloads.losses import LOSSES
from workloads.params import (
    FLAG,
    MAP,
    TEXT,
    UNIT,
    TrialParams,
    either,
    integer,
    number,
    one_of,
    optional,
    param,
)
from workloads.precision import PRECISIONS
from workloads.rankpool import REPRESENTATIONS

#: The threshold policies a trial may name besides a fixed number (``fold``: the fold's own).
THRESHOLD_POLICIES = ("fold", "dev_eer", "test_eer")


def _networks() -> list[str]:
    return [*NETWORKS.names(), GENOTYPE_NETWORK]


@dataclass(frozen=True, kw_only=True)
class RetrainParams(TrialParams):
    """Training and evaluation settings (defaults: the NAS workloads' retrain)."""

    epochs: int = param(integer(1), 60)
    lr: float = param(number(gt=0), 1e-4)
    #: Halve the learning rate every ``lr_step`` epochs (0: constant).
    lr_step: int = param(integer(0), 0)
    weight_decay: float = param(number(ge=0), 5e-5)
    batch_size: int = param(integer(1), 8)
    frames_per_video: int = param(integer(1), 8)
    representation: str = param(one_of(REPRESENTATIONS), "static")
    rank_k: int = param(integer(1), 7)
    #: The map loss (and the frame cache's labels: ``depth`` or binary masks).
    loss: str | None = param(one_of(LOSSES), None)
    augment: bool = param(FLAG, False)
    #: Channel multiplier (a genotype: times its search channels; absent: the space's).
    width: float | None = param(number(gt=0), None)
    #: The central-difference and pooling mixes of the networks that take them.
    theta: float | None = param(UNIT, None)
    gamma: float | None = param(UNIT, None)
    #: ``fold``/absent: the fold's own policy; ``dev_eer``, ``test_eer`` or a fixed threshold.
    threshold_policy: str | float | None = param(
        optional(either(one_of(THRESHOLD_POLICIES), number())), None
    )
    #: A genotype JSON string (a map, as YAML reads inline JSON, is made text before trials).
    genotype: str | Mapping | None = param(optional(either(TEXT, MAP)), None)
    #: Where the genotype came from (a label for tables; no workload reads it).
    genotype_source: str | None = param(TEXT, None)
    #: The forward passes' autocast dtype (``workloads.precision``; fp16 needs a CUDA GPU).
    precision: str = param(one_of(PRECISIONS), "fp32")
    #: Weights and input batches in NHWC memory layout (faster convolutions on GPUs).
    channels_last: bool = param(FLAG, False)


@dataclass(frozen=True, kw_only=True)
class TrainEvalParams(RetrainParams):
    """``train_eval``: a registered network (or ``genotype``) trained and evaluated."""

    network: str = param(one_of(_networks))
    input_size: int = param(integer(8))
    frames_per_video: int = param(integer(1))
    epochs: int = param(integer(1))
    lr: float = param(number(gt=0))
    weight_decay: float = param(number(ge=0))
    batch_size: int = param(integer(1))
    loss: str = param(one_of(LOSSES), "binary")
    #: A genotype's search channels (absent: the genotype's own).
    C: int | None = param(optional(integer(1)), None)
