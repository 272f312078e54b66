"""Genotypes: a searched (or sampled) architecture as plain JSON data.

A genotype names its space preset (plus the fields that differ from it) and, per cell type, per
intermediate node, the kept incoming edges as ``(op, input_state)`` pairs. Input states are
numbered as in :meth:`SearchSpace.node_inputs` (two-input cells: 0 = c_{k-2}, 1 = c_{k-1},
2.. = intermediate nodes; chain cells: node j reads state j).

Derivation follows PC-DARTS: an edge's strength is its best non-``none`` softmax(alpha) weight
times its edge-normalisation weight softmax(beta) among the node's incoming edges; each node keeps
its ``space.keep`` strongest edges, each with its best non-``none`` op.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import torch

from search_spaces.spaces import SearchSpace, is_parameter_free, make_space

__all__ = [
    "Genotype",
    "GenotypeError",
    "collapse_reason",
    "derive_genotype",
    "genotype_choices",
    "genotype_from_choices",
    "sample_genotype",
    "validate_genotype",
]

Edge = tuple[str, int]


class GenotypeError(ValueError):
    """A genotype that does not fit its space (unknown op, bad input, wrong shape)."""


@dataclass(frozen=True)
class Genotype:
    """``cells[cell_type][node] = [(op, input_state), ...]``; ``options``: space overrides."""

    space: str
    cells: dict[str, list[list[Edge]]]
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        cells = {
            t: [[[op, int(i)] for op, i in node] for node in nodes]
            for t, nodes in self.cells.items()
        }
        return {"space": self.space, "options": dict(self.options), "cells": cells}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Genotype:
        try:
            cells = {
                str(t): [[(str(op), int(i)) for op, i in node] for node in nodes]
                for t, nodes in d["cells"].items()
            }
            return cls(space=str(d["space"]), cells=cells, options=dict(d.get("options", {})))
        except (KeyError, TypeError, ValueError) as e:
            raise GenotypeError(f"malformed genotype data ({e!r}): {d!r}") from e

    @classmethod
    def from_json(cls, text: str) -> Genotype:
        return cls.from_dict(json.loads(text))

    def __hash__(self) -> int:
        return hash(self.to_json(indent=None))

    def make_space(self, **overrides: Any) -> SearchSpace:
        """The space this genotype lives in (its preset + recorded options + ``overrides``)."""
        return make_space(self.space, **{**self.options, **overrides})

    def ops(self) -> list[str]:
        return [op for nodes in self.cells.values() for node in nodes for op, _ in node]

    def __str__(self) -> str:
        parts = []
        for t, nodes in self.cells.items():
            body = " | ".join(" + ".join(f"{op}<-{i}" for op, i in node) for node in nodes)
            parts.append(f"{t}: {body}")
        return f"Genotype({self.space}; " + "; ".join(parts) + ")"


def validate_genotype(genotype: Genotype, space: SearchSpace | None = None) -> SearchSpace:
    """Check ops, inputs and shape against the space; return the space. Raises GenotypeError."""
    space = space or genotype.make_space()
    valid_ops = [op for op in space.op_names if op != "none"]
    if set(genotype.cells) != set(space.cell_types):
        raise GenotypeError(
            f"genotype cell types {sorted(genotype.cells)} != space {space.name!r} cell types "
            f"{list(space.cell_types)}"
        )
    for t in space.cell_types:
        nodes = genotype.cells[t]
        if len(nodes) != space.n_nodes:
            raise GenotypeError(f"cell {t!r} has {len(nodes)} nodes; space needs {space.n_nodes}")
        for j, node in enumerate(nodes):
            if len(node) != space.keep:
                raise GenotypeError(
                    f"cell {t!r} node {j} has {len(node)} edges; space keeps {space.keep}"
                )
            allowed = space.node_inputs(j)
            for op, i in node:
                if op not in valid_ops:
                    raise GenotypeError(
                        f"unknown op {op!r} in cell {t!r} node {j} of a {space.name!r} genotype; "
                        f"valid ops: {', '.join(valid_ops)}"
                    )
                if i not in allowed:
                    raise GenotypeError(
                        f"cell {t!r} node {j} reads state {i}; valid inputs: {list(allowed)}"
                    )
            if len({i for _, i in node}) != len(node):
                raise GenotypeError(f"cell {t!r} node {j} repeats an input: {node}")
    return space


def derive_genotype(
    space: SearchSpace,
    alphas: Mapping[str, torch.Tensor],
    betas: Mapping[str, torch.Tensor] | None = None,
) -> Genotype:
    """PC-DARTS derivation from raw arch parameters (``alphas[t]``: (E, |O|); ``betas[t]``: (E,),
    absent or empty for chain cells). Ties go to the lower edge / earlier op."""
    ops = space.op_names
    none_idx = ops.index("none")
    edges = space.edges()
    cells: dict[str, list[list[Edge]]] = {}
    for t in space.cell_types:
        a = alphas[t].detach().float().cpu()
        if tuple(a.shape) != (len(edges), len(ops)):
            raise GenotypeError(
                f"alphas[{t!r}] has shape {tuple(a.shape)}; need {(len(edges), len(ops))}"
            )
        w = torch.softmax(a, dim=-1)
        w[:, none_idx] = -1.0  # never pick none, never rank an edge by it
        best_w, best_op = w.max(dim=-1)
        b = betas.get(t) if betas is not None else None
        nodes: list[list[Edge]] = []
        start = 0
        for j in range(space.n_nodes):
            n_in = len(space.node_inputs(j))
            rows = range(start, start + n_in)
            if b is not None and b.numel() > 0:
                edge_norm = torch.softmax(b.detach().float().cpu()[start : start + n_in], dim=-1)
            else:
                edge_norm = torch.ones(n_in)
            scores = [(float(best_w[r] * edge_norm[r - start]), -(r - start), r) for r in rows]
            kept = sorted(scores, reverse=True)[: space.keep]
            node = [(ops[int(best_op[r])], edges[r][1]) for _, _, r in kept]
            nodes.append(sorted(node, key=lambda e: e[1]))  # canonical: inputs ascending
            start += n_in
        cells[t] = nodes
    return Genotype(space=space.name, cells=cells, options=space.overrides())


def genotype_choices(space: SearchSpace) -> dict[str, list[Any]]:
    """Categorical choices (name -> options) spanning every derivable genotype exactly once.

    Two-input cells: ``<cell>_n<j>_inputs`` (sorted input pairs as ``"a-b"``) and
    ``<cell>_n<j>_op<k>`` (the op of the k-th kept edge, inputs ascending). Chain cells:
    ``<cell>_n<j>_op0``. Uniform choices give uniform genotypes; Optuna's define-by-run can call
    ``trial.suggest_categorical(name, options)`` for each and pass the dict to
    :func:`genotype_from_choices`.
    """
    ops = [op for op in space.op_names if op != "none"]
    out: dict[str, list[Any]] = {}
    for t in space.cell_types:
        for j in range(space.n_nodes):
            inputs = space.node_inputs(j)
            if len(inputs) > space.keep:
                out[f"{t}_n{j}_inputs"] = [
                    "-".join(map(str, c)) for c in combinations(inputs, space.keep)
                ]
            for k in range(space.keep):
                out[f"{t}_n{j}_op{k}"] = list(ops)
    return out


def genotype_from_choices(space: SearchSpace, choices: Mapping[str, Any]) -> Genotype:
    """Inverse of :func:`genotype_choices`: one value per choice name -> a validated genotype."""
    spec = genotype_choices(space)
    missing = [name for name in spec if name not in choices]
    if missing:
        raise GenotypeError(f"missing choices: {missing}")
    cells: dict[str, list[list[Edge]]] = {}
    for t in space.cell_types:
        nodes = []
        for j in range(space.n_nodes):
            key = f"{t}_n{j}_inputs"
            if key in spec:
                if choices[key] not in spec[key]:
                    raise GenotypeError(f"{key}={choices[key]!r}; valid: {spec[key]}")
                inputs = [int(s) for s in str(choices[key]).split("-")]
            else:
                inputs = list(space.node_inputs(j))
            nodes.append([(str(choices[f"{t}_n{j}_op{k}"]), i) for k, i in enumerate(inputs)])
        cells[t] = nodes
    g = Genotype(space=space.name, cells=cells, options=space.overrides())
    validate_genotype(g, space)
    return g


def sample_genotype(space: SearchSpace, seed: int) -> Genotype:
    """A uniformly random derivable genotype; the same seed gives the same genotype."""
    rng = random.Random(seed)
    spec = genotype_choices(space)
    return genotype_from_choices(space, {name: rng.choice(opts) for name, opts in spec.items()})


def collapse_reason(genotype: Genotype, max_skip: int = 2, max_free_share: float = 0.75) -> str:
    """Why a genotype looks like the known DARTS collapse, or "" if it does not.

    Flags a cell with more than ``max_skip`` skip connections (two-input cells; the P-DARTS /
    DARTS+ rule), a cell whose share of parameter-free ops reaches ``max_free_share``, or a chain
    cell made only of parameter-free ops (it would be an identity).
    """
    reasons = []
    for t, nodes in genotype.cells.items():
        ops = [op for node in nodes for op, _ in node]
        skips = sum(op == "skip_connect" for op in ops)
        free = sum(is_parameter_free(op) for op in ops) / max(1, len(ops))
        chain = all(len(node) == 1 for node in nodes)
        if not chain and skips > max_skip:
            reasons.append(f"{t}: {skips} skip_connect edges (> {max_skip})")
        elif free >= max_free_share and (not chain or free == 1.0):
            reasons.append(f"{t}: {free:.0%} parameter-free ops")
    return "; ".join(reasons)
