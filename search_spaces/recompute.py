"""Run a cheap module again in backward instead of keeping its intermediate maps for it.

``recompute(module, x)`` equals ``module(x)`` (outputs, gradients of ``x`` and of the module's
parameters, double backward, batch-norm running statistics) but keeps only ``x`` for backward:
the module's inner maps (a ReLU's output, a convolution's output waiting for its batch norm, a
max pool's indices) are recomputed from ``x`` when the gradient arrives. Worth it where ``x`` is
kept anyway (a cell state other ops save, a cell output two cells read) and the module is cheap.

Unlike ``torch.utils.checkpoint``, the input goes through ``save_for_backward``, so saved-tensor
hooks (memory accounting, offloading) see it, and batch norms inside update their running
statistics once (the recomputation normalises with the batch's statistics, as the forward did,
without touching the running ones). Autocast is replayed as it was in the forward. Modules with
randomness (dropout) are not supported: the recomputation would draw other numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["recompute"]


@contextmanager
def _running_stats_frozen(module: nn.Module) -> Iterator[None]:
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    tracked = [m.track_running_stats for m in norms]
    for m in norms:  # training mode then normalises by the batch and leaves the buffers alone
        m.track_running_stats = False
    try:
        yield
    finally:
        for m, t in zip(norms, tracked, strict=True):
            m.track_running_stats = t


class _Recompute(torch.autograd.Function):
    @staticmethod
    def forward(ctx, module: nn.Module, x: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.module = module
        device = x.device.type
        ctx.autocast = (device, torch.is_autocast_enabled(device), torch.get_autocast_dtype(device))
        ctx.save_for_backward(x, *params)
        return module(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        x, *params = ctx.saved_tensors
        create_graph = torch.is_grad_enabled()  # double backward: differentiate the recomputation
        inp = x if create_graph else x.detach().requires_grad_(x.requires_grad)
        device, enabled, dtype = ctx.autocast
        with (
            torch.enable_grad(),
            torch.autocast(device, dtype, enabled=enabled),
            _running_stats_frozen(ctx.module),
        ):
            out = ctx.module(inp)
        wrt = [t for t in (inp, *params) if t.requires_grad]
        found = iter(
            torch.autograd.grad(out, wrt, grad, allow_unused=True, create_graph=create_graph)
        )
        return None, *(next(found) if t.requires_grad else None for t in (inp, *params))


def recompute(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module(x)``, keeping only ``x`` (and the parameters) for backward; see the module doc.

    Without a gradient to compute (``no_grad``, nothing requiring grad) it is ``module(x)``.
    """
    params = [p for p in module.parameters() if p.requires_grad]
    if not torch.is_grad_enabled() or not (x.requires_grad or params):
        return module(x)
    return _Recompute.apply(module, x, *params)
