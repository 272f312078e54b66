"""The three search spaces as parameterized objects, their op resolution and their sizes.

* ``autofas`` (Auto-FAS): 108x108x3 in, 14x14 map out; a cascade of normal/reduction cells, each a
  DAG with two input nodes, four intermediate nodes (sums) and a concatenating output node; six ops.
* ``baseline`` (NAS-FAS baseline space): the same cell shape in a 12-layer network (two stem layers,
  nine cells, one head) with a vanilla or central-difference (CD) op list and a map (DeepPixel) or
  scalar (cross-entropy) head.
* ``fas`` (NAS-FAS FAS space): one stem, low/mid/high chain cells (one input node, four
  intermediate nodes, output = last node), a max or CDP pooling layer after each cell with optional
  spatial attention, the three levels resized and concatenated into a CDCN map head.

Variants are parameters: ``make_space("fas_cd", pooling="max", attention=False)`` is NAS-FAS's
``CD-Max`` trial. Ops are named strings resolved by :func:`build_op`, which adds the FAS space's
stacked ``conv_2_<r>`` / ``cdc_2_<r>`` ops to :func:`search_spaces.ops.make_op`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

from torch import nn

from core.registry import Registry
from search_spaces.ops import ReLUCDCBN, ReLUConvBN, make_op

__all__ = [
    "SPACES",
    "FAS_RATIOS",
    "SearchSpace",
    "StackedConv",
    "build_op",
    "baseline_ops",
    "fas_ops",
    "make_space",
    "is_parameter_free",
]

#: Expansion ratios of the FAS space's ``conv_2_<r>`` ops. The paper's list was lost in the text
#: extraction; CDCN++'s searched cells use 1.2, 1.4 and 1.6, and 2.0 adds a wide option.
FAS_RATIOS: tuple[float, ...] = (1.2, 1.4, 1.6, 2.0)

AUTOFAS_OPS = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
)


def _fmt(v: float) -> str:
    return f"{float(v):g}"


def _fmt_ratio(r: float) -> str:
    s = f"{float(r):g}"
    return s if "." in s else f"{s}.0"


def baseline_ops(op_space: str = "van", theta: float = 0.7, gamma: float = 0.7) -> tuple[str, ...]:
    """The eight DARTS ops; the CD space swaps avg_pool -> CDP and dil_conv_3x3 -> CDC."""
    if op_space not in ("van", "cd"):
        raise ValueError(f"op_space must be 'van' or 'cd'; got {op_space!r}")
    cd = op_space == "cd"
    return (
        "none",
        "max_pool_3x3",
        f"cdp_{_fmt(gamma)}_3x3" if cd else "avg_pool_3x3",
        "skip_connect",
        "sep_conv_3x3",
        "sep_conv_5x5",
        f"cdc_{_fmt(theta)}_3x3" if cd else "dil_conv_3x3",
        "dil_conv_5x5",
    )


def fas_ops(
    op_space: str = "cd", theta: float = 0.7, ratios: tuple[float, ...] = FAS_RATIOS
) -> tuple[str, ...]:
    """none, skip_connect, a 3x3 conv (CDC in the CD space) and one stacked conv per ratio."""
    if op_space not in ("van", "cd"):
        raise ValueError(f"op_space must be 'van' or 'cd'; got {op_space!r}")
    if op_space == "cd":
        single, stacked = f"cdc_{_fmt(theta)}_3x3", f"cdc_{_fmt(theta)}_2_"
    else:
        single, stacked = "conv_3x3", "conv_2_"
    return ("none", "skip_connect", single, *(f"{stacked}{_fmt_ratio(r)}" for r in ratios))


class StackedConv(nn.Sequential):
    """FAS-space ``conv_2_<r>``: two 3x3 (CD) convs, C -> round(r*C) -> C, each ReLU-conv-BN.

    Only the first conv strides. ``theta = 0`` is the vanilla ``conv_2_<r>``.
    """

    def __init__(self, c: int, stride: int, ratio: float, theta: float, affine: bool) -> None:
        mid = max(1, round(ratio * c))
        if theta == 0.0:
            a: nn.Module = ReLUConvBN(c, mid, 3, stride, 1, affine)
            b: nn.Module = ReLUConvBN(mid, c, 3, 1, 1, affine)
        else:
            a = ReLUCDCBN(c, mid, 3, stride, theta, affine)
            b = ReLUCDCBN(mid, c, 3, 1, theta, affine)
        super().__init__(a, b)
        self.ratio = ratio


_NUM = r"(\d+(?:\.\d*)?|\.\d+)"
_STACKED = re.compile(rf"^(conv|cdc)(?:_{_NUM})?_2_{_NUM}$")


def build_op(name: str, c: int, stride: int, affine: bool = True) -> nn.Module:
    """Op ``name`` on ``c`` channels: the ``search_spaces.ops`` names plus the stacked convs
    ``conv_2_<r>``, ``cdc_2_<r>`` (theta 0.7) and ``cdc_<theta>_2_<r>``."""
    m = _STACKED.match(name)
    if m:
        kind, theta_s, ratio_s = m.groups()
        if kind == "conv" and theta_s is not None:
            raise KeyError(
                f"unknown op {name!r}: conv_2_<r> takes no theta (use cdc_<theta>_2_<r>)"
            )
        theta = 0.0 if kind == "conv" else float(theta_s or 0.7)
        return StackedConv(c, stride, float(ratio_s), theta, affine)
    return make_op(name, c, stride, affine)


def is_parameter_free(name: str) -> bool:
    """Ops without weights: the usual suspects of DARTS's collapse."""
    return name in ("none", "skip_connect") or "pool" in name or name.startswith("cdp_")


