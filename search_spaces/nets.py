"""The network contract (``NETWORKS``) and the hand-designed depth-map networks' one class.

DepthNet, CDCN, CDCN++ and CDCN with CDP (registered in ``cdcn.py``) are all ``DepthMapNet``, configured by block channel lists, a pooling factory and
optional spatial attention (variants are parameters, not copies). Every network maps
``(B, 3, S, S)`` to a ``(B, S // 8, S // 8)`` map. As in the official CDCN nets the depth head
ends with a ReLU (a depth map is non-negative); ``depth_head=False`` drops it for a map of logits
trained with BCE, where a ReLU would pin every sigmoid at >= 0.5.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from core.registry import Registry
from search_spaces.ops import (
    CentralDifferenceConv2d,
    SpatialAttention,
    conv_bn_relu,
)

__all__ = ["NETWORKS", "DepthMapNet", "count_parameters", "scale_channels"]

NETWORKS: Registry[Callable[..., nn.Module]] = Registry(
    "network",
    """Factories ``(theta=0.7, gamma=0.7, width=1.0, input_size=256, **kw) -> nn.Module``.

    ``**kw`` overrides ``DepthMapNet`` options (e.g. ``stem``, ``pool``); unknown keys raise
    ``TypeError``.

    The module maps ``(B, 3, S, S)`` images in [0, 1] to a ``(B, S // 8, S // 8)`` map: a depth
    map ending with a ReLU by default, logits with ``depth_head=False``. ``theta`` is the CDC mix
    (0 = plain convs), ``gamma`` the CDP mix (only used by nets with central-difference
    pooling), ``width`` multiplies every channel count.
    """,
    entries="search_spaces.catalog",
)

PoolFactory = Callable[[], nn.Module]


def scale_channels(c: int, width: float) -> int:
    """Channel count under a width multiplier (rounded, at least 4)."""
    return max(4, round(c * width))


class DepthMapNet(nn.Module):
    """Stem, pooled CDC blocks whose outputs are resized to S/8 and concatenated, CDC head.

    ``blocks``: per block the output width of each conv; each block ends with ``pool()`` (stride 2)
    so the third block works at S/8. ``attention_kernels``: one ``SpatialAttention`` kernel per
    block, applied to the block output on its way to the head only (as in CDCN++: the next block
    still sees the un-attended features). ``head``: widths of the head convs before the final
    1-channel conv; BN+ReLU follow every conv except the last, which a ReLU follows when
    ``depth_head`` (the official CDCN depth regressor) and nothing otherwise (logits).
    """

    def __init__(
        self,
        blocks: Sequence[Sequence[int]],
        head: Sequence[int],
        *,
        theta: float = 0.7,
        pool: PoolFactory = lambda: nn.MaxPool2d(3, stride=2, padding=1),
        attention_kernels: Sequence[int] | None = None,
        stem: int = 64,
        width: float = 1.0,
        input_size: int = 256,
        depth_head: bool = True,
    ) -> None:
        super().__init__()
        if input_size % 8:
            raise ValueError(f"input_size must be a multiple of 8; got {input_size}")
        if attention_kernels is not None and len(attention_kernels) != len(blocks):
            raise ValueError("attention_kernels needs one kernel size per block")
        self.theta = theta
        self.input_size = input_size  # nominal; forward derives the map size from the input
        c = scale_channels(stem, width)
        self.stem = nn.Sequential(*conv_bn_relu(3, c, theta))
        self.blocks = nn.ModuleList()
        for spec in blocks:
            layers: list[nn.Module] = []
            for c_out in spec:
                c_out = scale_channels(c_out, width)
                layers += conv_bn_relu(c, c_out, theta)
                c = c_out
            layers.append(pool())
            self.blocks.append(nn.Sequential(*layers))
        self.attention = (
            nn.ModuleList(SpatialAttention(k) for k in attention_kernels)
            if attention_kernels is not None
            else None
        )
        c = sum(scale_channels(spec[-1], width) for spec in blocks)
        head_layers: list[nn.Module] = []
        for c_out in head:
            c_out = scale_channels(c_out, width)
            head_layers += conv_bn_relu(c, c_out, theta)
            c = c_out
        head_layers.append(CentralDifferenceConv2d(c, 1, 3, padding=1, bias=False, theta=theta))
        if depth_head:
            head_layers.append(nn.ReLU())
        self.head = nn.Sequential(*head_layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.shape[-2] // 8, x.shape[-1] // 8)
        h = self.stem(x)
        skips = []
        for i, block in enumerate(self.blocks):
            h = block(h)
            s = self.attention[i](h) if self.attention is not None else h
            if s.shape[-2:] != size:
                s = F.interpolate(s, size=size, mode="bilinear", align_corners=False)
            skips.append(s)
        return self.head(torch.cat(skips, dim=1)).squeeze(1)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (the papers' "Params" column)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
