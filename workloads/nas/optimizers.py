"""PC-DARTS and D/T-Meta-NAS as two implementations of one search-optimizer interface.

The loop asks a ``SearchOptimizer`` for: ``new_epoch(epoch)`` (the weights' learning-rate
schedule), ``lr`` (this epoch's weight learning rate, also DARTS's ``xi``), ``step(task, frozen)``
(one weight and one architecture update) and ``checkpointables()`` (its objects with a
``state_dict``). Both variants hold the same two optimizers and differ in the weight learning
rate, the step (order and weight update) and the splitter they need.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from workloads.nas.architect import Architect
from workloads.nas.config import LossFn, SearchConfig, Task
from workloads.nas.grads import named_weights
from workloads.nas.steps import arch_step, meta_weight_step, weight_step
from workloads.params import ParamError
from workloads.precision import Precision

__all__ = [
    "OPTIMIZERS",
    "MetaNAS",
    "PCDarts",
    "SearchOptimizer",
    "StepStats",
    "weight_optimizer",
]


@dataclass(frozen=True)
class StepStats:
    """One step's support (weight) and query (architecture) loss and accuracy, and the seconds
    each update took."""

    loss_support: float
    acc_support: float
    loss_query: float
    acc_query: float
    time_weights_s: float
    time_arch_s: float


def weight_optimizer(
    params: Iterable[nn.Parameter], cfg: SearchConfig, lr: float
) -> torch.optim.Optimizer:
    """``cfg.w_optimizer`` over the supernet's weights: SGD with momentum, or Adam."""
    if cfg.w_optimizer == "sgd":
        return torch.optim.SGD(params, lr, momentum=cfg.w_momentum, weight_decay=cfg.w_weight_decay)
    if cfg.w_optimizer == "adam":
        return torch.optim.Adam(params, lr, weight_decay=cfg.w_weight_decay)
    raise ValueError(f"w_optimizer must be 'sgd' or 'adam'; got {cfg.w_optimizer!r}")


class SearchOptimizer:
    """The weights' optimizer and the ``Architect`` of one supernet; subclasses define ``step``."""

    #: The variant's name in errors.
    label: ClassVar[str]
    #: Whether the variant needs a ``DomainSplit`` (support and query from different domains).
    needs_domains: ClassVar[bool] = False
    #: Whether its steps scale fp16 losses (the meta step's inner gradients do not).
    scales_fp16: ClassVar[bool] = True

    def __init__(
        self,
        model: nn.Module,
        cfg: SearchConfig,
        loss_fn: LossFn,
        precision: Precision | None = None,
    ) -> None:
        self.model, self.cfg, self.loss_fn = model, cfg, loss_fn
        #: The forward passes' precision (autocast by ``Precision.prepare``; fp16's scaler).
        self.precision = precision or Precision(next(model.parameters()).device)
        if self.precision.scaler is not None and (cfg.unrolled or not self.scales_fp16):
            raise ParamError(
                "precision",
                self.precision.name,
                f"fp32 or bf16 for {self.label} with unrolled={cfg.unrolled} (fp16 loss scaling "
                "covers the first-order PC-DARTS steps only)",
            )
        self.base_lr = self.weight_lr(cfg)
        self.w_opt = weight_optimizer(list(named_weights(model).values()), cfg, self.base_lr)
        self.architect = Architect(model, cfg, loss_fn, self.precision.scaler)

    @staticmethod
    def weight_lr(cfg: SearchConfig) -> float:
        """The weights' (initial) learning rate."""
        return cfg.w_lr

    @property
    def lr(self) -> float:
        """This epoch's weight learning rate."""
        return self.w_opt.param_groups[0]["lr"]

    def new_epoch(self, epoch: int) -> None:
        """Set the weights' learning rate for ``epoch`` (a function of the epoch only)."""
        cfg = self.cfg
        if cfg.w_schedule == "cosine":
            frac = epoch / max(1, cfg.epochs)
            lr = cfg.w_lr_min + 0.5 * (self.base_lr - cfg.w_lr_min) * (1 + math.cos(math.pi * frac))
            for g in self.w_opt.param_groups:
                g["lr"] = lr

    def step(self, task: Task, frozen: bool) -> StepStats:
        """One weight update and one architecture update (none while ``frozen``)."""
        raise NotImplementedError

    def checkpointables(self) -> dict[str, Any]:
        return {"w_opt": self.w_opt, "arch_opt": self.architect.opt, **self.precision.stateful()}


class PCDarts(SearchOptimizer):
    """NAS and D/T-NAS: the architecture first, at the weights before the step's weight update
    (DARTS / PC-DARTS order, which the second-order gradient's virtual step assumes), then the
    weights on the mean support loss."""

    label = "NAS / D/T-NAS"

    def step(self, task: Task, frozen: bool) -> StepStats:
        t0 = time.perf_counter()
        lq, acc_q = arch_step(self.architect, task, frozen, self.lr)
        t1 = time.perf_counter()
        ls, acc_s = weight_step(
            self.model, self.w_opt, task, self.loss_fn, self.cfg, self.precision
        )
        return StepStats(ls, acc_s, lq, acc_q, time.perf_counter() - t1, t1 - t0)


class MetaNAS(SearchOptimizer):
    """D/T-Meta-NAS (NAS-FAS Algorithm 1): the meta-update of the weights first, then the
    architecture at the meta-updated weights (eq. 14)."""

    label = "D/T-Meta-NAS"
    needs_domains = True
    scales_fp16 = False

    @staticmethod
    def weight_lr(cfg: SearchConfig) -> float:
        return cfg.meta_lr

    def step(self, task: Task, frozen: bool) -> StepStats:
        t0 = time.perf_counter()
        ls, acc_s = meta_weight_step(self.model, self.w_opt, task, self.loss_fn, self.cfg)
        t1 = time.perf_counter()
        lq, acc_q = arch_step(self.architect, task, frozen, self.lr)
        return StepStats(ls, acc_s, lq, acc_q, t1 - t0, time.perf_counter() - t1)


#: ``SearchConfig.mode`` -> its optimizer.
OPTIMIZERS: dict[str, type[SearchOptimizer]] = {"nas": PCDarts, "meta": MetaNAS}
