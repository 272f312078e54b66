"""What a search step minimises and reports: the loss, the accuracy, the finiteness guard."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from workloads.losses import map_loss, map_score
from workloads.nas.config import Batch, LossFn, SearchDiverged

__all__ = ["accuracy", "check_finite", "default_loss"]


def default_loss(kind: str = "binary") -> LossFn:
    """Map heads: ``map_loss(kind)`` against the batch's map (resized to the output); scalar
    heads: BCE on the label (1 = bona fide)."""

    def loss(out: torch.Tensor, batch: Batch) -> torch.Tensor:
        if out.dim() == 1:
            return F.binary_cross_entropy_with_logits(out, batch[2].to(out.dtype))
        target = batch[1].to(out.dtype)
        if target.shape[-2:] != out.shape[-2:]:
            target = F.adaptive_avg_pool2d(target.unsqueeze(1), out.shape[-2:]).squeeze(1)
        return map_loss(kind, out, target)

    return loss


def accuracy(out: torch.Tensor, batch: Batch, kind: str) -> float:
    """The share of the batch's labels the output gets right (score >= 0.5 = bona fide)."""
    score = torch.sigmoid(out) if out.dim() == 1 else map_score(kind, out)
    return float(((score >= 0.5).long() == batch[2].long()).float().mean())


def check_finite(loss: torch.Tensor, where: str) -> torch.Tensor:
    """``loss``, or ``SearchDiverged`` naming the step (``where``) if it is not finite."""
    if not torch.isfinite(loss):
        raise SearchDiverged(f"non-finite {where} loss ({float(loss)}); lower the learning rate")
    return loss
