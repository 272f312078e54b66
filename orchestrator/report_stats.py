"""Intervals in report tables: child runs -> trials (test scores at the dev threshold) -> cells.

The table shapes live in ``report.py`` and ``protocol_report.py``; this module turns a group of
child runs into the text of a cell (``mean ± std [low, high]``), a paired difference against the
reference row (``-4.1 [-7.9, -0.6] *``) or an RI, and records every number it prints in a long
table (fractions, as all machine-readable outputs) that goes to the sweep's parent run. Scores
come through a plain callable (run id -> frame), so nothing here touches MLflow.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

import pandas as pd

from orchestrator.uncertainty import MIN_GROUPS, Bootstrap, Interval, Trial, describe
from protocols.metrics import compute_metrics, format_mean_std

#: Reads one child run's ``scores.parquet`` (None when the run has none).
ScoreSource = Callable[[str], "pd.DataFrame | None"]
FINISHED = "FINISHED"
#: A network's cost columns: (run metric, column, scale), the same in every table.
COST_COLUMNS = (("n_params", "Params (M)", 1e-6), ("flops", "FLOPs (G)", 1e-9))
log = logging.getLogger(__name__)


def _finite(value: object) -> bool:
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def run_threshold(row: dict, scores: pd.DataFrame) -> float:
    """The threshold the trial applied: its ``threshold`` metric, else its policy re-applied."""
    if _finite(row.get("metrics.threshold")):
        return float(row["metrics.threshold"])
    split = scores["split"] if "split" in scores else pd.Series("test", index=scores.index)
    test, dev = scores[split == "test"], scores[split == "dev"]
    policy = str(row.get("tags.threshold_policy") or ("dev_eer" if len(dev) else "test_eer"))
    threshold: str | float = float(policy) if _finite(policy) else policy
    return compute_metrics(test, dev if len(dev) else None, threshold)["threshold"]


def interval_text(iv: Interval | None, scale: float = 100.0) -> str:
    """``[9.0, 15.8]``; ``†`` after an interval resting on too few test subjects."""
    if iv is None or math.isnan(iv.low):
        return ""
    return f"[{iv.low * scale:.1f}, {iv.high * scale:.1f}]" + ("" if iv.reliable else "†")


def cell_text(mean: float, std: float, iv: Interval | None, n: int | None = None) -> str:
    """``12.3 ± 2.1 [9.0, 15.8]`` (percent) over ``n`` values; one value has no spread:
    ``12.3 (n = 1)``. The interval is left out when there is none."""
    if math.isnan(mean):
        return "n/a"
    ci = interval_text(iv)
    text = f"{mean * 100:.1f} (n = 1)" if n == 1 else format_mean_std(mean, std, digits=1)
    return text + (f" {ci}" if ci else "")


def delta_text(iv: Interval | None, scale: float = 100.0) -> str:
    """``-4.1 [-7.9, -0.6] *``: the difference, its interval, ``*`` when it excludes zero
    (never on an interval flagged unreliable)."""
    if iv is None or math.isnan(iv.point):
        return "n/a"
    ci = interval_text(iv, scale)
    text = f"{iv.point * scale:.1f}" + (f" {ci}" if ci else "")
    return text + (" *" if ci and iv.significant else "")


class RunStats:
    """Bootstrap intervals for groups of child runs, and the record of what was printed.

    ``scores`` None: no intervals (tables keep mean ± std only); every cell still counts its runs.
    """

    def __init__(
        self,
        scores: ScoreSource | None,
        n_resamples: int = 2000,
        level: float = 0.95,
        seed: int = 0,
    ) -> None:
        self.source = scores
        self.boot = Bootstrap(n_resamples, level, seed)
        self._trials: dict[str, Trial | None] = {}
        self.used: dict[int, Trial] = {}  # every trial behind a printed interval
        self.records: list[dict[str, object]] = []

    @property
    def enabled(self) -> bool:
        return self.source is not None

    def _trial(self, row: dict, unit: str) -> Trial | None:
        run_id = str(row.get("run_id", ""))
        key = f"{run_id}|{unit}"
        if key not in self._trials:
            frame = self.source(run_id) if self.source is not None and run_id else None
            trial = None
            if frame is not None and len(frame):
                fold = str(row.get("tags.fold") or "")
                seed = row.get("params.seed")
                name = str(seed) if unit == "seed" and _finite(seed) else run_id
                try:
                    trial = Trial(fold, name, frame, run_threshold(row, frame))
                except ValueError as exc:  # e.g. a test split with one class: no interval
                    log.warning(f"run {run_id}: scores not usable for intervals: {exc}")
            self._trials[key] = trial
        return self._trials[key]

    def trials(self, runs: pd.DataFrame, unit: str = "seed") -> list[Trial]:
        """The finished runs' trials; ``unit``: ``seed`` (rows paired by seed) or ``run`` (each
        run its own unit, e.g. random samples that share one seed)."""
        if not self.enabled or runs.empty:
            return []
        ok = runs[runs["status"] == FINISHED] if "status" in runs else runs
        found = [self._trial(row, unit) for row in ok.to_dict("records")]
        return [t for t in found if t is not None]

    def _record(self, row: str, metric: str, statistic: str, iv: Interval, trials, **extra):
        info = describe(trials)
        if extra.get("reference_row") != "random" and statistic != "estimate over samples":
            self.used.update({id(t): t for t in trials})
        self.records.append(
            {
                "row": row,
                "metric": metric,
                "statistic": statistic,
                "estimate": iv.point,
                "ci_low": iv.low,
                "ci_high": iv.high,
                "excludes_zero": None if statistic.startswith("estimate") else iv.excludes_zero,
                "reliable": iv.reliable,
                "marked": None if statistic.startswith("estimate") else iv.significant,
                "folds": info["folds"],
                "units_min": info["units"][0],
                "units_max": info["units"][1],
                "test_groups_min": info["groups"][0],
                "test_groups_max": info["groups"][1],
                "test_group_kind": info["kind"],
                **extra,
            }
        )

    def estimate(
        self,
        runs: pd.DataFrame,
        metric: str,
        row: str,
        mean_std: tuple[float, float] | None,
        unit: str = "seed",
    ) -> Interval | None:
        trials = self.trials(runs, unit)
        if not trials:
            return None
        iv = self.boot.estimate(trials, metric)
        mean, std = mean_std if mean_std is not None else (float("nan"), float("nan"))
        statistic = "estimate" if unit == "seed" else "estimate over samples"
        self._record(row, metric, statistic, iv, trials, mean=mean, std=std)
        return iv

    def estimate_samples(
        self, runs: pd.DataFrame, metric: str, row: str, mean_std: tuple[float, float]
    ) -> Interval | None:
        """An estimate whose units are runs (random samples), not seeds."""
        return self.estimate(runs, metric, row, mean_std, unit="run")

    def units(self, runs: pd.DataFrame) -> str:
        """``3 seeds × 20 subjects`` behind a row (empty without scores)."""
        return units_text(self.trials(runs))

    def cell(
        self, runs: pd.DataFrame, metric: str, row: str, mean: float, std: float, n: int
    ) -> tuple[str, Interval | None]:
        """The cell text (mean ± std over ``n`` values) and its interval (None without scores)."""
        iv = self.estimate(runs, metric, row, (mean, std)) if not math.isnan(mean) else None
        return cell_text(mean, std, iv, n), iv

    def delta(
        self, runs: pd.DataFrame, reference: pd.DataFrame, metric: str, row: str, ref: str
    ) -> str:
        """Row minus reference, paired by seed and test subject."""
        a, b = self.trials(runs), self.trials(reference)
        if not a or not b:
            return "n/a"
        iv = self.boot.difference(a, b, metric)
        self._record(row, metric, f"difference vs {ref}", iv, a, reference_row=ref)
        return delta_text(iv)

    def ri(self, nas: pd.DataFrame, random: pd.DataFrame, metric: str, row: str) -> Interval | None:
        """RI = 100 (E_random - E_nas) / E_random; each random sample is its own unit."""
        a, b = self.trials(nas), self.trials(random, unit="run")
        if not a or not b:
            return None
        iv = self.boot.relative_improvement(a, b, metric)
        self._record(row, metric, "relative improvement (%)", iv, a + b, reference_row="random")
        return iv

    def frame(self) -> pd.DataFrame:
        """Every printed statistic, one row each (fractions; RI in percent)."""
        df = pd.DataFrame(self.records)
        if not df.empty:
            df["resamples"], df["level"] = self.boot.n_resamples, self.boot.level
        return df

    def scope(self) -> str:
        """``3 seeds × 20 test subjects``: what stands behind the table's intervals (ranges
        where rows differ)."""
        rows = [r for r in self.records if r["statistic"] == "estimate"]
        if not rows:
            return ""
        folds = (min(r["folds"] for r in rows), max(r["folds"] for r in rows))
        units = (min(r["units_min"] for r in rows), max(r["units_max"] for r in rows))
        groups = (min(r["test_groups_min"] for r in rows), max(r["test_groups_max"] for r in rows))
        kind = "subjects" if all(r["test_group_kind"] == "subjects" for r in rows) else "videos"
        parts = [f"{_span(*folds)} folds"] if folds[1] > 1 else []
        parts.append(f"{_span(*units)} seed{'s' if units[1] > 1 else ''}")
        parts.append(f"{_span(*groups)} test {kind}")
        return " × ".join(parts)

    def note(
        self, reference: str | None, spread: str = "seeds", comparison: str | None = None
    ) -> str:
        """The footnote: what the cells and intervals are, and what they cannot show
        (``comparison``: a sentence replacing the paired-difference one)."""
        if not self.used:
            return f"Cells: mean ± std over {spread} (no per-video scores found: no intervals)."
        level = f"{100 * self.boot.level:g} %"
        kind = describe(list(self.used.values()))["kind"]
        text = (
            f"Cells: mean ± std over {spread} [{level} CI]. CI: two-way bootstrap "
            f"({self.boot.n_resamples} resamples) over seeds and test {kind} "
            f"({self.scope()}), each trial's dev threshold fixed; several folds: mean over folds."
        )
        if comparison:
            text += f" {comparison}"
        elif reference:
            text += (
                f" Δ: row minus {reference}, paired by seed and test subject;"
                " * = interval excludes 0."
            )
        if any(not r["reliable"] for r in self.records):
            text += (
                f" † fewer than {MIN_GROUPS} test {kind} in a fold: too few for a bootstrap,"
                " the interval is too narrow and nothing on it is marked."
            )
        if max(r["units_max"] for r in self.records if r["statistic"] == "estimate") == 1:
            text += " One seed: intervals cover the test subjects only, not training variation."
        if kind == "videos":
            text += (
                " Scores without subject ids: videos resampled, too narrow if a subject's"
                " videos are correlated."
            )
        return text + " With few seeds the seed part of an interval is coarse."


def _span(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}–{hi}"


def units_text(trials: Sequence[Trial]) -> str:
    """``2 folds × 3 seeds × 20 subjects`` (per fold; ranges where folds differ)."""
    if not trials:
        return ""
    info = describe(trials)
    units, groups = info["units"], info["groups"]
    parts = [f"{info['folds']} folds"] if info["folds"] > 1 else []
    parts.append(f"{_span(*units)} seed{'s' if units[1] > 1 else ''}")
    parts.append(f"{_span(*groups)} {info['kind']}")
    return " × ".join(parts)
