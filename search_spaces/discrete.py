"""Macro skeletons shared by supernets and discrete networks, and networks built from genotypes.

Two skeletons, one per cell shape (the supernet plugs mixed-op cells into the same skeletons):

* ``TwoInputNetwork`` (autofas, baseline): two stem layers (a stride-2 conv, then a stride-1
  conv), ``layers`` cells with reductions at 1/3 and 2/3 of the depth, one head layer. Total stride
  8: 108 -> 14 (Auto-FAS), 256 -> 32.
* ``LevelNetwork`` (fas): one stem conv, low/mid/high cells each followed by a stride-2 pooling
  (max or CDP) and optional spatial attention (on the head path, as CDCN++), the three levels
  resized to the high level's size and concatenated into the CDCN head (3C -> C -> C/2 -> 1).
  The stem and head use CDC(theta) in the CD op space and plain convs in the vanilla one.

Every network maps ``(B, 3, S, S)`` to a ``(B, m, m)`` map (m = ceil(S/8), higher = bona fide) for
``head="map"``, or ``(B,)`` for ``head="ce"`` (a binary cross-entropy logit). A map is logits
(binary-mask BCE, Auto-FAS and the baseline space's DP trials) unless the network is built with
``depth_head=True`` (depth MSE + CDL, the FAS space like CDCN): its head then ends with a ReLU, as
the official CDCN nets do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from search_spaces.genotypes import Genotype, validate_genotype
from search_spaces.nets import count_parameters
from search_spaces.ops import (
    CentralDifferenceConv2d,
    CentralDifferencePool2d,
    FactorizedReduce,
    ReLUConvBN,
    SpatialAttention,
    conv_bn_relu,
)
from search_spaces.spaces import SearchSpace, build_op

__all__ = [
    "TwoInputNetwork",
    "LevelNetwork",
    "DiscreteCell",
    "DiscreteChainCell",
    "build_network",
    "count_parameters",
    "count_flops",
]

ATTENTION_KERNELS = (7, 5, 3)


def make_head(
    kind: str,
    c_in: int,
    theta: float = 0.0,
    widths: Sequence[int] = (),
    depth: bool = False,
) -> nn.Module:
    """``map``: conv-BN-ReLU per width then a 3x3 conv to one channel (squeezed), followed by a
    ReLU for a ``depth`` regressor (never for logits trained with BCE);
    ``ce``: global average pooling and a linear layer to one logit (``depth`` is ignored)."""
    if kind == "ce":
        return nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(c_in, 1),
            nn.Flatten(0),
        )
    layers: list[nn.Module] = [] if widths else [nn.ReLU(inplace=False)]
    for w in widths:
        layers += conv_bn_relu(c_in, w, theta, inplace=False)
        c_in = w
    layers += [CentralDifferenceConv2d(c_in, 1, 3, padding=1, bias=False, theta=theta)]
    if depth:
        layers += [nn.ReLU(inplace=False)]
    layers += [nn.Flatten(1, 2)]  # (B, 1, m, m) -> (B, m, m)
    return nn.Sequential(*layers)


def preprocess(c_pp: int, c_p: int, c: int, reduction_prev: bool, affine: bool) -> nn.ModuleList:
    """Bring the two cell inputs to ``c`` channels and the same resolution (DARTS)."""
    p0 = (
        FactorizedReduce(c_pp, c, affine)
        if reduction_prev
        else ReLUConvBN(c_pp, c, 1, 1, 0, affine)
    )
    return nn.ModuleList([p0, ReLUConvBN(c_p, c, 1, 1, 0, affine)])


CellFactory = Callable[..., nn.Module]


class TwoInputNetwork(nn.Module):
    """Stem pair, a cascade of normal/reduction cells, one head (see the module docstring).

    ``make_cell(cell_type, c_pp, c_p, c, reduction, reduction_prev)`` returns a module with
    ``c_out`` and ``forward(s0, s1, *cell_args(cell_type))``.
    """

    def __init__(
        self, space: SearchSpace, C: int, make_cell: CellFactory, depth_head: bool = False
    ) -> None:
        super().__init__()
        self.space = space
        c_stem = space.stem_multiplier * C
        self.stem0 = nn.Sequential(
            nn.Conv2d(3, c_stem, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_stem)
        )
        self.stem1 = ReLUConvBN(c_stem, c_stem, 3, 1, 1)
        self.cells = nn.ModuleList()
        c_pp, c_p, c = c_stem, c_stem, C
        reduction_prev = False
        reductions = space.reduction_cells()
        for i in range(space.layers):
            reduction = i in reductions
            c = c * 2 if reduction else c
            cell_type = "reduce" if reduction else "normal"
            cell = make_cell(cell_type, c_pp, c_p, c, reduction, reduction_prev)
            cell.cell_type = cell_type
            self.cells.append(cell)
            c_pp, c_p, reduction_prev = c_p, cell.c_out, reduction
        self.head = make_head(space.head, c_p, depth=depth_head)

    def cell_args(self) -> dict[str, tuple[Any, ...]]:
        """Extra forward arguments per cell type (the supernet's arch weights)."""
        return {t: () for t in self.space.cell_types}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        args = self.cell_args()
        s0 = self.stem0(x)
        s1 = self.stem1(s0)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, *args[cell.cell_type])
        return self.head(s1)


