"""Pixel-wise supervision losses: binary-mask BCE and depth MSE plus contrastive depth loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("binary", "depth")


def _contrast_kernels(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Eight 3x3 kernels, each +1 at one neighbour and -1 at the centre (CDCN's CDL)."""
    k = torch.zeros(8, 1, 3, 3, device=device, dtype=dtype)
    neighbours = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (2, 2)]
    for i, (r, c) in enumerate(neighbours):
        k[i, 0, r, c] = 1.0
        k[i, 0, 1, 1] = -1.0
    return k


def contrastive_depth_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE between the eight neighbour-minus-centre contrasts of prediction and label (B, H, W).

    As in the official CDCN loss the kernels run without padding, so only the valid interior
    counts (a 32x32 map gives 30x30 contrasts): a zero pad would invent contrasts at the border.
    """
    if min(pred.shape[-2:]) < 3:  # no interior: nothing to contrast (tiny smoke maps)
        return pred.sum() * 0.0
    k = _contrast_kernels(pred.device, pred.dtype)
    p = F.conv2d(pred.unsqueeze(1), k)
    t = F.conv2d(target.unsqueeze(1), k)
    return F.mse_loss(p, t)


def map_loss(kind: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``binary``: BCE on logits against the binary mask; ``depth``: MSE + contrastive depth loss."""
    if kind == "binary":
        return F.binary_cross_entropy_with_logits(pred, target)
    if kind == "depth":
        return F.mse_loss(pred, target) + contrastive_depth_loss(pred, target)
    raise ValueError(f"unknown loss {kind!r}; valid: {', '.join(LOSSES)}")


def map_score(kind: str, pred: torch.Tensor) -> torch.Tensor:
    """A liveness score per frame: the mean of the predicted map (sigmoid first for logits)."""
    if kind == "binary":
        pred = torch.sigmoid(pred)
    return pred.flatten(1).mean(dim=1)
