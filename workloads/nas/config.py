"""The search's hyper-parameters, one step's data and the search's errors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "Batch",
    "LossFn",
    "SearchCollapseWarning",
    "SearchConfig",
    "SearchDiverged",
    "Task",
]

Batch = Sequence[torch.Tensor]
LossFn = Callable[[torch.Tensor, Batch], torch.Tensor]


class SearchDiverged(RuntimeError):
    """A non-finite loss: the trial fails instead of reporting garbage."""


class SearchCollapseWarning(UserWarning):
    """The derived genotype is dominated by skip connections / parameter-free ops."""


@dataclass(frozen=True)
class SearchConfig:
    """Search hyper-parameters; defaults follow the NAS-FAS search (see ``auto_fas()``)."""

    epochs: int = 60
    warmup_epochs: int = 15
    w_optimizer: str = "adam"  # "adam" | "sgd" (momentum)
    w_lr: float = 1e-4
    w_lr_min: float = 0.0
    w_schedule: str = "constant"  # "constant" | "cosine"
    w_momentum: float = 0.9
    w_weight_decay: float = 5e-5
    grad_clip: float = 5.0
    arch_lr: float = 6e-4
    arch_weight_decay: float = 1e-3
    arch_betas: tuple[float, float] = (0.5, 0.999)
    unrolled: bool = False
    unrolled_eps: float = 0.01  # finite-difference step: eps = unrolled_eps / ||dL_val/dw'||
    mode: str = "nas"  # "nas" (NAS and D/T-NAS) | "meta" (D/T-Meta-NAS)
    inner_lr: float = 1e-4
    meta_lr: float = 1e-4
    meta_second_order: bool = False
    loss: str = "binary"  # map heads: "binary" | "depth"; ce heads always use BCE on labels
    batch_size: int = 10  # only used to cut raw tensors into batches
    max_steps_per_epoch: int | None = None
    report_arch: bool = True
    report_genotype: bool = True
    collapse_max_skip: int = 2
    stop_on_collapse: bool = False
    seed: int = 0

    @classmethod
    def nas_fas(cls, **kw: Any) -> SearchConfig:
        return cls(**kw)

    @classmethod
    def auto_fas(cls, **kw: Any) -> SearchConfig:
        base = dict(
            epochs=40, w_optimizer="sgd", w_lr=0.05, w_schedule="cosine", w_weight_decay=1e-4
        )
        return cls(**{**base, "arch_lr": 6e-3, **kw})


@dataclass
class Task:
    """One search step's data: ``support`` as (domain, batch) pairs, ``query`` one pair."""

    support: list[tuple[str, Batch]]
    query: tuple[str, Batch]
