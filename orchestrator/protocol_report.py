"""Protocol tables shaped like the papers', from MLflow child runs alone.

A cell is mean ± std (%) over the finished trials it covers (folds of a sub-protocol, seeds),
with a bootstrap interval over seeds and test subjects where the runs' scores are at hand (the
statistic of several folds is their mean). A failed trial is never dropped silently: a cell whose
trials all failed reads ``failed``, and a cell that averages over fewer trials than it should says
how many failed. With several networks, each is compared with the first (paired by seed and test
subject).
"""

from __future__ import annotations

import pandas as pd

from orchestrator.report_stats import COST_COLUMNS, RunStats
from protocols.metrics import summarize
from protocols.protocols import PER_TYPE, PROTOCOLS, SUB_PROTOCOLS
from workloads.base import GENOTYPE_NETWORK

FINISHED, FAILED = "FINISHED", "FAILED"


def network_of(children: pd.DataFrame) -> pd.Series:
    """A row label per run: the network name, or the genotype's source for searched nets."""
    net = children.get("params.network", pd.Series("?", index=children.index)).astype(str)
    src = children.get("params.genotype_source")
    if src is not None:
        net = net.where(net != GENOTYPE_NETWORK, "genotype " + src.astype(str))
    return net


def cell(group: pd.DataFrame, metric: str, stats: RunStats | None = None, row: str = "") -> str:
    ok = group[group["status"] == FINISHED]
    values = ok.get(f"metrics.test_{metric}", pd.Series(dtype=float)).dropna().tolist()
    n_failed = int((group["status"] == FAILED).sum())
    if not values:
        return "failed" if n_failed else "n/a"
    text, _ = (stats or RunStats(None)).cell(ok, metric, row, *summarize(values), len(values))
    return text + (f" ({n_failed} failed)" if n_failed else "")


def policy_note(children: pd.DataFrame) -> str:
    policies = set(
        children.get("params.threshold_policy", pd.Series(dtype=str)).dropna().astype(str)
    )
    policies -= {"None", "fold", ""}
    if "test_eer" in policies:
        return "threshold at the test set's own EER (optimistic)"
    return "threshold at the dev EER (dev from the training sources)"


def _prepared(children: pd.DataFrame) -> pd.DataFrame:
    df = children.copy()
    df["_net"] = network_of(df)
    df["_fold"] = df.get("tags.fold", pd.Series("", index=df.index)).astype(str)
    return df


def _reference(table: pd.DataFrame, networks: list[str] | None) -> str | None:
    """The first network of the spec's grid (else the first row): what the others are against."""
    methods = list(dict.fromkeys(table["Method"])) if "Method" in table else []
    if len(methods) < 2:
        return None
    return next((n for n in networks or [] if n in methods), methods[0])


def sub_protocol_table(
    children: pd.DataFrame, stats: RunStats | None = None, networks: list[str] | None = None
) -> pd.DataFrame:
    """OULU-NPU / SiW: one row per (sub-protocol, network); P3/P4 average their folds."""
    stats = stats or RunStats(None)
    df = _prepared(children)
    df["_prot"] = df["_fold"].str.split("_").str[0].str.upper()
    rows, groups = [], {}
    for (prot, net), g in df.groupby(["_prot", "_net"], sort=True):
        row = {"Prot.": prot, "Method": net}
        label = f"{prot} {net}"
        row.update(
            {f"{m.upper()} (%)": cell(g, m, stats, label) for m in ("apcer", "bpcer", "acer")}
        )
        row["folds"] = g["_fold"].nunique()
        if stats.enabled:
            row["test units"] = stats.units(g)
        rows.append(row)
        groups[(prot, net)] = g
    table = pd.DataFrame(rows)
    ref = _reference(table, networks) if stats.enabled else None
    if ref is not None:
        table[f"ΔACER vs {ref}"] = [
            "ref."
            if net == ref
            else stats.delta(g, groups.get((prot, ref), g.iloc[:0]), "acer", f"{prot} {net}", ref)
            for (prot, net), g in groups.items()
        ]
        table.attrs["reference"] = ref
    return table