class LevelNetwork(nn.Module):
    """FAS-space skeleton: stem, low/mid/high cells + pooling (+ attention), fused CDCN head.

    ``make_cell(level, c)`` returns a module with ``forward(x, *cell_args(level))`` keeping
    ``c`` channels and the resolution.
    """

    def __init__(
        self, space: SearchSpace, C: int, make_cell: CellFactory, depth_head: bool = False
    ) -> None:
        super().__init__()
        self.space = space
        theta = space.theta if space.op_space == "cd" else 0.0
        self.stem = nn.Sequential(*conv_bn_relu(3, C, theta, inplace=False))
        self.cells = nn.ModuleList(make_cell(t, C) for t in space.cell_types)
        self.pools = nn.ModuleList(self._pool(space) for _ in space.cell_types)
        self.attention = (
            nn.ModuleList(SpatialAttention(k) for k in ATTENTION_KERNELS)
            if space.attention
            else None
        )
        c_cat = C * len(space.cell_types)
        widths = (C, max(1, C // 2))
        self.head = make_head(space.head, c_cat, theta, widths=widths, depth=depth_head)

    @staticmethod
    def _pool(space: SearchSpace) -> nn.Module:
        if space.pooling == "cdp":
            return CentralDifferencePool2d(3, 2, 1, count_include_pad=False, gamma=space.gamma)
        return nn.MaxPool2d(3, stride=2, padding=1)

    def cell_args(self) -> dict[str, tuple[Any, ...]]:
        return {t: () for t in self.space.cell_types}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        args = self.cell_args()
        h = self.stem(x)
        feats = []
        for k, (t, cell, pool) in enumerate(
            zip(self.space.cell_types, self.cells, self.pools, strict=True)
        ):
            h = pool(cell(h, *args[t]))
            feats.append(self.attention[k](h) if self.attention is not None else h)
        size = feats[-1].shape[-2:]
        feats = [
            f if f.shape[-2:] == size else F.interpolate(f, size=size, mode="bilinear")
            for f in feats
        ]
        return self.head(torch.cat(feats, dim=1))


class DiscreteCell(nn.Module):
    """A two-input cell from a genotype: each node sums its kept edges; output concatenates."""

    def __init__(
        self,
        nodes: list[list[tuple[str, int]]],
        c_pp: int,
        c_p: int,
        c: int,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.pre = preprocess(c_pp, c_p, c, reduction_prev, affine=True)
        self.edges = nn.ModuleList()
        self.inputs: list[list[int]] = []
        for node in nodes:
            self.inputs.append([i for _, i in node])
            for op, i in node:
                self.edges.append(build_op(op, c, 2 if reduction and i < 2 else 1, True))
        self.c_out = c * len(nodes)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.pre[0](s0), self.pre[1](s1)]
        k = 0
        for inputs in self.inputs:
            out = 0
            for i in inputs:
                out = out + self.edges[k](states[i])
                k += 1
            states.append(out)
        return torch.cat(states[2:], dim=1)


class DiscreteChainCell(nn.Sequential):
    """A FAS-space cell from a genotype: the chain of its ops (skip_connect is an identity)."""

    def __init__(self, nodes: list[list[tuple[str, int]]], c: int) -> None:
        super().__init__(*(build_op(op, c, 1, True) for node in nodes for op, _ in node))
        self.c_out = c


def build_network(
    genotype: Genotype,
    *,
    C: int | None = None,
    width: float | None = None,
    depth_head: bool = False,
    **space_overrides: Any,
) -> nn.Module:
    """The discrete network of ``genotype`` at ``C`` (default: the space's search width) times
    ``width`` (default: the space's ``retrain_width``, 2.0 for NAS-FAS's spaces, 1.0 for
    Auto-FAS). ``depth_head``: end a map head with a ReLU (depth regression). ``space_overrides``
    change network-level fields (``layers``, ``head``, ``pooling``, ``attention``, ...)."""
    space = validate_genotype(genotype, genotype.make_space(**space_overrides))
    w = space.retrain_width if width is None else width
    c = max(1, round((C or space.C) * w))
    if space.chain:
        return LevelNetwork(
            space, c, lambda t, ch: DiscreteChainCell(genotype.cells[t], ch), depth_head
        )

    def make_cell(t: str, c_pp: int, c_p: int, ch: int, red: bool, red_prev: bool) -> nn.Module:
        return DiscreteCell(genotype.cells[t], c_pp, c_p, ch, red, red_prev)

    return TwoInputNetwork(space, c, make_cell, depth_head)


def count_flops(model: nn.Module, input_size: int, batch: int = 1) -> int:
    """Forward FLOPs of one ``(batch, 3, S, S)`` input as counted by torch's FlopCounterMode
    (a multiply-add counts 2; the papers' "FLOPs" are usually multiply-adds, i.e. half this)."""
    was_training = model.training
    model.eval()
    x = torch.zeros(batch, 3, input_size, input_size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return int(counter.get_total_flops())
