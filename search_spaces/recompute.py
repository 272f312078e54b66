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

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["recompute"]


@contextmanager
def _running_stats_frozen(module: nn.Module) -> Iterator[None]:
    norms = [m for m in module.modules() if getattr(m, "track_running_stats", False)]
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
    def forward(ctx, module: nn.Module, n: int, *tensors: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.module, ctx.n = module, n
        device = tensors[0].device.type
        ctx.autocast = (device, torch.is_autocast_enabled(device), torch.get_autocast_dtype(device))
        ctx.save_for_backward(*tensors)
        return module(_joined(tensors[:n]))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        saved = ctx.saved_tensors
        xs, params = saved[: ctx.n], saved[ctx.n :]
        # double backward (create_graph): the recomputation must stay differentiable in the
        # inputs, so it starts from them; the gradient is taken at their concatenation, though,
        # never at the pieces, which may depend on each other (a cell's node states do)
        create_graph = torch.is_grad_enabled()
        need_x = any(x.requires_grad for x in xs)
        joined = _joined(xs)
        if not create_graph:
            joined = joined.detach().requires_grad_(need_x)
        device, enabled, dtype = ctx.autocast
        with (
            torch.enable_grad(),
            torch.autocast(device, dtype, enabled=enabled),
            _running_stats_frozen(ctx.module),
        ):
            out = ctx.module(joined)
        wrt = ([joined] if need_x else []) + [p for p in params if p.requires_grad]
        found = iter(
            torch.autograd.grad(out, wrt, grad, allow_unused=True, create_graph=create_graph)
        )
        grad_xs: tuple[torch.Tensor | None, ...] = (None,) * len(xs)
        if need_x:
            g = next(found)
            pieces = (g,) if len(xs) == 1 else g.split([x.shape[1] for x in xs], dim=1)
            grad_xs = tuple(
                gx if x.requires_grad else None for gx, x in zip(pieces, xs, strict=True)
            )
        return None, None, *grad_xs, *(next(found) if p.requires_grad else None for p in params)


def _joined(xs: Sequence[torch.Tensor]) -> torch.Tensor:
    return xs[0] if len(xs) == 1 else torch.cat(list(xs), dim=1)


def recompute(module: nn.Module, *xs: torch.Tensor) -> torch.Tensor:
    """``module(x)``, keeping only ``x`` (and the parameters) for backward; see the module doc.

    Several inputs: ``module(torch.cat(xs, dim=1))``, keeping the pieces rather than their
    concatenation (for maps that are kept anyway, e.g. the node states a cell output joins).
    Without a gradient to compute (``no_grad``, nothing requiring grad) it is the plain call.
    """
    params = [p for p in module.parameters() if p.requires_grad]
    if not torch.is_grad_enabled() or not (params or any(x.requires_grad for x in xs)):
        return module(_joined(xs))
    return _Recompute.apply(module, len(xs), *xs, *params)
