"""The two-way bootstrap: point values against metrics.py, a closed-form interval, coverage on
simulated data, paired differences, RI. Seeded and deterministic; a few seconds in all."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from orchestrator.uncertainty import Bootstrap, Interval, Trial, describe
from protocols.metrics import compute_metrics


def scores(
    rng: np.random.Generator,
    n_subjects: int = 20,
    live: int = 3,
    attacks: int = 6,
    shift: float = 0.0,
    spread: float = 0.8,
    subjects: bool = True,
    decimals: int = 2,
) -> pd.DataFrame:
    """Per subject: ``live`` bona fide and ``attacks`` attack videos (print, display), with a
    subject effect shared by all of a subject's videos (what makes subjects the unit)."""
    rows = []
    for s in range(n_subjects):
        effect = rng.normal(0, spread)
        for v in range(live + attacks):
            label = int(v < live)
            pai = "live" if label else ("print" if v % 2 else "display")
            score = rng.normal(1.0 if label else -1.0 + shift, 1.0) + effect
            rows.append(
                {
                    "video_id": f"s{s}_v{v}",
                    "score": round(score, decimals),
                    "label": label,
                    "pai": pai,
                    "split": "test",
                    "subject": f"s{s}",
                }
            )
    df = pd.DataFrame(rows)
    return df if subjects else df.drop(columns="subject")


def binary(rejected: list[bool], attacks_accepted: list[bool], subject_of=None) -> pd.DataFrame:
    """Bona fide videos (score 0 if rejected else 1) and attack videos; threshold 0.5."""
    rows = [
        {"video_id": f"l{i}", "score": 0.0 if r else 1.0, "label": 1, "pai": "live"}
        for i, r in enumerate(rejected)
    ]
    rows += [
        {"video_id": f"a{i}", "score": 1.0 if a else 0.0, "label": 0, "pai": "print"}
        for i, a in enumerate(attacks_accepted)
    ]
    df = pd.DataFrame(rows)
    df["subject"] = subject_of(df) if subject_of else df["video_id"]
    return df


@pytest.mark.parametrize("metric", ["apcer", "apcer_pooled", "bpcer", "acer", "hter", "auc", "eer"])
def test_point_values_equal_metrics_py_at_the_fixed_threshold(metric: str) -> None:
    df = scores(np.random.default_rng(1), decimals=1)  # many ties: AUC/EER tie rules matter
    trial = Trial("f", "0", df, 0.1)
    got = Bootstrap(200).estimate([trial], metric)
    assert got.point == pytest.approx(compute_metrics(df, threshold=0.1)[metric], abs=1e-12)
    assert got.low <= got.point <= got.high


def test_bpcer_interval_matches_the_wilson_interval() -> None:
    """n bona fide subjects with one video each: BPCER is a binomial proportion."""
    n, k = 200, 40
    df = binary([i < k for i in range(n)], [False] * 50)
    iv = Bootstrap(4000).estimate([Trial("f", "0", df, 0.5)], "bpcer")
    p, z = k / n, 1.959964
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert iv.point == pytest.approx(0.2)
    assert iv.low == pytest.approx(centre - half, abs=0.012)
    assert iv.high == pytest.approx(centre + half, abs=0.012)


def _clustered(rng: np.random.Generator, n_subjects: int) -> pd.DataFrame:
    """Each subject's acceptance probability ~ Beta(1, 4) (mean 0.2), 1-8 videos each."""
    rejected, subject = [], []
    for s in range(n_subjects):
        p = rng.beta(1, 4)
        k = int(rng.integers(1, 9))
        rejected += list(rng.random(k) < p)
        subject += [f"s{s}"] * k
    df = binary(rejected, [False, True])
    df["subject"] = subject + ["a0", "a1"]
    return df


