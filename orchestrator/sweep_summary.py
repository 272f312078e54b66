"""A sweep's summary metrics for its parent run: per grid point the mean of each main test
metric over seeds and folds, and the best grid point.

Names (MLflow allows letters, digits, ``_ - . / :`` and spaces): ``mean/test_acer/theta_0.4``
per grid point, ``best/test_acer`` for the best mean, and the tag ``best`` naming its setting
(``theta=0.4``). The best point has the lowest error (ACER, else HTER), or the highest AUC when
the sweep logged no error rate.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

#: Summarised per grid point, in this order of preference for picking the best one.
ERRORS = ("test_acer", "test_hter")
SCORES = ("test_auc",)
BEST_TAG = "best"


def _name(text: str) -> str:
    return re.sub(r"[^\w.\-/: ]", "_", text)


def _point(keys: Sequence[str], values: Sequence[object]) -> tuple[str, str]:
    """A grid point as a metric-name part (``theta_0.4``) and as text (``theta=0.4``)."""
    parts = [
        (k, f"{v:g}" if isinstance(v, float) else str(v)) for k, v in zip(keys, values, strict=True)
    ]
    return "_".join(_name(f"{k}_{v}") for k, v in parts), ", ".join(f"{k}={v}" for k, v in parts)


def summary_metrics(
    children: pd.DataFrame, swept: Sequence[str]
) -> tuple[dict[str, float], dict[str, str]]:
    """(metrics, tags) of a sweep's parent from its finished child runs (``Tracker.runs``
    columns: ``params.*``, ``metrics.*``, ``status``); ({}, {}) when there is nothing to sum."""
    if children.empty or "status" not in children:
        return {}, {}
    done = children[children["status"] == "FINISHED"]
    keys = [k for k in swept if f"params.{k}" in done]
    names = [m for m in (*ERRORS, *SCORES) if f"metrics.{m}" in done]
    if done.empty or not names:
        return {}, {}
    table = done[[f"params.{k}" for k in keys] + [f"metrics.{m}" for m in names]].copy()
    table.columns = [*keys, *names]
    for k in keys:  # params are text in MLflow: numbers sort and print as numbers
        as_number = pd.to_numeric(table[k], errors="coerce")
        if as_number.notna().all():
            table[k] = as_number
    means = table.groupby(keys)[names].mean() if keys else table[names].mean().to_frame().T
    metrics: dict[str, float] = {}
    labels: dict[str, str] = {}
    for index, row in means.iterrows():
        values = index if isinstance(index, tuple) else (index,)
        part, text = _point(keys, values) if keys else ("all", "all trials")
        labels[part] = text
        for m in names:
            if pd.notna(row[m]):
                metrics[f"mean/{m}/{part}"] = float(row[m])
    main = names[0]
    column = means[main].dropna()
    if column.empty:
        return metrics, {}
    best = column.idxmax() if main in SCORES else column.idxmin()
    values = best if isinstance(best, tuple) else (best,)
    part, text = _point(keys, values) if keys else ("all", "all trials")
    metrics[f"best/{main}"] = float(column[best])
    return metrics, {BEST_TAG: f"{text} ({main} {float(column[best]):.4f})"}
