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


def relative_improvement(error_nas: float, error_random: float) -> float:
    """RI for an error metric: 100 (E_random - E_nas) / E_random; positive: NAS beats random
    (the error form of Yang et al.'s relative improvement, "NAS evaluation is frustratingly hard")."""
    if not error_random > 0:
        return float("nan")
    return 100.0 * (error_random - error_nas) / error_random


def ri_table(children: pd.DataFrame, order: list) -> pd.DataFrame:
    """Per space: the NAS trials' mean ACER, the random samples' ACER mean ± std, and RI."""
    need = {"params.variant", "tags.workload", "metrics.test_acer"}
    if children.empty or not need <= set(children.columns):
        return pd.DataFrame()
    ok = children[children["status"] == "FINISHED"]
    rows = []
    for space in order:
        mine = ok[ok["params.variant"] == space]
        nas = mine[mine["tags.workload"] == "nas_search"]["metrics.test_acer"].dropna().tolist()
        rnd = mine[mine["tags.workload"] == "random_sample"]["metrics.test_acer"].dropna().tolist()
        if not nas and not rnd:
            continue
        nas_mean = summarize(nas)[0] if nas else float("nan")
        rnd_mean, rnd_std = summarize(rnd) if rnd else (float("nan"), float("nan"))
        rows.append(
            {
                "space": space,
                "ACER NAS (%)": format_mean_std(*summarize(nas)) if nas else "n/a",
                "ACER random (%)": format_mean_std(rnd_mean, rnd_std) if rnd else "n/a",
                "samples": len(rnd),
                "RI (%)": f"{relative_improvement(nas_mean, rnd_mean):.1f}",
                "failed": int(
                    (children[children["params.variant"] == space]["status"] == "FAILED").sum()
                ),
                "_nas": nas_mean,
                "_rnd": rnd_mean,
                "_rnd_std": rnd_std,
            }
        )
    return pd.DataFrame(rows)


def ri_figure(table: pd.DataFrame, title: str) -> bytes:
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=120)
    x = range(len(table))
    ax.bar([i - 0.2 for i in x], 100 * table["_nas"], width=0.4, label="NAS")
    ax.bar(
        [i + 0.2 for i in x],
        100 * table["_rnd"],
        width=0.4,
        yerr=100 * table["_rnd_std"].fillna(0),
        capsize=3,
        label="random sampling",
    )
    for i, ri in zip(x, table["RI (%)"], strict=True):
        ax.annotate(
            f"RI {ri}%", (i, 0), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=7
        )
    ax.set_xticks(list(x), table["space"])
    ax.set_ylabel("ACER (%)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


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
    return _png(fig)


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
    if spec.get("report") == "ri" and "variant" in spec.get("grid", {}):
        table = ri_table(children, list(spec["grid"]["variant"]))
        if table.empty:
            return None
        title = f"{name}: NAS vs random sampling, {spec.get('preset', '')} preset"
        return Report(name, title, table, ri_figure(table, title), "ri.png")
    if spec.get("report") == "variants" and "variant" in spec.get("grid", {}):
        table = summary_table(children, "variant", list(spec["grid"]["variant"]), numeric=False)
        if table.empty:
            return None
        title = f"{name}: {spec['protocol']}, {spec.get('preset', '')} preset"
        return Report(name, title, table)
    if spec.get("report") == "protocol":
        from orchestrator.protocol_report import policy_note, protocol_table

        table = protocol_table(spec["protocol"], children)
        if table.empty:
            return None
        title = (
            f"{name}: {spec['protocol']}, {spec.get('preset', '')} preset; {policy_note(children)}"
        )
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