def test_coverage_on_simulated_clustered_data() -> None:
    """The true BPCER is 0.2; the subject-level interval covers it about 95 % of the time, the
    video-level fallback (ignoring the clustering) clearly less often."""
    rng = np.random.default_rng(7)
    hits = {True: 0, False: 0}
    reps = 200
    for _ in range(reps):
        df = _clustered(rng, 60)
        for by_subject in (True, False):
            frame = df if by_subject else df.drop(columns="subject")
            iv = Bootstrap(400, seed=int(rng.integers(1 << 30))).estimate(
                [Trial("f", "0", frame, 0.5)], "bpcer"
            )
            hits[by_subject] += iv.low <= 0.2 <= iv.high
    assert 0.90 <= hits[True] / reps <= 0.99
    assert hits[False] < hits[True]


def test_several_folds_average_and_same_subjects_share_a_draw() -> None:
    rng = np.random.default_rng(3)
    a, b = scores(rng), scores(rng)
    trials = [Trial("p3_1", "0", a, 0.0), Trial("p3_2", "0", b, 0.0)]
    boot = Bootstrap(300)
    both = boot.estimate(trials, "acer")
    one = [boot.estimate([t], "acer").point for t in trials]
    assert both.point == pytest.approx(np.mean(one))
    assert trials[0].groups == trials[1].groups  # same test subjects: one shared draw
    assert boot.subject_weights(trials[0].groups) is boot.subject_weights(trials[1].groups)
    assert describe(trials) == {
        "folds": 2,
        "units": (1, 1),
        "groups": (20, 20),
        "kind": "subjects",
    }


def test_identical_rows_differ_by_exactly_zero() -> None:
    rng = np.random.default_rng(4)
    frames = [scores(rng) for _ in range(3)]
    row = [Trial("f", str(s), df, 0.0) for s, df in enumerate(frames)]
    same = [Trial("f", str(s), df.copy(), 0.0) for s, df in enumerate(frames)]
    d = Bootstrap(500).difference(same, row, "acer")
    assert (d.point, d.low, d.high) == (0.0, 0.0, 0.0)
    assert not d.excludes_zero


def test_a_bound_at_zero_up_to_rounding_marks_nothing() -> None:
    """A report once marked Δ 6.2 [0.0, 12.1] *: the lower bound was 7e-18, zero in exact
    arithmetic (in over 2.5 % of resamples the two rows made the same errors)."""
    assert not Interval(0.0625, 6.765421556309853e-18, 0.12083).excludes_zero
    assert not Interval(-0.0625, -0.12083, -6.8e-18).excludes_zero
    assert Interval(0.0625, 0.001, 0.12083).excludes_zero


def test_rows_differing_on_one_subject_are_not_marked() -> None:
    """Row B rejects more bona fide videos than row A on one subject of ten, the same otherwise:
    a third of the resamples leave that subject out and differ by exactly 0."""
    rng = np.random.default_rng(7)
    base = [scores(rng, n_subjects=10) for _ in range(3)]
    ref = [Trial("f", str(s), df, 0.0) for s, df in enumerate(base)]
    worse = []
    for s, df in enumerate(base):
        df = df.copy()
        hit = (df["subject"] == df["subject"].iloc[0]) & (df["label"] == 1)
        df.loc[hit, "score"] = -1.0
        worse.append(Trial("f", str(s), df, 0.0))
    d = Bootstrap(1000).difference(worse, ref, "acer")
    assert d.point > 0 and d.low == pytest.approx(0.0, abs=1e-12)
    assert not d.excludes_zero


def test_a_clearly_better_row_is_marked_and_a_noisy_one_is_not() -> None:
    rng = np.random.default_rng(5)
    ref = [Trial("f", str(s), scores(rng, shift=1.5), 0.0) for s in range(3)]
    good = [Trial("f", str(s), scores(rng, shift=0.0), 0.0) for s in range(3)]
    boot = Bootstrap(1000)
    d = boot.difference(good, ref, "acer")
    assert d.point < 0 and d.high < 0 and d.excludes_zero
    twin = [Trial("f", str(s), scores(rng, shift=1.5), 0.0) for s in range(3)]
    assert not boot.difference(twin, ref, "acer").excludes_zero


