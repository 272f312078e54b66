"""A genotype as a figure (PNG bytes): ops as edge colours with a legend (parameter-free ops
dashed), the FAS space's pooling and attention as boxes after each cell, a title (the report
puts the variant's name and score there).

The one drawing: a trial logs it as ``genotype.png`` and the HTML report draws each variant's
``genotype.json`` with it. Matplotlib's object API on the Agg canvas, so it never touches
pyplot's global state or needs a display (safe inside Ray workers). Matplotlib is imported
by the functions that draw, on their first call: a trial process that never draws (every
hand-designed net) never pays its import.
"""

from __future__ import annotations

import io

from search_spaces.genotypes import Genotype
from search_spaces.spaces import SearchSpace, is_parameter_free

PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
)  # fmt: skip
NODE_FILL = {"input": "#9ecae1", "node": "#fdd0a2", "output": "#a1d99b", "layer": "#e5e5e5"}
FONT = 12


def op_colours(space: SearchSpace) -> dict[str, str]:
    """One colour per op of the space (its own order, so every genotype of a space agrees)."""
    ops = [op for op in space.op_names if op != "none"]
    return {op: PALETTE[i % len(PALETTE)] for i, op in enumerate(ops)}


def _chain(space: SearchSpace, nodes: list) -> tuple[dict, list]:
    """A FAS-space cell: in -> nodes -> pooling (max or CDP) -> attention (if any) -> out."""
    pos = {"in": (0.0, 0.0)}
    edges = []
    for j, node in enumerate(nodes):
        pos[str(j)] = (j + 1.0, 0.0)
        edges.append(("in" if j == 0 else str(j - 1), str(j), node[0][0]))
    last, x = str(len(nodes) - 1), len(nodes) + 1.0
    layers = [("CDP" if space.pooling == "cdp" else "max pool")]
    layers += ["attention"] if space.attention else []
    for name in layers:
        pos[name] = (x, 0.0)
        edges.append((last, name, ""))
        last, x = name, x + 1.0
    pos["out"] = (x, 0.0)
    edges.append((last, "out", ""))
    return pos, edges


def _dag(nodes: list) -> tuple[dict, list]:
    """A two-input cell: c_{k-2}, c_{k-1} -> intermediate nodes -> c_{k} (their concatenation)."""
    pos = {"c_{k-2}": (0.0, 1.0), "c_{k-1}": (0.0, -1.0)}
    names = list(pos)
    edges = []
    for j, node in enumerate(nodes):
        pos[str(j)] = (1.6 + 1.2 * j, (1.2, -1.2, 0.45, -0.45)[j % 4])
        names.append(str(j))
        edges += [(names[i], str(j), op) for op, i in node]
    pos["c_{k}"] = (1.6 + 1.2 * len(nodes) + 0.6, 0.0)
    edges += [(str(j), "c_{k}", "") for j in range(len(nodes))]
    return pos, edges


def _kind(name: str, x: float) -> str:
    if x == 0:
        return "input"
    if name in ("out", "c_{k}"):
        return "output"
    return "node" if name.isdigit() else "layer"


def _draw_cell(ax, pos: dict, edges: list, colours: dict, curved: bool) -> None:
    from matplotlib.patches import FancyArrowPatch

    for src, dst, op in edges:
        arrow = FancyArrowPatch(
            pos[src],
            pos[dst],
            arrowstyle="-|>",
            mutation_scale=16,
            color=colours.get(op, "0.7"),
            linewidth=2.6 if op else 1.2,
            linestyle="--" if op and is_parameter_free(op) else "-",
            shrinkA=17,
            shrinkB=17,
            connectionstyle="arc3,rad=0.15" if op and curved else "arc3",
        )
        ax.add_patch(arrow)
    for name, (x, y) in pos.items():
        kind = _kind(name, x)
        label = f"${name}$" if name.startswith("c_") else name
        box = "circle,pad=0.3" if kind in ("input", "node", "output") else "round,pad=0.3"
        ax.text(
            x, y, label, ha="center", va="center", fontsize=FONT, zorder=3,
            bbox=dict(boxstyle=box, fc=NODE_FILL[kind], ec="0.3"),
        )  # fmt: skip
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.axis("off")


def draw_genotype(genotype: Genotype, title: str = "", dpi: int = 100) -> bytes:
    """PNG bytes: one panel per cell type, a legend of the ops used (dashed: parameter-free)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    space = genotype.make_space()
    colours = op_colours(space)
    chain = space.chain
    panels = list(genotype.cells)
    height = (1.3 if chain else 2.9) * len(panels) + 1.6
    fig = Figure(figsize=(10, height), dpi=dpi)
    FigureCanvasAgg(fig)
    for k, cell in enumerate(panels):
        ax = fig.add_subplot(len(panels), 1, k + 1)
        nodes = genotype.cells[cell]
        pos, edges = _chain(space, nodes) if chain else _dag(nodes)
        _draw_cell(ax, pos, edges, colours, curved=not chain)
        ax.set_title(f"{cell} cell", fontsize=FONT, loc="left")
    used = [op for op in colours if op in set(genotype.ops())]
    handles = [
        Line2D([], [], color=colours[op], lw=3, ls="--" if is_parameter_free(op) else "-")
        for op in used
    ]
    fig.legend(
        handles, used, loc="lower center", ncol=min(4, max(1, len(used))), fontsize=FONT,
        frameon=False, title="operations (dashed: parameter-free)", title_fontsize=FONT,
    )  # fmt: skip
    fig.suptitle(title or f"{genotype.space} genotype", fontsize=FONT + 2)
    rows = -(-len(used) // 4) + 1
    fig.tight_layout(rect=(0, 0.045 * rows * 6 / height, 1, 0.97))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
