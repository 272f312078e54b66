"""Paper-shaped tables and figures from what MLflow holds (runs -> pandas -> md/csv/latex, PNG).

Reports read MLflow only: the spec of an experiment comes back from its parent runs' ``spec``
param, the numbers from its finished child runs; failed trials are counted, never dropped.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from protocols.metrics import format_mean_std, summarize  # noqa: E402

FORMATS = ("md", "csv", "latex")
ABLATION_METRICS = ("apcer", "bpcer", "acer")


@dataclass
class Report:
    experiment: str
    title: str
    table: pd.DataFrame
    figure: bytes | None = None
    figure_name: str | None = None


def latest_spec(parents: pd.DataFrame) -> dict | None:
    if parents.empty or "params.spec" not in parents:
        return None
    last = parents.sort_values("start_time").iloc[-1]
    return json.loads(last["params.spec"])


def summary_table(
    children: pd.DataFrame, by: str, order: list | None = None, numeric: bool = True
) -> pd.DataFrame:
    """One row per value of param ``by``: APCER/BPCER/ACER mean ± std (%) over the finished
    trials (seeds, folds), model size where recorded, and how many trials failed."""
    col = f"params.{by}"
    if children.empty or col not in children:
        return pd.DataFrame()
    keys = children[col].astype(float) if numeric else children[col]
    rows = []
    for value, group in children.groupby(keys, sort=False):
        ok = group[group["status"] == "FINISHED"]
        row: dict[str, object] = {by: value}
        for metric in ABLATION_METRICS:
            values = ok.get(f"metrics.test_{metric}", pd.Series(dtype=float)).dropna().tolist()
            mean, std = summarize(values) if values else (float("nan"), float("nan"))
            row[f"{metric.upper()} (%)"] = format_mean_std(mean, std)
            row[f"_{metric}_mean"], row[f"_{metric}_std"] = mean, std
        for metric, label, scale in (
            ("n_params", "params (M)", 1e-6),
            ("flops", "FLOPs (G)", 1e-9),
        ):
            values = ok.get(f"metrics.{metric}", pd.Series(dtype=float)).dropna()
            if len(values):
                row[label] = f"{values.mean() * scale:.3f}"
        row["trials"] = len(ok)
        row["failed"] = int((group["status"] == "FAILED").sum())
        rows.append(row)
    table = pd.DataFrame(rows)
    if order is not None:
        rank = {v: i for i, v in enumerate(order)}
        return table.sort_values(by, key=lambda c: c.map(rank)).reset_index(drop=True)
    return table.sort_values(by).reset_index(drop=True)


def ablation_figure(table: pd.DataFrame, param: str, title: str) -> bytes:
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=120)
    x = table[param].astype(float)
    for metric, style in (("acer", "o-"), ("apcer", "s--"), ("bpcer", "^--")):
        mean, std = 100 * table[f"_{metric}_mean"], 100 * table[f"_{metric}_std"].fillna(0)
        alpha = 1.0 if metric == "acer" else 0.5
        ax.errorbar(x, mean, yerr=std, fmt=style, capsize=3, label=metric.upper(), alpha=alpha)
    ax.set_xlabel({"theta": "θ", "gamma": "γ"}.get(param, param))
    ax.set_ylabel("error (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def public(table: pd.DataFrame) -> pd.DataFrame:
    return table[[c for c in table.columns if not str(c).startswith("_")]]


def render(table: pd.DataFrame, fmt: str) -> str:
    """Markdown (default), csv or latex text of a table's public columns."""
    table = public(table)
    if fmt == "csv":
        return table.to_csv(index=False)
    if fmt == "latex":
        body = table.astype(str).apply(
            lambda c: c.str.replace("±", r"$\pm$").str.replace("%", r"\%")
        )
        body.columns = [str(c).replace("%", r"\%") for c in body.columns]
        return body.to_latex(index=False, escape=False)
    if fmt != "md":
        raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    cells = [[str(c) for c in table.columns]] + [
        [f"{v:g}" if isinstance(v, float) else str(v) for v in row]
        for row in table.itertuples(index=False)
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def experiment_report(name: str, parents: pd.DataFrame, children: pd.DataFrame) -> Report | None:
    """The report an experiment's spec asks for, or None when MLflow holds nothing usable."""
    spec = latest_spec(parents)
    if spec is None or children.empty:
        return None
    if "tags.preset" in children:  # a store may hold several presets: report the latest one
        children = children[children["tags.preset"] == spec.get("preset")]
    if spec.get("report") == "variants" and "variant" in spec.get("grid", {}):
        table = summary_table(children, "variant", list(spec["grid"]["variant"]), numeric=False)
        if table.empty:
            return None
        title = f"{name}: {spec['protocol']}, {spec.get('preset', '')} preset"
        return Report(name, title, table)
    if spec.get("report") == "ablation" and spec.get("grid"):
        param = next(iter(spec["grid"]))
        table = summary_table(children, param)
        if table.empty:
            return None
        title = f"{name}: {spec['protocol']}, {spec.get('preset', '')} preset"
        figure = ablation_figure(table, param, title)
        return Report(name, title, table, figure, f"acer_vs_{param}.png")
    return None


def write_report(report: Report, fmt: str, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    ext = {"md": "md", "csv": "csv", "latex": "tex"}[fmt]
    paths = [out / f"{report.experiment}.{ext}"]
    paths[0].write_text(render(report.table, fmt) + "\n")
    if report.figure is not None and report.figure_name:
        paths.append(out / f"{report.experiment}_{report.figure_name}")
        paths[-1].write_bytes(report.figure)
    return paths
