"""One step each: the weight step of NAS / D/T-NAS, the meta weight step of D/T-Meta-NAS (NAS-FAS
Algorithm 1) and the architecture step on a task's query."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from workloads.nas.architect import Architect
from workloads.nas.config import LossFn, SearchConfig, Task
from workloads.nas.grads import apply_grads, named_weights
from workloads.nas.objective import accuracy, check_finite
from workloads.precision import Precision

__all__ = ["arch_step", "meta_weight_step", "weight_step"]


def weight_step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    task: Task,
    loss_fn: LossFn,
    cfg: SearchConfig,
    precision: Precision | None = None,
) -> tuple[float, float]:
    """NAS / D/T-NAS: one step on the mean loss over the support batches (scaled for fp16)."""
    w = list(named_weights(model).values())
    losses, accs = [], []
    for _, b in task.support:
        out = model(b[0])
        losses.append(loss_fn(out, b))
        accs.append(accuracy(out.detach(), b, cfg.loss))
    loss = check_finite(torch.stack(losses).mean(), "support")
    scaled = loss if precision is None else precision.scale(loss)
    grads = torch.autograd.grad(scaled, w, allow_unused=True)
    apply_grads(opt, w, grads, cfg.grad_clip, precision.scaler if precision else None)
    return float(loss.detach()), sum(accs) / len(accs)


def meta_weight_step(
    model: nn.Module, opt: torch.optim.Optimizer, task: Task, loss_fn: LossFn, cfg: SearchConfig
) -> tuple[float, float]:
    """D/T-Meta-NAS eq. 12-13: inner step per support domain, meta-update on the query domain."""
    weights = named_weights(model)
    names, w = list(weights), list(weights.values())
    q = task.query[1]
    meta_loss: torch.Tensor | float = 0.0
    inner_losses, accs = [], []
    for _, b in task.support:
        out = model(b[0])
        inner = check_finite(loss_fn(out, b), "inner")
        accs.append(accuracy(out.detach(), b, cfg.loss))
        g = torch.autograd.grad(inner, w, create_graph=cfg.meta_second_order, allow_unused=True)
        learner = {
            n: p
            if gi is None
            else p - cfg.inner_lr * (gi if cfg.meta_second_order else gi.detach())
            for n, p, gi in zip(names, w, g, strict=True)
        }
        meta_loss = meta_loss + loss_fn(functional_call(model, learner, (q[0],)), q)
        inner_losses.append(float(inner.detach()))
    assert isinstance(meta_loss, torch.Tensor)
    check_finite(meta_loss, "meta")
    apply_grads(opt, w, torch.autograd.grad(meta_loss, w, allow_unused=True), cfg.grad_clip)
    return sum(inner_losses) / len(inner_losses), sum(accs) / len(accs)


def arch_step(architect: Architect, task: Task, frozen: bool, xi: float) -> tuple[float, float]:
    """The architecture update on the task's query (while frozen: only its loss and accuracy)."""
    q = task.query[1]
    if not frozen:
        return architect.step([b for _, b in task.support], q, xi)
    with torch.no_grad():
        out = architect.model(q[0])
        return float(architect.loss_fn(out, q)), accuracy(out, q, architect.cfg.loss)
