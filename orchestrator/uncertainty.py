"""Confidence intervals for PAD metrics: a two-way bootstrap over trials (seeds) and test subjects.

Why: mean ± std over three seeds ignores the test set's own sampling error, and two rows whose
std bands overlap may still differ reliably on the same test subjects (or not at all). The
bootstrap resamples both sources of variation:

- the trials of a fold (its *units*: seeds, or the samples of a random-sampling baseline), with
  replacement, independently per fold;
- the test subjects, with replacement (multinomial weights), all videos of a subject together.
  Without a ``subject`` column the videos are resampled instead, which is too narrow whenever a
  subject's videos are correlated; callers say so (``Trial.kind``).

Seeds and subjects are crossed, not nested: every seed is evaluated on the same test subjects,
so one subject draw is shared by every trial whose test set has the same subjects (all seeds and
all rows of a fold, and folds testing the same people, like OULU-NPU P3's six phones). Drawing a
fresh one per seed would average the subject noise away; sharing it is also what pairs a row
with its reference row. Draws are keyed by what they resample, so results do not depend on the
order of calls, and rows with the same seeds share the seed draw (paired by seed).

Each trial keeps the threshold it picked on dev: APCER/BPCER/ACER/HTER are recomputed at that
fixed threshold on every resample; AUC and EER are threshold-free. A statistic over several folds
(OULU-NPU P3/P4, LODO, LOTO) is the mean over folds of the mean over the fold's units; folds are
fixed conditions, not resampled.

Limitations: with 2-3 seeds the seed level is coarse (n**n distinct resamples, variance shrunk by
(n-1)/n), so intervals understate seed-to-seed spread; one seed gives subject-only intervals.
Below ``MIN_GROUPS`` test subjects per fold an interval is flagged unreliable (the synthetic
smoke and quick data have 2 and 4) and nothing is marked on it. Percentile intervals run a
little short with few subjects (simulated clustered data: about 91-94 % coverage at 30-40
subjects, 95 % at 60; see tests/orchestrator/test_uncertainty.py), and are crude for rates near
0 or 1. Under the ``test_eer`` policy the threshold was fitted on the test set itself, which a
fixed-threshold resample does not redo. EER replicates use at most ``EER_GRID`` candidate
thresholds (quantiles of the trial's scores).

Pure numpy/pandas (no Ray, no MLflow). It lives in ``orchestrator/`` rather than beside
``protocols/metrics.py`` because run keys hash every module of ``protocols/``
(``jobs.code_version``): changing how reports summarise must not invalidate finished trials.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from protocols.metrics import validate_scores

THRESHOLD_METRICS = ("apcer", "apcer_pooled", "bpcer", "acer", "hter")
METRICS = (*THRESHOLD_METRICS, "auc", "eer")
EER_GRID = 512
#: Fewer test subjects (videos in the fallback) per fold than this: intervals are not reliable.
MIN_GROUPS = 10
_CHUNK = 256  # resamples per block in the quadratic (AUC) and threshold-grid (EER) statistics


@dataclass(frozen=True, eq=False)
class Trial:
    """One finished trial's test scores and the fixed threshold it picked on dev."""

    fold: str
    unit: str
    scores: pd.DataFrame
    threshold: float
    kind: str = field(init=False)  # "subjects" or "videos": what the bootstrap resamples
    groups: tuple[str, ...] = field(init=False)  # sorted resampling units of the test set
    _index: np.ndarray = field(init=False, repr=False)  # row -> position in ``groups``

    def __post_init__(self) -> None:
        df = self.scores
        if "split" in df.columns and (df["split"] == "test").any():
            df = df[df["split"] == "test"]
        df = validate_scores(df.reset_index(drop=True), f"test scores of {self.unit}")
        if "subject" in df.columns and df["subject"].notna().all():
            kind, key = "subjects", df["subject"].astype(str)
        elif "video_id" in df.columns:
            kind, key = "videos", df["video_id"].astype(str)
        else:
            kind, key = "videos", pd.Series(np.arange(len(df)).astype(str))
        groups, index = np.unique(key.to_numpy(), return_inverse=True)
        object.__setattr__(self, "scores", df)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "groups", tuple(groups.tolist()))
        object.__setattr__(self, "_index", index)