def test_pairing_by_subject_resolves_what_marginal_intervals_cannot() -> None:
    """Row B rejects one more bona fide video of every tenth subject than row A on the same
    subjects: the marginal intervals overlap, the paired difference excludes zero."""
    rng = np.random.default_rng(6)
    n = 60
    rejected = list(rng.random(2 * n) < 0.3)
    worse = [r or (i % 20 == 0) for i, r in enumerate(rejected)]

    def subject_of(df: pd.DataFrame) -> list[str]:
        live = [f"s{i // 2}" for i in range((df.label == 1).sum())]
        return live + [f"s{i}" for i in range((df.label == 0).sum())]

    attacks = list(rng.random(n) < 0.2)
    a = Trial("f", "0", binary(rejected, attacks, subject_of), 0.5)
    b = Trial("f", "0", binary(worse, attacks, subject_of), 0.5)
    boot = Bootstrap(2000)
    ia, ib = boot.estimate([a], "bpcer"), boot.estimate([b], "bpcer")
    assert ib.low < ia.high  # overlapping marginal intervals
    d = boot.difference([b], [a], "bpcer")
    assert d.point > 0 and d.excludes_zero


def test_rows_with_the_same_seeds_are_paired_by_seed() -> None:
    """B is A with a little noise per seed, and the seeds differ a lot: paired by seed, the
    difference is narrow; with other unit names (no pairing) the seed spread dominates."""
    rng = np.random.default_rng(8)
    base = [scores(rng, shift=x) for x in (0.0, 1.0, 2.0)]
    a = [Trial("f", str(s), df, 0.0) for s, df in enumerate(base)]
    noisy = [df.assign(score=df.score + rng.normal(0, 0.1, len(df))) for df in base]
    b = [Trial("f", str(s), df, 0.0) for s, df in enumerate(noisy)]
    unpaired = [Trial("f", f"x{s}", df, 0.0) for s, df in enumerate(noisy)]
    boot = Bootstrap(1000)
    paired, loose = boot.difference(b, a, "acer"), boot.difference(unpaired, a, "acer")
    assert paired.point == pytest.approx(loose.point)
    assert paired.high - paired.low < 0.3 * (loose.high - loose.low)


def test_relative_improvement_and_its_interval() -> None:
    rng = np.random.default_rng(9)
    nas = [Trial("f", "0", scores(rng, shift=0.0), 0.0)]
    random = [Trial("f", f"r{i}", scores(rng, shift=1.5), 0.0) for i in range(4)]
    boot = Bootstrap(1000)
    e_nas = boot.estimate(nas, "acer").point
    e_rnd = float(np.mean([compute_metrics(t.scores, threshold=0.0)["acer"] for t in random]))
    ri = boot.relative_improvement(nas, random, "acer")
    assert ri.point == pytest.approx(100 * (e_rnd - e_nas) / e_rnd)
    assert ri.low <= ri.point <= ri.high and ri.excludes_zero and ri.point > 0
    same = boot.relative_improvement(random, random, "acer")
    assert same.point == same.low == same.high == 0.0


def test_without_subject_ids_videos_are_resampled() -> None:
    df = scores(np.random.default_rng(10), subjects=False)
    trial = Trial("f", "0", df, 0.0)
    assert trial.kind == "videos" and len(trial.groups) == len(df)


def test_results_do_not_depend_on_call_order() -> None:
    rng = np.random.default_rng(11)
    a = [Trial("f", str(s), scores(rng), 0.0) for s in range(3)]
    b = [Trial("f", str(s), scores(rng), 0.0) for s in range(3)]
    one, two = Bootstrap(300, seed=2), Bootstrap(300, seed=2)
    first = one.estimate(a, "acer"), one.estimate(b, "auc")
    second = two.estimate(b, "auc"), two.estimate(a, "acer")
    assert first == second[::-1]


def test_too_few_subjects_give_unreliable_intervals_that_mark_nothing() -> None:
    rng = np.random.default_rng(12)
    ref = [Trial("f", "0", scores(rng, n_subjects=4, shift=2.0), 0.0)]
    good = [Trial("f", "0", scores(rng, n_subjects=4, shift=0.0), 0.0)]
    boot = Bootstrap(500)
    d = boot.difference(good, ref, "acer")
    assert not d.reliable and not d.significant
    assert boot.estimate(good, "acer").reliable is False
