"""The reports' figures (matplotlib, drawn off-screen): intervals as bands and error bars."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

SYMBOLS = {"theta": "θ", "gamma": "γ"}


def _yerr(table: pd.DataFrame, mean: str, lo: str, hi: str, std: str | None = None):
    """Asymmetric error bars (percent) from the intervals; std where a row has none."""
    m = 100 * table[mean]
    fallback = 100 * table[std].fillna(0) if std else 0 * m
    below = (m - 100 * table[lo]).where(table[lo].notna(), fallback)
    above = (100 * table[hi] - m).where(table[hi].notna(), fallback)
    return [below.clip(lower=0).fillna(0), above.clip(lower=0).fillna(0)]


def ri_figure(table: pd.DataFrame, title: str) -> bytes:
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=120)
    x = range(len(table))
    ax.bar(
        [i - 0.2 for i in x],
        100 * table["_nas"],
        width=0.4,
        yerr=_yerr(table, "_nas", "_nas_lo", "_nas_hi"),
        capsize=3,
        label="NAS",
    )
    ax.bar(
        [i + 0.2 for i in x],
        100 * table["_rnd"],
        width=0.4,
        yerr=_yerr(table, "_rnd", "_rnd_lo", "_rnd_hi", "_rnd_std"),
        capsize=3,
        label="random sampling",
    )
    for i, ri in zip(x, table["RI (%)"], strict=True):
        ax.annotate(
            f"RI {ri.removesuffix(' *')}%",
            (i, 0),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=7,
        )
    ax.set_xticks(list(x), table["space"])
    ax.set_ylabel("ACER (%), bars: 95 % CI")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return png(fig)


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def ablation_figure(table: pd.DataFrame, param: str, title: str) -> bytes:
    """Error vs the swept parameter: ACER with its interval as a band, APCER/BPCER as bars."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=120)
    x = table[param].astype(float)
    for metric, style in (("acer", "o-"), ("apcer", "s--"), ("bpcer", "^--")):
        mean = 100 * table[f"_{metric}_mean"]
        yerr = _yerr(table, f"_{metric}_mean", f"_{metric}_lo", f"_{metric}_hi", f"_{metric}_std")
        alpha = 1.0 if metric == "acer" else 0.5
        if metric == "acer":
            ax.fill_between(x, mean - yerr[0], mean + yerr[1], alpha=0.2, label="ACER 95 % CI")
            ax.plot(x, mean, style, label="ACER")
        else:
            ax.errorbar(x, mean, yerr=yerr, fmt=style, capsize=3, label=metric.upper(), alpha=alpha)
    ax.set_xlabel(SYMBOLS.get(param, param))
    ax.set_ylabel("error (%), 95 % CI")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return png(fig)