def per_fold_table(
    children: pd.DataFrame,
    metrics: tuple[str, ...],
    fold_order: list[str] | None = None,
    stats: RunStats | None = None,
    networks: list[str] | None = None,
) -> pd.DataFrame:
    """One row per network, one column per (fold, metric); ``Avg.`` over folds for each metric
    (with several networks: the first metric's average against the reference network)."""
    stats = stats or RunStats(None)
    df = _prepared(children)
    folds = fold_order or sorted(df["_fold"].unique())
    rows, groups = [], {}
    for net, g in df.groupby("_net", sort=True):
        row: dict[str, str] = {"Method": net}
        for fold in folds:
            for m in metrics:
                row[f"{fold} {m.upper()} (%)"] = cell(
                    g[g["_fold"] == fold], m, stats, f"{net} {fold}"
                )
        for m in metrics:
            row[f"Avg. {m.upper()} (%)"] = _fold_mean(g, m, stats, f"{net} Avg.")
        if stats.enabled:
            row["test units"] = stats.units(g)
        rows.append(row)
        groups[net] = g
    table = pd.DataFrame(rows)
    _add_deltas(table, groups, [metrics[0]], stats, networks, f"ΔAvg. {metrics[0].upper()}")
    return table


def _add_deltas(table, groups, metrics, stats, networks, name: str) -> None:
    """One Δ column (per row's metric where ``metrics`` has one per row) vs the reference net."""
    ref = _reference(table, networks) if stats.enabled else None
    if ref is None:
        return
    metric_of = metrics if len(metrics) == len(table) else metrics * len(table)
    table[f"{name} vs {ref}"] = [
        "ref." if net == ref else stats.delta(groups[net], groups[ref], m, f"{net} Avg.", ref)
        for net, m in zip(table["Method"], metric_of, strict=True)
    ]
    table.attrs["reference"] = ref


def _fold_mean(g: pd.DataFrame, metric: str, stats: RunStats | None = None, row: str = "") -> str:
    """Mean ± std over folds of the per-fold means (seeds first averaged within a fold); the
    interval is the bootstrap's mean over folds."""
    ok = g[g["status"] == FINISHED]
    col = f"metrics.test_{metric}"
    means = ok.groupby("_fold")[col].mean().dropna() if col in ok else pd.Series(dtype=float)
    failed = sorted(set(g["_fold"]) - set(means.index))
    if means.empty:
        return "failed" if failed else "n/a"
    done = ok[ok["_fold"].isin(means.index)]
    text, _ = (stats or RunStats(None)).cell(
        done, metric, row, *summarize(means.tolist()), len(means)
    )
    return text + (f" ({len(failed)} fold(s) failed)" if failed else "")


def siwm_table(
    children: pd.DataFrame,
    types: list[str],
    stats: RunStats | None = None,
    networks: list[str] | None = None,
) -> pd.DataFrame:
    """SiW-M: rows (network, metric) APCER/BPCER/ACER/EER, one column per left-out type + mean."""
    stats = stats or RunStats(None)
    df = _prepared(children)
    rows, groups, metrics = [], {}, []
    for net, g in df.groupby("_net", sort=True):
        groups[net] = g
        for m in ("apcer", "bpcer", "acer", "eer"):
            row = {"Method": net, "Metric": f"{m.upper()} (%)"}
            row.update({t: cell(g[g["_fold"] == t], m, stats, f"{net} {t}") for t in types})
            row["Mean ± std"] = _fold_mean(g, m, stats, f"{net} mean")
            if stats.enabled:
                row["test units"] = stats.units(g)
            rows.append(row)
            metrics.append(m)
    table = pd.DataFrame(rows)
    _add_deltas(table, groups, metrics, stats, networks, "Δmean")
    return table


def cost_columns(table: pd.DataFrame, children: pd.DataFrame) -> pd.DataFrame:
    """Params (M) and FLOPs (G) per network row, from the runs that recorded them."""
    df = _prepared(children)
    ok = df[df["status"] == FINISHED]
    for metric, label, scale in COST_COLUMNS:
        col = f"metrics.{metric}"
        if col in ok:
            means = ok.groupby("_net")[col].mean()
            table[label] = [f"{means.get(n, float('nan')) * scale:.3f}" for n in table["Method"]]
    return table


def protocol_table(
    protocol: str,
    children: pd.DataFrame,
    stats: RunStats | None = None,
    networks: list[str] | None = None,
) -> pd.DataFrame:
    """The paper-shaped table of one protocol experiment's runs, in the shape the protocol names
    (``networks``: the grid order, whose first entry the others are compared with)."""
    if children.empty:
        return pd.DataFrame()
    kind = PROTOCOLS.get(protocol).table
    columns = list(kind.columns) if kind.columns is not None else None
    if kind.shape == SUB_PROTOCOLS:
        table = sub_protocol_table(children, stats, networks)
    elif kind.shape == PER_TYPE:
        table = siwm_table(children, columns, stats, networks)
    else:
        table = per_fold_table(children, kind.metrics, columns, stats, networks)
    return cost_columns(table, children) if kind.cost else table