def is_pool(name: str) -> bool:
    return "pool" in name or name.startswith("cdp_")


@dataclass(frozen=True)
class SearchSpace:
    """One search space. ``kind`` picks the macro skeleton; everything else is a parameter.

    ``C``: initial channels during search (two-input kinds: the first cells' width, the stem has
    ``stem_multiplier * C``; ``fas``: the width of every cell); retraining multiplies it by
    ``retrain_width`` (NAS-FAS doubles it, Auto-FAS keeps it).
    ``layers``: number of cells (``fas``: always 3, low/mid/high). ``ops``: candidate op names,
    derived from ``op_space``/``theta``/``gamma``/``ratios`` when not given. ``head``: ``map``
    (a ``(B, m, m)`` logit map, m = ceil(S/8)) or ``ce`` (one ``(B,)`` logit, higher = bona fide).
    ``pooling``/``attention``: the FAS space's per-cell pooling (``max`` or ``cdp``) and
    spatial attention; ignored by the two-input kinds.
    """

    name: str
    kind: str
    op_space: str = "van"
    ops: tuple[str, ...] | None = None
    n_nodes: int = 4
    C: int = 16
    layers: int = 8
    input_size: int = 108
    head: str = "map"
    pooling: str = "max"
    attention: bool = False
    theta: float = 0.7
    gamma: float = 0.7
    ratios: tuple[float, ...] = FAS_RATIOS
    stem_multiplier: int = 3

    def __post_init__(self) -> None:
        if self.kind not in ("autofas", "baseline", "fas"):
            raise ValueError(f"kind must be autofas, baseline or fas; got {self.kind!r}")
        if self.head not in ("map", "ce"):
            raise ValueError(f"head must be 'map' or 'ce'; got {self.head!r}")
        if self.pooling not in ("max", "cdp"):
            raise ValueError(f"pooling must be 'max' or 'cdp'; got {self.pooling!r}")
        if self.kind == "fas" and self.layers != 3:
            raise ValueError(f"the fas space has exactly 3 cells (low/mid/high); got {self.layers}")
        if self.n_nodes < 1 or self.C < 1 or self.layers < 1:
            raise ValueError("n_nodes, C and layers must be positive")
        object.__setattr__(self, "ratios", tuple(float(r) for r in self.ratios))
        if self.ops is None:
            if self.kind == "autofas":
                ops = AUTOFAS_OPS
            elif self.kind == "baseline":
                ops = baseline_ops(self.op_space, self.theta, self.gamma)
            else:
                ops = fas_ops(self.op_space, self.theta, self.ratios)
            object.__setattr__(self, "ops", ops)
        else:
            object.__setattr__(self, "ops", tuple(self.ops))
        assert self.ops is not None
        if "none" not in self.ops or len(set(self.ops)) != len(self.ops):
            raise ValueError(f"ops must be distinct and include 'none'; got {self.ops}")
        for op in self.ops:  # fail at definition time, not deep inside a search
            build_op(op, 4, 1, False)

    # --- cell topology ----------------------------------------------------------------------
    @property
    def op_names(self) -> tuple[str, ...]:
        assert self.ops is not None
        return self.ops

    @property
    def chain(self) -> bool:
        """FAS-space cells: one input node, edges only between adjacent nodes."""
        return self.kind == "fas"

    @property
    def keep(self) -> int:
        """Incoming edges kept per intermediate node when deriving a genotype."""
        return 1 if self.chain else 2

    @property
    def cell_types(self) -> tuple[str, ...]:
        return ("low", "mid", "high") if self.chain else ("normal", "reduce")

    def node_inputs(self, node: int) -> tuple[int, ...]:
        """Candidate input states of intermediate ``node`` (0-based). States are numbered
        inputs first (two-input: 0 = c_{k-2}, 1 = c_{k-1}), then intermediate nodes."""
        if self.chain:
            return (node,)
        return tuple(range(node + 2))

    def edges(self) -> list[tuple[int, int]]:
        """All (node, input state) edges of a cell, node-major: the row order of alpha/beta."""
        return [(j, i) for j in range(self.n_nodes) for i in self.node_inputs(j)]

    @property
    def n_edges(self) -> int:
        return len(self.edges())

    def reduction_cells(self) -> tuple[int, ...]:
        """Indices of the reduction cells (two-input kinds): at 1/3 and 2/3 of the depth."""
        if self.chain:
            return ()
        return tuple(sorted({self.layers // 3, 2 * self.layers // 3}))

    @property
    def retrain_width(self) -> float:
        """Channel multiplier of a genotype's retraining. Doubling is NAS-FAS's rule (baseline and
        FAS spaces); Auto-FAS retrains at the search width (its searched net: 0.27M params)."""
        return 1.0 if self.kind == "autofas" else 2.0

    @property
    def default_loss(self) -> str:
        """The map supervision of the space's paper: NAS-FAS trains the FAS space with depth MSE +
        CDL like CDCN; Auto-FAS and the baseline space's DP trials use binary masks."""
        return "depth" if self.kind == "fas" else "binary"

    def map_size(self, input_size: int | None = None) -> int:
        """Side of the output map: every kind divides the input by 8 (rounding up)."""
        s = input_size or self.input_size
        for _ in range(3):
            s = (s + 1) // 2
        return s

    # --- counting ---------------------------------------------------------------------------
    def size(self, method: str = "paper") -> int:
        """Number of architectures, counted three ways.

        * ``paper`` (default): the papers' formula ``n_cell_types * |O| ** E`` with E the edges of
          one cell. Auto-FAS: E = 2+3+4+5 = 14 edges (node j has j+2 candidate inputs), |O| = 6,
          two cell types: ``2 * 6**14`` as stated. The NAS-FAS numbers were lost in extraction;
          the same formula gives ``2 * 8**14`` (baseline) and ``3 * 7**4`` (FAS, 4 chain edges).
        * ``supernet``: every op assignment of every edge of every cell type,
          ``|O| ** (E * n_cell_types)`` (what the relaxed supernet spans).
        * ``genotypes``: the discrete networks a derivation can produce: per node choose ``keep``
          inputs and a non-``none`` op for each, for every cell type.
        """
        n_ops, n_types = len(self.op_names), len(self.cell_types)
        if method == "paper":
            return n_types * n_ops**self.n_edges
        if method == "supernet":
            return n_ops ** (self.n_edges * n_types)
        if method == "genotypes":
            per_cell = 1
            for j in range(self.n_nodes):
                n_in = len(self.node_inputs(j))
                per_cell *= math.comb(n_in, self.keep) * (n_ops - 1) ** self.keep
            return per_cell**n_types
        raise ValueError(f"method must be paper, supernet or genotypes; got {method!r}")

    # --- serialization ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ops"] = list(self.op_names)
        d["ratios"] = list(self.ratios)
        return d

    def overrides(self) -> dict[str, Any]:
        """JSON-able fields that differ from the named preset (how genotypes record variants)."""
        base = SPACES.get(self.name)() if self.name in SPACES else None
        out: dict[str, Any] = {}
        mine = self.to_dict()
        ref = base.to_dict() if base is not None else {}
        derived_ops = SearchSpace(**{**mine, "ops": None}).op_names == self.op_names
        for f in fields(self):
            if f.name == "name" or (f.name == "ops" and derived_ops):
                continue
            if ref.get(f.name) != mine[f.name]:
                out[f.name] = mine[f.name]
        return out


SpaceFactory = Callable[..., SearchSpace]

SPACES: Registry[SpaceFactory] = Registry(
    "search space",
    """Named presets: factories ``(**overrides) -> SearchSpace``.

    Overrides are ``SearchSpace`` fields (``C``, ``layers``, ``head``, ``pooling``, ``attention``,
    ``op_space``, ``theta``, ``ratios``, ...); the op list is re-derived from them unless ``ops``
    is given. Channel widths are the search widths; retraining multiplies them by the space's
    ``retrain_width`` (2 for NAS-FAS's spaces, 1 for Auto-FAS). Register with :func:`preset`.
    """,
    entries="search_spaces.catalog",
)


def preset(name: str, **defaults: Any) -> SpaceFactory:
    """Register the search space ``name``: a ``SearchSpace`` with these field defaults."""

    def factory(**overrides: Any) -> SearchSpace:
        unknown = set(overrides) - {f.name for f in fields(SearchSpace)} - {"name"}
        if unknown:
            valid = ", ".join(f.name for f in fields(SearchSpace) if f.name != "name")
            raise TypeError(f"unknown search-space field(s) {sorted(unknown)}; valid: {valid}")
        return SearchSpace(**{"name": name, **defaults, **overrides})

    factory.__doc__ = f"Search space preset {name!r}: {defaults}."
    return SPACES.add(name, factory)


def make_space(name: str, **overrides: Any) -> SearchSpace:
    """The preset ``name`` with field overrides, e.g. ``make_space("baseline_cd", head="ce")``."""
    return SPACES.get(name)(**overrides)
