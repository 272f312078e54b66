"""PC-DARTS supernets for the three spaces: partial-channel mixed ops, edge normalisation.

A mixed op runs every candidate on 1/K of the channels, passes the rest through (max-pooled in
reduction edges, by a 3x3/stride-2 pool rather than PC-DARTS's 2x2 one so odd map sizes work; see
``MixedOp``) and shuffles channels so the next edge sees a different share. ``K = 1`` is the
DARTS mixed op exactly (no bypass, no shuffle). Edge normalisation scales each edge by the softmax
of its beta over the node's incoming edges (chain cells have one incoming edge per node and no
betas). Architecture parameters (``alphas``, ``betas``) are kept apart from the weights:
``arch_parameters()`` / ``weight_parameters()``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from search_spaces.discrete import LevelNetwork, TwoInputNetwork, preprocess
from search_spaces.genotypes import Genotype, derive_genotype
from search_spaces.ops import Zero, relu_tail
from search_spaces.recompute import recompute
from search_spaces.spaces import SearchSpace, build_op, is_pool

__all__ = [
    "MixedOp",
    "ReferenceMixedOp",
    "SearchCell",
    "ChainSearchCell",
    "Supernet",
    "build_supernet",
    "channel_shuffle",
]


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave ``groups`` channel groups (ShuffleNet): channel g*n + i -> i*groups + g."""
    b, c, h, w = x.shape
    if x.is_contiguous(memory_format=torch.channels_last):  # keep the layout (no NCHW copy)
        nhwc = x.permute(0, 2, 3, 1).reshape(b, h, w, groups, c // groups).transpose(3, 4)
        return nhwc.reshape(b, h, w, c).permute(0, 3, 1, 2)
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class MixedOp(nn.Module):
    """Softmax-weighted sum of every candidate op on ``C // k`` channels (PC-DARTS)."""

    def __init__(self, ops: Sequence[str], c: int, stride: int, k: int = 4) -> None:
        super().__init__()
        if k < 1 or c % k:
            raise ValueError(f"partial channels K={k} must divide the channel count {c}")
        self.k = k
        cp = c // k
        mods = []
        for name in ops:
            op = build_op(name, cp, stride, affine=False)
            if is_pool(name):  # DARTS: pooled outputs are not batch-normalised otherwise
                op = nn.Sequential(op, nn.BatchNorm2d(cp, affine=False))
            mods.append(op)
        self.ops = nn.ModuleList(mods)
        self.bypass: nn.Module | None = None
        if k > 1:
            # Deliberate deviation: PC-DARTS max-pools the bypassed channels with MaxPool2d(2, 2),
            # which floors odd sizes (7 -> 3) while the stride-2 ops give ceil (7 -> 4), so the
            # concatenation fails on odd maps (Auto-FAS's 108 -> 54 -> 27 -> 14). The 3x3,
            # stride-2, pad-1 pool keeps the ops' output size for every input size.
            self.bypass = nn.MaxPool2d(3, 2, 1) if stride == 2 else nn.Identity()

    def _mix(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        # sum_o w_o * o(x), minus two redundancies: the ``none`` op adds exactly zero (its weight
        # still sits in the softmax, so d/d alpha is unchanged) and the ops that start with the
        # same out-of-place ReLU share one ReLU of x (computed, and kept for backward, once).
        out: torch.Tensor | None = None
        relu_x: torch.Tensor | None = None
        for w, op in zip(weights, self.ops, strict=True):
            if isinstance(op, Zero):
                continue
            tail = relu_tail(op)
            if tail is None:
                y = op(x)
            else:
                relu_x = torch.relu(x) if relu_x is None else relu_x
                y = tail(relu_x)
            out = w * y if out is None else out + w * y
        return weights[0] * self.ops[0](x) if out is None else out

    #: whether a cell may hand ``forward`` the edge's weight and a bypass computed for another edge
    fused = True

    def bypassed(self, x: torch.Tensor) -> torch.Tensor:
        """The channels that skip the candidates (max-pooled in reduction edges); ``K > 1``."""
        assert self.bypass is not None
        rest = x[:, x.shape[1] // self.k :]
        if self.fused and isinstance(self.bypass, nn.MaxPool2d):
            # recomputed in backward from the state (kept anyway) instead of keeping the indices
            return recompute(self.bypass, rest)
        return self.bypass(rest)

    def forward(
        self,
        x: torch.Tensor,
        weights: torch.Tensor,
        rest: torch.Tensor | None = None,
        scale: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``rest``: ``self.bypassed(x)`` if already computed (edges leaving the same state).
        ``scale``: the edge's weight (beta), multiplied into the op weights and the bypass rather
        than into the output, so backward needs no copy of the output (it keeps the candidates'
        outputs and the input state anyway)."""
        if scale is not None:
            weights = weights * scale
        if self.bypass is None:
            return self._mix(x, weights)
        rest = self.bypassed(x) if rest is None else rest
        rest = rest if scale is None else rest * scale
        out = torch.cat([self._mix(x[:, : x.shape[1] // self.k], weights), rest], dim=1)
        return channel_shuffle(out, self.k)


class ReferenceMixedOp(MixedOp):
    """The PC-DARTS paper's mixed op written plainly, ``sum_o softmax(alpha)_o * o(x)`` on the
    partial channels with every candidate (``none`` included) run on its own. Same modules and
    parameter names as ``MixedOp``: the yardstick its fast path is tested and timed against."""

    fused = False

    def _mix(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self.ops, strict=True))  # type: ignore[return-value]


class SearchCell(nn.Module):
    """Two-input search cell: node j = sum over its inputs of beta_ij * MixedOp_ij(state_i)."""

    def __init__(
        self,
        space: SearchSpace,
        c_pp: int,
        c_p: int,
        c: int,
        reduction: bool,
        reduction_prev: bool,
        k: int,
        mixed: type[MixedOp] = MixedOp,
    ) -> None:
        super().__init__()
        self.space = space
        self.pre = preprocess(c_pp, c_p, c, reduction_prev, affine=False)
        self.mixed = nn.ModuleList(
            mixed(space.op_names, c, 2 if reduction and i < 2 else 1, k) for _, i in space.edges()
        )
        self.c_out = c * space.n_nodes

    def forward(
        self, s0: torch.Tensor, s1: torch.Tensor, alpha_w: torch.Tensor, beta_w: torch.Tensor
    ) -> torch.Tensor:
        return torch.cat(self.node_states([s0], [s1], alpha_w, beta_w), dim=1)

    def node_states(
        self,
        s0: Sequence[torch.Tensor],
        s1: Sequence[torch.Tensor],
        alpha_w: torch.Tensor,
        beta_w: torch.Tensor,
    ) -> list[torch.Tensor]:
        """The intermediate nodes' states (the output is their concatenation) from the two
        inputs, each given as the pieces it concatenates (a previous cell's node states)."""
        if self.mixed[0].fused:
            # the preprocessing (ReLU, 1x1 conv or factorized reduce, BN) is recomputed in
            # backward from the previous cells' node states, which their edges keep anyway:
            # no ReLU output, conv output or concatenated cell output kept for it, costs that
            # K does not divide
            states = [recompute(self.pre[0], *s0), recompute(self.pre[1], *s1)]
        else:
            states = [self.pre[0](torch.cat(list(s0), 1)), self.pre[1](torch.cat(list(s1), 1))]
        # every edge leaving a state bypasses the same channels the same way (one stride per
        # state): pool them once, not once per edge (computed and kept for backward once)
        rests: dict[int, torch.Tensor] = {}
        e = 0
        for j in range(self.space.n_nodes):
            out = 0
            for i in self.space.node_inputs(j):
                op = self.mixed[e]
                if not op.fused:
                    out = out + beta_w[e] * op(states[i], alpha_w[e])
                else:
                    if op.bypass is not None and i not in rests:
                        rests[i] = op.bypassed(states[i])
                    out = out + op(states[i], alpha_w[e], rests.get(i), beta_w[e])
                e += 1
            states.append(out)  # type: ignore[arg-type]
        return states[2:]


class ChainSearchCell(nn.Module):
    """FAS-space search cell: a chain of mixed ops (edges only between adjacent nodes)."""

    def __init__(self, space: SearchSpace, c: int, k: int, mixed: type[MixedOp] = MixedOp) -> None:
        super().__init__()
        self.mixed = nn.ModuleList(mixed(space.op_names, c, 1, k) for _ in space.edges())
        self.c_out = c

    def forward(self, x: torch.Tensor, alpha_w: torch.Tensor) -> torch.Tensor:
        for e, op in enumerate(self.mixed):
            x = op(x, alpha_w[e])
        return x


class Supernet:
    """Architecture-parameter behaviour shared by both supernet skeletons (a mixin)."""

    space: SearchSpace
    k: int
    alphas: nn.ParameterDict
    betas: nn.ParameterDict

    def _init_arch(self, space: SearchSpace, k: int, init_scale: float = 1e-3) -> None:
        self.k = k
        n_e, n_o = space.n_edges, len(space.op_names)
        self.alphas = nn.ParameterDict(
            {t: nn.Parameter(init_scale * torch.randn(n_e, n_o)) for t in space.cell_types}
        )
        self.betas = nn.ParameterDict(
            {}
            if space.chain
            else {t: nn.Parameter(init_scale * torch.randn(n_e)) for t in space.cell_types}
        )
        self._node_slices = []
        start = 0
        for j in range(space.n_nodes):
            n = len(space.node_inputs(j))
            self._node_slices.append((start, start + n))
            start += n

    def arch_parameters(self) -> list[nn.Parameter]:
        return [*self.alphas.values(), *self.betas.values()]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]  # type: ignore[attr-defined]

    def arch_weights(self) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
        """Per cell type: softmax(alpha) per edge, and betas softmaxed per node (or None)."""
        out: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {}
        for t in self.space.cell_types:
            a = torch.softmax(self.alphas[t], dim=-1)
            b = None
            if t in self.betas:
                beta = self.betas[t]
                b = torch.cat([torch.softmax(beta[s:e], dim=-1) for s, e in self._node_slices])
            out[t] = (a, b)
        return out

    def cell_args(self) -> dict[str, tuple[torch.Tensor, ...]]:
        return {t: (a,) if b is None else (a, b) for t, (a, b) in self.arch_weights().items()}

    def genotype(self) -> Genotype:
        return derive_genotype(self.space, dict(self.alphas), dict(self.betas))

    def arch_summary(self) -> dict[str, dict[str, list]]:
        """JSON-able softmax weights: ``{cell_type: {"alpha": [[..]*|O|]*E, "beta": [..]*E}}``."""
        out: dict[str, dict[str, list]] = {}
        with torch.no_grad():
            for t, (a, b) in self.arch_weights().items():
                out[t] = {"alpha": a.tolist(), "beta": [] if b is None else b.tolist()}
        return out


class TwoInputSupernet(TwoInputNetwork, Supernet):
    """The autofas / baseline supernet."""

    def __init__(
        self, space: SearchSpace, C: int, k: int, depth_head: bool, mixed: type[MixedOp]
    ) -> None:
        def make_cell(t: str, c_pp: int, c_p: int, c: int, red: bool, red_prev: bool) -> nn.Module:
            return SearchCell(space, c_pp, c_p, c, red, red_prev, k, mixed)

        super().__init__(space, C, make_cell, depth_head)
        self._init_arch(space, k)
        self.fused = mixed.fused

    def cell_args(self) -> dict[str, tuple[torch.Tensor, ...]]:
        return Supernet.cell_args(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fused:
            return super().forward(x)
        # the fast path hands each cell the previous cells' node states rather than their
        # concatenation, and recomputes the stems in backward (see ``SearchCell.node_states``)
        args = self.cell_args()
        s0 = recompute(self.stem0, x)
        s0s, s1s = [s0], [recompute(self.stem1, s0)]
        for cell in self.cells:
            s0s, s1s = s1s, cell.node_states(s0s, s1s, *args[cell.cell_type])
        return self.head(torch.cat(s1s, dim=1))


class LevelSupernet(LevelNetwork, Supernet):
    """The FAS-space supernet."""

    def __init__(
        self, space: SearchSpace, C: int, k: int, depth_head: bool, mixed: type[MixedOp]
    ) -> None:
        super().__init__(space, C, lambda t, c: ChainSearchCell(space, c, k, mixed), depth_head)
        self._init_arch(space, k)

    def cell_args(self) -> dict[str, tuple[torch.Tensor, ...]]:
        return Supernet.cell_args(self)


def build_supernet(
    space: SearchSpace,
    C: int | None = None,
    k: int = 4,
    depth_head: bool = False,
    reference: bool = False,
) -> nn.Module:
    """The PC-DARTS supernet of ``space`` (``k`` partial channels; ``k=1`` is DARTS).

    The returned module also has ``arch_parameters()``, ``weight_parameters()``,
    ``arch_weights()``, ``arch_summary()`` and ``genotype()``. ``C`` (default ``space.C``) must
    be divisible by ``k``. ``depth_head``: a map head ending with a ReLU (searching with the
    depth loss), as the retrained network will have.

    The 4-D weights are stored channels_last, so convolutions run (and hand on) NHWC maps: on
    CPU that is ~15 % faster for these small depthwise-separable convs, and it is a layout every
    GPU backend supports. ``reference``: the plain mixed op (``ReferenceMixedOp``) in the
    default layout instead: the same parameters and mathematics, for tests and benchmarks.
    """
    c = C or space.C
    if c % k:
        raise ValueError(f"C={c} must be divisible by the partial-channel factor K={k}")
    cls = LevelSupernet if space.chain else TwoInputSupernet
    if reference:
        return cls(space, c, k, depth_head, ReferenceMixedOp)
    return cls(space, c, k, depth_head, MixedOp).to(memory_format=torch.channels_last)
