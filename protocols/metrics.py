"""Presentation-attack-detection metrics derived from per-video score files.

Scores are the source of truth: every table is recomputed from ``score,label,pai`` rows, so a new
threshold policy never needs a retrain. Conventions (ISO/IEC 30107-3 as in bob.pad):

- ``score`` is a liveness score (higher = more likely bona fide); a sample is *accepted* as bona
  fide iff ``score >= threshold``.
- ``label`` is 1 for bona fide, 0 for attack; ``pai`` names the attack species as the dataset's
  protocol defines it (OULU-NPU: ``print``, ``display``) and is ignored for bona fide rows (an
  attack without a ``pai`` counts as species ``"attack"``). APCER is per species, so the
  instruments of one species (the ``instrument`` column, ignored here) are pooled.
- All outputs are fractions in [0, 1]; tables format them as percent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED_SCORE_COLUMNS = ("score", "label")
THRESHOLD_POLICIES = ("dev_eer", "test_eer")
#: Species given to attack rows whose ``pai`` is missing or empty.
UNKNOWN_SPECIES = "attack"


class ScoreFileError(ValueError):
    """A score file or table that cannot be evaluated; the message names source and problem."""


# ---------------------------------------------------------------------------------------------
# Loading and validation


def _rows(mask: pd.Series, limit: int = 5) -> str:
    """First offending data rows, counted from 1 (the header excluded), for error messages."""
    idx = np.flatnonzero(mask.to_numpy()) + 1
    shown = ", ".join(str(i) for i in idx[:limit])
    return shown + (", ..." if len(idx) > limit else "")


def validate_scores(df: pd.DataFrame, source: str = "scores") -> pd.DataFrame:
    """Check a score table and return a normalized copy (float score, int label, str pai).

    Both classes must be present: every metric here compares bona fide against attacks.
    ``pai`` is optional; bona fide rows get ``"live"``, attacks without one ``"attack"``.
    """
    missing = [c for c in REQUIRED_SCORE_COLUMNS if c not in df.columns]
    if missing:
        raise ScoreFileError(
            f"{source}: missing column(s) {', '.join(missing)}; required columns: score, label "
            f"(pai optional); found: {', '.join(map(str, df.columns)) or '(no columns)'}"
        )
    if len(df) == 0:
        raise ScoreFileError(f"{source}: no rows")

    raw = df["score"]
    score = pd.to_numeric(raw, errors="coerce").astype("float64")
    nan = raw.isna()
    if nan.any():
        raise ScoreFileError(
            f"{source}: score is NaN/empty in {int(nan.sum())} of {len(df)} row(s) "
            f"(data rows {_rows(nan)})"
        )
    text = score.isna()
    if text.any():
        example = raw[text].iloc[0]
        raise ScoreFileError(
            f"{source}: non-numeric score in {int(text.sum())} row(s), e.g. {example!r} "
            f"(data rows {_rows(text)})"
        )

    infinite = ~np.isfinite(score)
    if infinite.any():
        example = score[infinite].iloc[0]
        raise ScoreFileError(
            f"{source}: non-finite score ({example}) in {int(infinite.sum())} row(s) "
            f"(data rows {_rows(infinite)}); scores must be finite numbers"
        )

    raw_label = df["label"]
    label = pd.to_numeric(raw_label, errors="coerce")
    bad = ~label.isin([0, 1])
    if bad.any():
        values = sorted({repr(v) for v in raw_label[bad].tolist()})[:5]
        raise ScoreFileError(
            f"{source}: label must be 0 (attack) or 1 (bona fide); found {', '.join(values)} "
            f"in {int(bad.sum())} row(s) (data rows {_rows(bad)})"
        )
    label = label.astype("int64")

    n_live, n_attack = int((label == 1).sum()), int((label == 0).sum())
    if n_live == 0 or n_attack == 0:
        absent = "bona fide rows (label 1)" if n_live == 0 else "attack rows (label 0)"
        present = "attack" if n_live == 0 else "bona fide"
        raise ScoreFileError(
            f"{source}: no {absent}; all {len(df)} row(s) are {present}, "
            "and every metric needs both classes"
        )

    out = df.copy()
    out["score"] = score
    out["label"] = label
    if "pai" in df.columns:
        pai = df["pai"].astype(object)
        pai = pai.where(pai.notna(), "").map(lambda v: str(v).strip())
    else:
        pai = pd.Series([""] * len(df), index=df.index, dtype=object)
    pai = pai.where(pai != "", UNKNOWN_SPECIES).where(label == 0, "live")
    out["pai"] = pai.astype(str)
    return out


def select_split(df: pd.DataFrame, split: str | None, source: str = "scores") -> pd.DataFrame:
    """The rows of one ``split`` (a trial's ``scores.parquet`` holds dev and test rows, told apart
    by its ``split`` column). ``split`` None keeps a file of one split (or without the column)
    whole and refuses one that mixes splits: their metrics mean nothing together."""
    splits = sorted(df["split"].dropna().astype(str).unique()) if "split" in df.columns else []
    if split is None:
        if len(splits) > 1:
            raise ScoreFileError(
                f"{source}: rows of several splits ({', '.join(splits)}); select one "
                "(orchestrate score: --split test, and --dev-split dev for a dev threshold)"
            )
        return df
    if "split" not in df.columns:
        raise ScoreFileError(f"{source}: no split column to select split {split!r} from")
    if split not in splits:
        raise ScoreFileError(
            f"{source}: no rows of split {split!r}; splits: {', '.join(splits) or '(none)'}"
        )
    return df[df["split"].astype(str) == split].reset_index(drop=True)


def load_scores(path: str | Path, split: str | None = None) -> pd.DataFrame:
    """Read a ``.csv`` or ``.parquet`` score file, keep the rows of ``split`` (see
    :func:`select_split`) and validate them (see :func:`validate_scores`)."""
    path = Path(path)
    if not path.is_file():
        raise ScoreFileError(f"{path}: score file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            df = pd.read_csv(path)
        elif suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            raise ScoreFileError(f"{path}: unknown score file type {suffix!r}; use csv or parquet")
    except ScoreFileError:
        raise
    except pd.errors.EmptyDataError:
        raise ScoreFileError(f"{path}: empty file (expected a header score,label,pai)") from None
    except Exception as exc:  # parser errors differ per engine; name the file whatever they are
        raise ScoreFileError(f"{path}: cannot read {suffix[1:]} file: {exc}") from exc
    df = select_split(df, split, str(path))
    if "video_id" in df.columns:
        repeated = df["video_id"].duplicated(keep=False) & df["video_id"].notna()
        if repeated.any():
            first = df.loc[repeated, "video_id"].iloc[0]
            raise ScoreFileError(
                f"{path}: duplicated video_id, e.g. {first!r} ({int(repeated.sum())} rows share "
                f"an id: data rows {_rows(repeated)}); give one score per video"
            )
    return validate_scores(df, str(path))


# ---------------------------------------------------------------------------------------------
# Threshold-free quantities


def _far_frr(live: np.ndarray, attack: np.ndarray, thresholds: np.ndarray):
    """FAR (attacks accepted) and FRR (bona fide rejected) at each threshold, with ``>=``."""
    live, attack = np.sort(live), np.sort(attack)
    far = (len(attack) - np.searchsorted(attack, thresholds, side="left")) / len(attack)
    frr = np.searchsorted(live, thresholds, side="left") / len(live)
    return far, frr


def _split(scores: Iterable[float], labels: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(list(scores), dtype=float)
    y = np.asarray(list(labels))
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in length: {s.shape} vs {y.shape}")
    live, attack = s[y == 1], s[y == 0]
    if len(live) == 0 or len(attack) == 0:
        raise ValueError("need both bona fide (label 1) and attack (label 0) scores")
    return live, attack


def eer_point(scores: Iterable[float], labels: Iterable[int]) -> tuple[float, float]:
    """(threshold, EER) where FAR and FRR are closest.

    Candidate thresholds are the unique scores (acceptance is ``score >= t``); the chosen one
    minimises ``|FAR - FRR|``, ties broken by the smaller ``FAR + FRR`` and then the lower
    threshold. The EER reported is ``(FAR + FRR) / 2`` at that threshold, which equals both rates
    when they cross exactly and is their midpoint on a finite set where they do not.
    """
    live, attack = _split(scores, labels)
    cand = np.unique(np.concatenate([live, attack]))
    far, frr = _far_frr(live, attack, cand)
    # lexsort: last key is primary -> |FAR-FRR|, then FAR+FRR, then the threshold itself.
    best = np.lexsort((cand, far + frr, np.abs(far - frr)))[0]
    return float(cand[best]), float((far[best] + frr[best]) / 2)


def eer_threshold(scores: Iterable[float], labels: Iterable[int]) -> float:
    """The EER threshold of a score set (see :func:`eer_point`)."""
    return eer_point(scores, labels)[0]


def roc_auc(scores: Iterable[float], labels: Iterable[int]) -> float:
    """ROC AUC with bona fide positive, in Mann-Whitney form: P(live > attack) + P(tie) / 2."""
    live, attack = _split(scores, labels)
    attack = np.sort(attack)
    below = np.searchsorted(attack, live, side="left")
    ties = np.searchsorted(attack, live, side="right") - below
    return float((below.sum() + 0.5 * ties.sum()) / (len(live) * len(attack)))


# ---------------------------------------------------------------------------------------------
# Thresholded metrics


def _resolve_threshold(
    threshold: str | float, test: pd.DataFrame, dev: pd.DataFrame | None
) -> tuple[float, str]:
    if isinstance(threshold, str) and threshold.strip() in THRESHOLD_POLICIES:
        policy = threshold.strip()
        if policy == "dev_eer":
            if dev is None:
                raise ValueError(
                    "threshold 'dev_eer' needs dev scores; pass dev, or use 'test_eer' "
                    "(optimistic) or a fixed number"
                )
            d = validate_scores(dev, "dev scores")
            return eer_threshold(d["score"], d["label"]), policy
        return eer_threshold(test["score"], test["label"]), policy
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(
            f"threshold must be 'dev_eer', 'test_eer' or a number; got {threshold!r}"
        ) from None
    if not math.isfinite(value):
        raise ValueError(f"threshold must be a finite number; got {value}")
    return value, "fixed"


def compute_metrics(
    test: pd.DataFrame, dev: pd.DataFrame | None = None, threshold: str | float = "dev_eer"
) -> dict:
    """All metrics of a test score table at one threshold policy (fractions in [0, 1]).

    ``threshold``: ``"dev_eer"`` (EER threshold of ``dev`` applied to ``test``; needs ``dev``),
    ``"test_eer"`` (the test set's own EER threshold: optimistic, flagged by ``optimistic``) or a
    number (``threshold_policy`` is then ``"fixed"``). EER and AUC never depend on the threshold.
    """
    t = validate_scores(test, "test scores")
    thr, policy = _resolve_threshold(threshold, t, dev)
    accepted = t["score"].to_numpy() >= thr
    is_live = t["label"].to_numpy() == 1

    attacks = t.loc[~is_live, "pai"]
    per_pai = {
        str(species): float(accepted[~is_live][(attacks == species).to_numpy()].mean())
        for species in sorted(attacks.unique())
    }
    apcer = max(per_pai.values())
    apcer_pooled = float(accepted[~is_live].mean())
    bpcer = float((~accepted[is_live]).mean())
    eer = eer_point(t["score"], t["label"])[1]
    return {
        "threshold": float(thr),
        "threshold_policy": policy,
        "optimistic": policy == "test_eer",
        "apcer": apcer,
        "apcer_pooled": apcer_pooled,
        "bpcer": bpcer,
        "acer": (apcer + bpcer) / 2,
        "far": apcer_pooled,
        "frr": bpcer,
        "hter": (apcer_pooled + bpcer) / 2,
        "eer": eer,
        "auc": roc_auc(t["score"], t["label"]),
        "apcer_per_pai": per_pai,
        "n_live": int(is_live.sum()),
        "n_attack": int((~is_live).sum()),
    }


# ---------------------------------------------------------------------------------------------
# Aggregation over sub-protocols


def summarize(values: Iterable[float]) -> tuple[float, float]:
    """(mean, sample std with ddof=1) as papers report sub-protocols; std is 0 for one value."""
    arr = np.asarray(list(values), dtype=float)
    if arr.size == 0:
        raise ValueError("summarize: no values")
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), std


def format_mean_std(mean: float, std: float, percent: bool = True, digits: int = 2) -> str:
    """``"1.23 ± 0.45"``; fractions are shown as percent unless ``percent=False``."""
    scale = 100.0 if percent else 1.0
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"
