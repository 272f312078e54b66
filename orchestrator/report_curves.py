"""Per-run figures of the HTML report: per-epoch curves and ROC/DET curves of the test scores.

The error rates follow ``protocols.metrics``' conventions (accept iff ``score >= threshold``,
bona fide positive); each curve marks the operating point at the threshold the trial applied
(``report_stats.run_threshold``: its dev-EER threshold), where its table metrics were measured.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from orchestrator.report_figures import plt, png

#: DET axes: the rates (fractions) that get a tick, and the range drawn.
DET_TICKS = (0.001, 0.01, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.95, 0.99)
DET_CLIP = 0.0005
#: More runs than this: one figure keeps its curves, the legend goes.
MAX_LEGEND = 12
#: Per-epoch durations (``search_time_arch_s``): how long, not how well; no panel.
TIME_SUFFIX = "_s"


def test_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """The test split of a run's scores (all rows when there is no ``split`` column)."""
    if "split" in scores.columns and (scores["split"] == "test").any():
        return scores[scores["split"] == "test"]
    return scores


def error_curve(scores: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(FAR, FRR) at every distinct score as threshold, from the strictest (nothing accepted)
    down: FAR = attacks accepted, FRR = bona fide rejected."""
    test = test_rows(scores)
    s = test["score"].to_numpy(dtype=float)
    live = test["label"].to_numpy() == 1
    order = np.argsort(-s, kind="stable")
    s, live = s[order], live[order]
    group_end = np.r_[s[1:] != s[:-1], True]  # ties are accepted together
    accepted_live = np.cumsum(live)[group_end]
    accepted_attack = np.cumsum(~live)[group_end]
    n_live, n_attack = int(live.sum()), int((~live).sum())
    if not n_live or not n_attack:
        raise ValueError("need both bona fide and attack test scores for a ROC curve")
    far = np.r_[0.0, accepted_attack / n_attack]
    frr = np.r_[1.0, 1.0 - accepted_live / n_live]
    return far, frr


def operating_point(scores: pd.DataFrame, threshold: float) -> tuple[float, float]:
    """(FAR, FRR) of the test scores at ``threshold``."""
    test = test_rows(scores)
    s, live = test["score"].to_numpy(dtype=float), test["label"].to_numpy() == 1
    return float((s[~live] >= threshold).mean()), float((s[live] < threshold).mean())


def _probit(rate: np.ndarray | float) -> np.ndarray:
    z = NormalDist().inv_cdf
    clipped = np.clip(np.asarray(rate, dtype=float), DET_CLIP, 1 - DET_CLIP)
    return np.vectorize(z)(clipped)


def roc_det_figure(curves: dict[str, tuple[pd.DataFrame, float]], title: str) -> bytes:
    """ROC (bona fide accepted vs attacks accepted) and DET (normal-deviate axes) of each run's
    test scores; ``curves``: label -> (scores, threshold applied)."""
    fig, (roc, det) = plt.subplots(1, 2, figsize=(10, 4.6), dpi=100)
    colours = plt.get_cmap("tab10" if len(curves) <= 10 else "viridis")
    for i, (label, (scores, threshold)) in enumerate(curves.items()):
        colour = colours(i if len(curves) <= 10 else i / max(1, len(curves) - 1))
        far, frr = error_curve(scores)
        op_far, op_frr = operating_point(scores, threshold)
        roc.step(100 * far, 100 * (1 - frr), where="post", color=colour, label=label)
        roc.plot(100 * op_far, 100 * (1 - op_frr), "o", color=colour, ms=7)
        det.plot(_probit(far), _probit(frr), drawstyle="steps-post", color=colour)
        det.plot(_probit(op_far), _probit(op_frr), "o", color=colour, ms=7)
    roc.plot([0, 100], [0, 100], ":", color="0.6")
    roc.set(xlabel="attacks accepted: FAR (%)", ylabel="bona fide accepted: 1 - FRR (%)")
    roc.set_title("ROC (dot: the trial's threshold)", fontsize=12)
    ticks = _probit(np.array(DET_TICKS))
    labels = [f"{100 * t:g}" for t in DET_TICKS]
    det.set_xticks(ticks, labels)
    det.set_yticks(ticks, labels)
    lim = (_probit(DET_CLIP), _probit(1 - DET_CLIP))
    det.set(xlim=lim, ylim=lim, xlabel="FAR (%)", ylabel="FRR = BPCER (%)")
    det.set_title("DET (normal-deviate axes)", fontsize=12)
    for ax in (roc, det):
        ax.grid(alpha=0.3)
        ax.xaxis.label.set_size(11)
        ax.yaxis.label.set_size(11)
    if len(curves) <= MAX_LEGEND:
        roc.legend(fontsize=9, loc="lower right")
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return png(fig)


def epoch_figure(histories: dict[str, pd.DataFrame], title: str) -> bytes | None:
    """One panel per per-epoch metric, one line per run; ``histories``: label -> the run's
    ``metric, step, value`` rows. Flat metrics (a fixed learning rate, a step count) and
    durations get no panel; None when nothing is left."""
    frames = [h.assign(run=label) for label, h in histories.items() if len(h)]
    if not frames:
        return None
    long = pd.concat(frames, ignore_index=True)
    varies = long.groupby("metric")["value"].nunique() > 1
    metrics = [m for m in sorted(varies[varies].index) if not m.endswith(TIME_SUFFIX)]
    if not metrics:
        return None
    cols = min(3, len(metrics))
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), dpi=100, squeeze=False)
    labels = list(histories)
    colours = plt.get_cmap("tab10" if len(labels) <= 10 else "viridis")
    for ax, metric in zip(axes.flat, metrics, strict=False):
        mine = long[long["metric"] == metric]
        for i, label in enumerate(labels):
            line = mine[mine["run"] == label]
            if len(line):
                colour = colours(i if len(labels) <= 10 else i / max(1, len(labels) - 1))
                ax.plot(line["step"], line["value"], "o-", ms=4, color=colour, label=label)
        ax.set_title(metric, fontsize=11)
        ax.set_xlabel("epoch", fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    if len(labels) <= MAX_LEGEND:
        found = {}
        for ax in axes.flat:
            found.update(zip(*reversed(ax.get_legend_handles_labels()), strict=True))
        names, handles = list(found), list(found.values())
        fig.legend(handles, names, loc="lower center", ncol=min(4, len(names)), fontsize=9)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0.08 if len(labels) <= MAX_LEGEND else 0, 1, 1))
    return png(fig)
