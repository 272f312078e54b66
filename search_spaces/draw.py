"""A genotype as a figure (PNG bytes): one panel per cell type, ops written on the edges.

Uses matplotlib's object API with the Agg canvas, so it never touches pyplot's global state or
needs a display (safe inside Ray workers).
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from search_spaces.genotypes import Genotype
from search_spaces.spaces import is_parameter_free

__all__ = ["draw_genotype"]

_COLOURS = {"input": "#9ecae1", "node": "#fdd0a2", "output": "#a1d99b"}


def _layout(genotype: Genotype, cell: str) -> tuple[dict[str, tuple[float, float]], list]:
    """Node positions and (src, dst, op) edges of one cell."""
    nodes = genotype.cells[cell]
    chain = all(len(node) == 1 and node[0][1] == j for j, node in enumerate(nodes))
    pos: dict[str, tuple[float, float]] = {}
    edges: list[tuple[str, str, str]] = []
    n = len(nodes)
    if chain:
        pos["in"] = (0.0, 0.0)
        for j in range(n):
            pos[str(j)] = (j + 1.0, 0.0)
        pos["out"] = (n + 1.0, 0.0)
        for j, node in enumerate(nodes):
            edges.append(("in" if j == 0 else str(j - 1), str(j), node[0][0]))
        edges.append((str(n - 1), "out", ""))
        return pos, edges
    pos["c_{k-2}"] = (0.0, 1.0)
    pos["c_{k-1}"] = (0.0, -1.0)
    for j in range(n):
        pos[str(j)] = (1.5 + j, (1.3, -1.3, 0.5, -0.5)[j % 4])
    pos["c_{k}"] = (n + 1.5, 0.0)
    names = ["c_{k-2}", "c_{k-1}", *map(str, range(n))]
    for j, node in enumerate(nodes):
        for op, i in node:
            edges.append((names[i], str(j), op))
        edges.append((str(j), "c_{k}", ""))
    return pos, edges


def draw_genotype(genotype: Genotype, dpi: int = 110) -> bytes:
    """PNG bytes of the genotype's cells (parameter-free ops drawn dashed)."""
    cells = list(genotype.cells)
    chain = all(len(node) == 1 for nodes in genotype.cells.values() for node in nodes)
    fig = Figure(figsize=(9, (1.4 if chain else 3.2) * len(cells)), dpi=dpi)
    FigureCanvasAgg(fig)
    for k, cell in enumerate(cells):
        ax = fig.add_subplot(len(cells), 1, k + 1)
        pos, edges = _layout(genotype, cell)
        for src, dst, op in edges:
            (x0, y0), (x1, y1) = pos[src], pos[dst]
            style = "dashed" if op and is_parameter_free(op) else "solid"
            ax.annotate(
                "",
                xy=(x1, y1),
                xytext=(x0, y0),
                arrowprops=dict(
                    arrowstyle="-|>",
                    color="0.4" if op else "0.75",
                    linestyle=style,
                    shrinkA=11,
                    shrinkB=11,
                    connectionstyle="arc3,rad=0.12" if op and not chain else "arc3",
                ),
            )
            if op:
                ax.text(
                    (x0 + x1) / 2, (y0 + y1) / 2, op, fontsize=7, ha="center", va="center",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85),
                )  # fmt: skip
        for name, (x, y) in pos.items():
            kind = "input" if x == 0 else ("output" if name in ("out", "c_{k}") else "node")
            label = f"${name}$" if name.startswith("c_") else name
            ax.text(
                x, y, label, ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="circle,pad=0.35", fc=_COLOURS[kind], ec="0.3"),
            )  # fmt: skip
        xs = [p[0] for p in pos.values()]
        ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
        ax.set_ylim(*((-0.5, 0.5) if chain else (-1.9, 1.9)))
        ax.set_title(f"{genotype.space}: {cell} cell", fontsize=10)
        ax.axis("off")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()
