"""Protocol tables shaped like the papers', from MLflow child runs alone.

A cell is mean ± std (%) over the finished trials it covers (folds of a sub-protocol, seeds). A
failed trial is never dropped silently: a cell whose trials all failed reads ``failed``, and a
cell that averages over fewer trials than it should says how many failed.
"""

from __future__ import annotations

import pandas as pd

from protocols.metrics import format_mean_std, summarize

FINISHED, FAILED = "FINISHED", "FAILED"


def network_of(children: pd.DataFrame) -> pd.Series:
    """A row label per run: the network name, or the genotype's source for searched nets."""
    net = children.get("params.network", pd.Series("?", index=children.index)).astype(str)
    src = children.get("params.genotype_source")
    if src is not None:
        net = net.where(net != "genotype", "genotype " + src.astype(str))
    return net


def cell(group: pd.DataFrame, metric: str) -> str:
    ok = group[group["status"] == FINISHED]
    values = ok.get(f"metrics.test_{metric}", pd.Series(dtype=float)).dropna().tolist()
    n_failed = int((group["status"] == FAILED).sum())
    if not values:
        return "failed" if n_failed else "n/a"
    text = format_mean_std(*summarize(values))
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


def sub_protocol_table(children: pd.DataFrame) -> pd.DataFrame:
    """OULU-NPU / SiW: one row per (sub-protocol, network); P3/P4 average their folds."""
    df = _prepared(children)
    df["_prot"] = df["_fold"].str.split("_").str[0].str.upper()
    rows = []
    for (prot, net), g in df.groupby(["_prot", "_net"], sort=True):
        row = {"Prot.": prot, "Method": net}
        row.update({f"{m.upper()} (%)": cell(g, m) for m in ("apcer", "bpcer", "acer")})
        row["folds"] = g["_fold"].nunique()
        rows.append(row)
    return pd.DataFrame(rows)


def per_fold_table(
    children: pd.DataFrame, metrics: tuple[str, ...], fold_order: list[str] | None = None
) -> pd.DataFrame:
    """One row per network, one column per (fold, metric); ``Avg.`` over folds for each metric."""
    df = _prepared(children)
    folds = fold_order or sorted(df["_fold"].unique())
    rows = []
    for net, g in df.groupby("_net", sort=True):
        row: dict[str, str] = {"Method": net}
        for fold in folds:
            for m in metrics:
                row[f"{fold} {m.upper()} (%)"] = cell(g[g["_fold"] == fold], m)
        for m in metrics:
            row[f"Avg. {m.upper()} (%)"] = _fold_mean(g, m)
        rows.append(row)
    return pd.DataFrame(rows)


def _fold_mean(g: pd.DataFrame, metric: str) -> str:
    """Mean ± std over folds of the per-fold means (seeds first averaged within a fold)."""
    ok = g[g["status"] == FINISHED]
    col = f"metrics.test_{metric}"
    means = ok.groupby("_fold")[col].mean().dropna() if col in ok else pd.Series(dtype=float)
    failed = sorted(set(g["_fold"]) - set(means.index))
    if means.empty:
        return "failed" if failed else "n/a"
    text = format_mean_std(*summarize(means.tolist()))
    return text + (f" ({len(failed)} fold(s) failed)" if failed else "")


def siwm_table(children: pd.DataFrame, types: list[str]) -> pd.DataFrame:
    """SiW-M: rows (network, metric) APCER/BPCER/ACER/EER, one column per left-out type + mean."""
    df = _prepared(children)
    rows = []
    for net, g in df.groupby("_net", sort=True):
        for m in ("apcer", "bpcer", "acer", "eer"):
            row = {"Method": net, "Metric": f"{m.upper()} (%)"}
            row.update({t: cell(g[g["_fold"] == t], m) for t in types})
            row["Mean ± std"] = _fold_mean(g, m)
            rows.append(row)
    return pd.DataFrame(rows)


def cost_columns(table: pd.DataFrame, children: pd.DataFrame) -> pd.DataFrame:
    """Params (M) and FLOPs (G) per network row, from the runs that recorded them."""
    df = _prepared(children)
    ok = df[df["status"] == FINISHED]
    for metric, label, scale in (("n_params", "Params (M)", 1e-6), ("flops", "FLOPs (G)", 1e-9)):
        col = f"metrics.{metric}"
        if col in ok:
            means = ok.groupby("_net")[col].mean()
            table[label] = [f"{means.get(n, float('nan')) * scale:.3f}" for n in table["Method"]]
    return table


def protocol_table(protocol: str, children: pd.DataFrame) -> pd.DataFrame:
    """The paper-shaped table of one protocol experiment's runs."""
    from protocols.cross import CDCT_TARGETS, SIWM_TYPES

    if children.empty:
        return pd.DataFrame()
    if protocol.startswith(("oulu_npu", "siw_p")) or protocol == "siw":
        return sub_protocol_table(children)
    if protocol == "ocim_lodo":
        order = ["CIM_to_O", "OIM_to_C", "OCM_to_I", "OCI_to_M"]
        return per_fold_table(children, ("hter", "auc"), order)
    if protocol == "cim_loto":
        return per_fold_table(children, ("auc",))
    if protocol == "siwm_loto":
        return siwm_table(children, list(SIWM_TYPES))
    if protocol == "cdct":
        table = per_fold_table(children, ("auc", "acer", "hter"), [f"to_{t}" for t in CDCT_TARGETS])
        return cost_columns(table, children)
    return per_fold_table(children, ("apcer", "bpcer", "acer", "hter", "auc"))
