"""The supernet's operation weights (everything but the architecture) and applying gradients."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from workloads.precision import scaled_step

__all__ = ["apply_grads", "named_weights"]


def named_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """The supernet's parameters except its architecture parameters, by name, in module order."""
    arch = {id(p) for p in model.arch_parameters()}  # type: ignore[operator]
    return {n: p for n, p in model.named_parameters() if id(p) not in arch}


def apply_grads(
    opt: torch.optim.Optimizer,
    params: list,
    grads: Sequence,
    clip: float,
    scaler: torch.amp.GradScaler | None = None,
) -> None:
    """One ``opt`` step with ``grads`` as the parameters' gradients (norm-clipped if clip > 0;
    gradients of a loss scaled by ``scaler`` are unscaled first)."""
    for p, g in zip(params, grads, strict=True):
        p.grad = None if g is None else g.detach()
    scaled_step(opt, scaler, params, clip)