ZERO_TOL = 1e-9  # rates and their differences are fractions; rounding noise is ~1e-16


@dataclass(frozen=True)
class Interval:
    """A point estimate and its percentile interval (same unit as the statistic).

    ``reliable`` is False when a fold had fewer than ``MIN_GROUPS`` test subjects: a bootstrap
    of so few units is too coarse and too narrow to mark anything.
    """

    point: float
    low: float
    high: float
    reliable: bool = True

    @property
    def excludes_zero(self) -> bool:
        # A bound that is zero up to float rounding (e.g. 7e-18 from a difference of means that is
        # 0 in exact arithmetic) touches zero: it must not mark a difference.
        return bool(self.low > ZERO_TOL or self.high < -ZERO_TOL)

    @property
    def significant(self) -> bool:
        """The interval excludes zero and rests on enough test subjects to say so."""
        return self.reliable and self.excludes_zero


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _onehot(index: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((len(index), n))
    out[np.arange(len(index)), index] = 1.0
    return out


class _Counts:
    """A trial's test set reduced to per-group counts, so a resample is a weight vector."""

    def __init__(self, trial: Trial) -> None:
        df, idx, n = trial.scores, trial._index, len(trial.groups)
        score = df["score"].to_numpy(float)
        live = df["label"].to_numpy() == 1
        accepted = score >= trial.threshold
        self.n_live = np.bincount(idx[live], minlength=n).astype(float)
        self.rejected = np.bincount(idx[live & ~accepted], minlength=n).astype(float)
        species = sorted(df.loc[~live, "pai"].unique())
        pai = df["pai"].to_numpy()
        self.att_n = np.stack(
            [np.bincount(idx[~live & (pai == s)], minlength=n) for s in species]
        ).astype(float)
        self.att_acc = np.stack(
            [np.bincount(idx[~live & (pai == s) & accepted], minlength=n) for s in species]
        ).astype(float)
        self.score, self.live, self.idx, self.n = score, live, idx, n
        self._auc: tuple[np.ndarray, ...] | None = None

    def threshold_metrics(self, w: np.ndarray) -> dict[str, np.ndarray]:
        bpcer = _ratio(w @ self.rejected, w @ self.n_live)
        per_species = _ratio(w @ self.att_acc.T, w @ self.att_n.T)  # (B, species)
        known = ~np.isnan(per_species)
        apcer = np.where(known, per_species, -np.inf).max(axis=1)
        apcer = np.where(known.any(axis=1), apcer, np.nan)
        pooled = _ratio(w @ self.att_acc.sum(0), w @ self.att_n.sum(0))
        return {
            "apcer": apcer,
            "apcer_pooled": pooled,
            "bpcer": bpcer,
            "acer": (apcer + bpcer) / 2,
            "hter": (pooled + bpcer) / 2,
        }

    def auc(self, w: np.ndarray) -> np.ndarray:
        """Mann-Whitney AUC with each video weighted by its group's resample count."""
        if self._auc is None:
            live_s, att_s = self.score[self.live], self.score[~self.live]
            wins = (live_s[:, None] > att_s[None, :]) + 0.5 * (live_s[:, None] == att_s[None, :])
            rows, cols = np.unique(self.idx[self.live]), np.unique(self.idx[~self.live])
            r = _onehot(np.searchsorted(rows, self.idx[self.live]), len(rows))
            c = _onehot(np.searchsorted(cols, self.idx[~self.live]), len(cols))
            pairs = r.T @ wins @ c  # (live groups, attack groups): summed pairwise wins
            self._auc = (rows, cols, pairs)
        rows, cols, pairs = self._auc
        n_att = self.att_n.sum(0)
        out = np.empty(len(w))
        for i in range(0, len(w), _CHUNK):
            b = w[i : i + _CHUNK]
            num = ((b[:, rows] @ pairs) * b[:, cols]).sum(axis=1)
            out[i : i + _CHUNK] = _ratio(num, (b @ self.n_live) * (b @ n_att))
        return out

    def eer(self, w: np.ndarray) -> np.ndarray:
        """EER as in ``metrics.eer_point`` (min |FAR - FRR|, then FAR + FRR, then lowest t)."""
        cand = np.unique(self.score)
        if len(cand) > EER_GRID:
            cand = np.unique(np.quantile(self.score, np.linspace(0, 1, EER_GRID)))
        below = self.score[:, None] < cand[None, :]  # (videos, thresholds)
        frr_c = _onehot(self.idx[self.live], self.n).T @ below[self.live]
        far_c = _onehot(self.idx[~self.live], self.n).T @ ~below[~self.live]
        n_att = self.att_n.sum(0)
        out = np.empty(len(w))
        for i in range(0, len(w), _CHUNK):
            b = w[i : i + _CHUNK]
            frr = _ratio(b @ frr_c, (b @ self.n_live)[:, None])
            far = _ratio(b @ far_c, (b @ n_att)[:, None])
            gap, total = np.abs(far - frr), far + frr  # lexicographic, as eer_point does
            closest = gap == np.nanmin(gap, axis=1, keepdims=True)
            total = np.where(closest, total, np.inf)
            best = np.argmax(closest & (total == total.min(axis=1, keepdims=True)), axis=1)
            rows = np.arange(len(b))
            out[i : i + _CHUNK] = (far[rows, best] + frr[rows, best]) / 2
        return out


class Bootstrap:
    """Two-way (units x subjects) percentile bootstrap of PAD metrics; see the module docstring.

    ``n_resamples`` replicates, a ``level`` interval, and one ``seed``: the same inputs always give
    the same intervals.
    """

    def __init__(self, n_resamples: int = 2000, level: float = 0.95, seed: int = 0) -> None:
        self.n_resamples, self.level, self.seed = int(n_resamples), float(level), int(seed)
        self._weights: dict[tuple, np.ndarray] = {}
        self._draws: dict[tuple, np.ndarray] = {}
        self._reps: dict[tuple[int, str], tuple[Trial, float, np.ndarray]] = {}
        self._counts: dict[int, tuple[Trial, _Counts]] = {}

    def _rng(self, *key: object) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(repr(key).encode())])

    def subject_weights(self, groups: tuple[str, ...]) -> np.ndarray:
        """(B, groups) resample counts of one test set, shared by every trial testing it."""
        if groups not in self._weights:
            n = len(groups)
            rng = self._rng("groups", groups)
            self._weights[groups] = rng.multinomial(n, np.full(n, 1 / n), size=self.n_resamples)
        return self._weights[groups]

    def unit_draws(self, fold: str, units: tuple[str, ...]) -> np.ndarray:
        """(B, units) indices of a fold's resampled units, shared by rows with the same units."""
        key = (fold, units)
        if key not in self._draws:
            rng = self._rng("units", fold, units)
            self._draws[key] = rng.integers(0, len(units), size=(self.n_resamples, len(units)))
        return self._draws[key]

    def _counts_of(self, trial: Trial) -> _Counts:
        if id(trial) not in self._counts:
            self._counts[id(trial)] = (trial, _Counts(trial))
        return self._counts[id(trial)][1]

    def trial_replicates(self, trial: Trial, metric: str) -> tuple[float, np.ndarray]:
        """The metric on the trial's own test set, and on each subject resample of it."""
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
        key = (id(trial), metric)
        if key not in self._reps:
            counts = self._counts_of(trial)
            w = np.vstack([np.ones(counts.n), self.subject_weights(trial.groups)]).astype(float)
            if metric in THRESHOLD_METRICS:
                for name, values in counts.threshold_metrics(w).items():
                    self._reps[(id(trial), name)] = (trial, float(values[0]), values[1:])
            else:
                values = counts.auc(w) if metric == "auc" else counts.eer(w)
                self._reps[key] = (trial, float(values[0]), values[1:])
        _, point, reps = self._reps[key]
        return point, reps

    def replicates(self, trials: Sequence[Trial], metric: str) -> tuple[float, np.ndarray]:
        """Mean over folds of the mean over each fold's units: the point and its B replicates."""
        if not trials:
            raise ValueError("no trials to bootstrap")
        by_fold: dict[str, list[Trial]] = {}
        for t in trials:
            by_fold.setdefault(t.fold, []).append(t)
        points, reps = [], []
        for fold in sorted(by_fold):
            group = sorted(by_fold[fold], key=lambda t: t.unit)
            units = _unique([t.unit for t in group])
            values = [self.trial_replicates(t, metric) for t in group]
            table = np.stack([r for _, r in values], axis=1)  # (B, units)
            draws = self.unit_draws(fold, units)
            points.append(float(np.mean([p for p, _ in values])))
            reps.append(np.take_along_axis(table, draws, axis=1).mean(axis=1))
        return float(np.mean(points)), np.mean(reps, axis=0)

    def _interval(self, point: float, reps: np.ndarray, *sources: Sequence[Trial]) -> Interval:
        reliable = all(len(t.groups) >= MIN_GROUPS for trials in sources for t in trials)
        reps = reps[~np.isnan(reps)]
        if not reps.size or np.isnan(point):
            return Interval(point, float("nan"), float("nan"), reliable)
        tail = 50 * (1 - self.level)
        low, high = np.percentile(reps, [tail, 100 - tail])
        return Interval(point, float(low), float(high), reliable)

    def estimate(self, trials: Sequence[Trial], metric: str) -> Interval:
        """The metric (mean over folds and units) with its interval."""
        return self._interval(*self.replicates(trials, metric), trials)

    def difference(
        self, trials: Sequence[Trial], reference: Sequence[Trial], metric: str
    ) -> Interval:
        """``trials`` minus ``reference``, paired by test subject (and by seed where both rows
        have the same units in a fold)."""
        p, r = self.replicates(trials, metric)
        p0, r0 = self.replicates(reference, metric)
        return self._interval(p - p0, r - r0, trials, reference)

    def relative_improvement(
        self, nas: Sequence[Trial], random: Sequence[Trial], metric: str = "acer"
    ) -> Interval:
        """RI = 100 (E_random - E_nas) / E_random (percent; positive: NAS beats random)."""
        p, r = self.replicates(nas, metric)
        p0, r0 = self.replicates(random, metric)
        return self._interval(_ri(p, p0), _ri(r, r0), nas, random)


def _ri(nas: np.ndarray | float, random: np.ndarray | float) -> np.ndarray | float:
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 100.0 * (np.asarray(random) - nas) / np.where(np.asarray(random) > 0, random, np.nan)
    return float(out) if np.ndim(out) == 0 else out


def _unique(units: list[str]) -> tuple[str, ...]:
    """Units made unique (a repeated seed gets a suffix), so every trial is its own unit."""
    seen: dict[str, int] = {}
    out = []
    for u in units:
        seen[u] = seen.get(u, 0) + 1
        out.append(u if seen[u] == 1 else f"{u}#{seen[u]}")
    return tuple(out)


def describe(trials: Sequence[Trial]) -> dict[str, object]:
    """How many folds, units per fold and resampled groups per fold stand behind a statistic."""
    folds = sorted({t.fold for t in trials})
    units = [sum(t.fold == f for t in trials) for f in folds]
    groups = [len(next(t for t in trials if t.fold == f).groups) for f in folds]
    kinds = {t.kind for t in trials}
    return {
        "folds": len(folds),
        "units": (min(units), max(units)) if units else (0, 0),
        "groups": (min(groups), max(groups)) if groups else (0, 0),
        "kind": "subjects" if kinds == {"subjects"} else "videos",
    }
