"""The architecture update of PC-DARTS: first order, or DARTS's unrolled second order."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from workloads.nas.config import Batch, LossFn, SearchConfig
from workloads.nas.grads import apply_grads, named_weights
from workloads.nas.objective import accuracy, check_finite

__all__ = ["Architect"]


class Architect:
    """Updates alphas/betas: Adam(lr, betas=(0.5, 0.999), wd) on the query loss.

    First order: the gradient at the current weights. Second order (``unrolled``): the gradient
    at one virtual SGD step of the weights, minus ``xi`` times the finite-difference
    Hessian-vector product (DARTS eq. 7-8).
    """

    def __init__(self, model: nn.Module, cfg: SearchConfig, loss_fn: LossFn, scaler=None) -> None:
        self.model, self.cfg, self.loss_fn = model, cfg, loss_fn
        #: fp16's ``torch.amp.GradScaler`` of the first-order step (unrolled takes no fp16).
        self.scaler: torch.amp.GradScaler | None = scaler
        self.params = list(model.arch_parameters())  # type: ignore[operator]
        self.opt = torch.optim.Adam(
            self.params, lr=cfg.arch_lr, betas=cfg.arch_betas, weight_decay=cfg.arch_weight_decay
        )

    def _support_loss(self, support: list[Batch]) -> torch.Tensor:
        return torch.stack([self.loss_fn(self.model(b[0]), b) for b in support]).mean()

    def step(self, support: list[Batch], query: Batch, xi: float) -> tuple[float, float]:
        """One architecture update; returns the query (loss, accuracy)."""
        if self.cfg.unrolled:
            grads, out, loss = self.unrolled_grads(support, query, xi)
        else:
            out = self.model(query[0])
            loss = check_finite(self.loss_fn(out, query), "query")
            scaled = loss if self.scaler is None else self.scaler.scale(loss)
            grads = torch.autograd.grad(scaled, self.params, allow_unused=True)
        apply_grads(self.opt, self.params, grads, 0.0, self.scaler)
        return float(loss.detach()), accuracy(out.detach(), query, self.cfg.loss)

    def unrolled_grads(self, support: list[Batch], query: Batch, xi: float) -> tuple:
        """The second-order architecture gradients, the query output and the query loss (at the
        virtual weights ``w - xi * dL_support/dw``); the weights are left as they were."""
        weights = named_weights(self.model)
        names, w = list(weights), list(weights.values())
        g = torch.autograd.grad(self._support_loss(support), w, allow_unused=True)
        wd = self.cfg.w_weight_decay
        virtual = {
            n: (p - xi * ((gi if gi is not None else 0) + wd * p)).detach().requires_grad_()
            for n, p, gi in zip(names, w, g, strict=True)
        }
        out = functional_call(self.model, virtual, (query[0],))
        loss = check_finite(self.loss_fn(out, query), "query")
        grads = torch.autograd.grad(loss, [*self.params, *virtual.values()], allow_unused=True)
        d_alpha, d_w = grads[: len(self.params)], grads[len(self.params) :]
        d_w = [torch.zeros_like(p) if d is None else d for p, d in zip(w, d_w, strict=True)]
        eps = float(self.cfg.unrolled_eps / (torch.cat([d.flatten() for d in d_w]).norm() + 1e-12))
        saved = [p.detach().clone() for p in w]
        hvp = []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for p, p0, d in zip(w, saved, d_w, strict=True):
                    p.copy_(p0 + sign * eps * d)
            hvp.append(
                torch.autograd.grad(self._support_loss(support), self.params, allow_unused=True)
            )
        with torch.no_grad():
            for p, p0 in zip(w, saved, strict=True):
                p.copy_(p0)
        implicit = [
            None if gp is None else (gp - gm) / (2 * eps)
            for gp, gm in zip(hvp[0], hvp[1], strict=True)
        ]
        out_grads = [
            None if da is None else (da if h is None else da - xi * h)
            for da, h in zip(d_alpha, implicit, strict=True)
        ]
        return out_grads, out, loss
