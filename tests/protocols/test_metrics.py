"""Metrics against independent computations (brute-force loops, scikit-learn's AUC)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from protocols.metrics import (
    ScoreFileError,
    compute_metrics,
    eer_point,
    eer_threshold,
    format_mean_std,
    load_scores,
    roc_auc,
    summarize,
)

CONTRACT_KEYS = {
    "threshold",
    "threshold_policy",
    "apcer",
    "apcer_pooled",
    "bpcer",
    "acer",
    "far",
    "frr",
    "hter",
    "eer",
    "auc",
    "apcer_per_pai",
    "n_live",
    "n_attack",
}


def table(live: list[float], attacks: dict[str, list[float]]) -> pd.DataFrame:
    rows = [{"score": s, "label": 1, "pai": "live"} for s in live]
    rows += [{"score": s, "label": 0, "pai": k} for k, v in attacks.items() for s in v]
    return pd.DataFrame(rows)


def brute_eer(scores, labels) -> tuple[float, float]:
    """Loop over unique scores; min |FAR-FRR|, ties -> min FAR+FRR, then lowest threshold."""
    best = None
    for t in sorted(set(scores)):
        far = sum(s >= t for s, y in zip(scores, labels, strict=True) if y == 0) / labels.count(0)
        frr = sum(s < t for s, y in zip(scores, labels, strict=True) if y == 1) / labels.count(1)
        key = (abs(far - frr), far + frr, t)
        if best is None or key < best[0]:
            best = (key, t, (far + frr) / 2)
    return best[1], best[2]


def random_scores(rng: np.random.Generator, n: int = 60, decimals: int = 1) -> pd.DataFrame:
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    scores = np.round(rng.normal(0.6 * labels, 0.3), decimals)  # rounding makes ties
    pai = rng.choice(["print1", "print2", "replay1"], n)
    return pd.DataFrame({"score": scores, "label": labels, "pai": pai})


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_sklearn_with_ties(seed: int) -> None:
    df = random_scores(np.random.default_rng(seed))
    assert df["score"].duplicated().any()
    expected = roc_auc_score(df["label"], df["score"])
    assert roc_auc(df["score"], df["label"]) == pytest.approx(expected)
    assert compute_metrics(df, threshold=0.3)["auc"] == pytest.approx(expected)


def test_auc_all_tied_is_half() -> None:
    assert roc_auc([0.5, 0.5, 0.5], [1, 0, 0]) == pytest.approx(0.5)


def test_apcer_per_species_max_and_pooled() -> None:
    df = table(
        live=[0.9, 0.8, 0.4, 0.7],
        attacks={"print1": [0.1, 0.6], "replay1": [0.7, 0.9, 0.2, 0.55], "mask": [0.0]},
    )
    m = compute_metrics(df, threshold=0.5)
    assert m["apcer_per_pai"] == {"mask": 0.0, "print1": 0.5, "replay1": 0.75}
    assert m["apcer"] == pytest.approx(0.75)
    assert m["apcer_pooled"] == pytest.approx(4 / 7) == m["far"]
    assert m["bpcer"] == pytest.approx(1 / 4) == m["frr"]
    assert m["acer"] == pytest.approx((0.75 + 0.25) / 2)
    assert m["hter"] == pytest.approx((4 / 7 + 0.25) / 2)
    assert (m["n_live"], m["n_attack"], m["threshold_policy"]) == (4, 7, "fixed")
    assert CONTRACT_KEYS <= set(m)
    json.dumps(m)  # machine-readable: plain Python types only


def test_oulu_apcer_pools_the_instruments_of_a_pai() -> None:
    # OULU-NPU: two printers are one PAI (print). print1 always rejected, print2 always accepted:
    # APCER_print = 0.50; a max over instruments would report 1.00.
    df = pd.DataFrame(
        {
            "score": [0.9, 0.8, 0.1, 0.2, 0.9, 0.8, 0.1, 0.3],
            "label": [1, 1, 0, 0, 0, 0, 0, 0],
            "pai": ["live", "live", "print", "print", "print", "print", "display", "display"],
            "instrument": [
                "live",
                "live",
                "print1",
                "print1",
                "print2",
                "print2",
                "replay1",
                "replay2",
            ],
        }
    )
    m = compute_metrics(df, threshold=0.5)
    assert m["apcer_per_pai"] == {"display": 0.0, "print": 0.5}
    assert m["apcer"] == pytest.approx(0.5)
    assert m["apcer_pooled"] == pytest.approx(2 / 6)
    assert m["acer"] == pytest.approx(0.25)


def test_score_equal_to_threshold_is_accepted() -> None:
    df = table(live=[0.5, 0.9], attacks={"print1": [0.5, 0.1]})
    m = compute_metrics(df, threshold=0.5)
    assert m["bpcer"] == 0.0  # the live sample at exactly 0.5 is accepted
    assert m["apcer_per_pai"]["print1"] == 0.5  # ... and so is the attack at 0.5


def test_dev_eer_threshold_is_applied_to_test() -> None:
    dev = table(live=[0.6, 0.7, 0.8, 0.3], attacks={"print1": [0.1, 0.2, 0.4, 0.65]})
    test = table(live=[0.59, 0.61, 0.9], attacks={"print1": [0.6, 0.2], "replay1": [0.58]})
    assert eer_threshold(dev["score"], dev["label"]) == pytest.approx(0.6)
    m = compute_metrics(test, dev=dev, threshold="dev_eer")
    assert (m["threshold"], m["threshold_policy"], m["optimistic"]) == (0.6, "dev_eer", False)
    fixed = compute_metrics(test, threshold=0.6)
    for key in ("apcer", "bpcer", "acer", "hter", "eer", "auc", "apcer_per_pai"):
        assert m[key] == fixed[key]
    assert m["bpcer"] == pytest.approx(1 / 3)  # 0.59 < 0.6 rejected
    assert m["apcer_per_pai"] == {"print1": 0.5, "replay1": 0.0}


def test_test_eer_policy_and_fixed_number() -> None:
    test = table(live=[0.6, 0.7, 0.8, 0.3], attacks={"print1": [0.1, 0.2, 0.4, 0.65]})
    m = compute_metrics(test, threshold="test_eer")
    assert (m["threshold"], m["threshold_policy"], m["optimistic"]) == (0.6, "test_eer", True)
    assert m["hter"] == pytest.approx(0.25) == m["eer"]
    assert compute_metrics(test, dev=test, threshold="0.7")["threshold"] == 0.7  # str number
    assert compute_metrics(test, threshold=0.0)["apcer_pooled"] == 1.0


def test_threshold_policy_errors() -> None:
    test = table(live=[0.9], attacks={"print1": [0.1]})
    with pytest.raises(ValueError, match="dev_eer.*dev"):
        compute_metrics(test)
    with pytest.raises(ValueError, match="'dev_eer', 'test_eer' or a number"):
        compute_metrics(test, threshold="median")


def test_eer_separable_is_zero() -> None:
    thr, eer = eer_point([0.8, 0.9, 0.1, 0.2], [1, 1, 0, 0])
    assert (thr, eer) == (0.8, 0.0)


def test_eer_overlapping_exact_crossing() -> None:
    scores = [0.6, 0.7, 0.8, 0.3, 0.1, 0.2, 0.4, 0.65]
    labels = [1, 1, 1, 1, 0, 0, 0, 0]
    assert eer_point(scores, labels) == pytest.approx((0.6, 0.25))


@pytest.mark.parametrize("seed", range(8))
def test_eer_matches_brute_force(seed: int) -> None:
    df = random_scores(np.random.default_rng(100 + seed), n=40)
    scores, labels = df["score"].tolist(), df["label"].tolist()
    assert eer_point(scores, labels) == pytest.approx(brute_eer(scores, labels))
    assert compute_metrics(df, threshold=0.5)["eer"] == pytest.approx(brute_eer(scores, labels)[1])


def test_pai_ignored_for_live_and_missing_for_attacks() -> None:
    df = pd.DataFrame(
        {"score": [0.9, 0.8, 0.7, 0.1], "label": [1, 1, 0, 0], "pai": ["x", None, None, ""]}
    )
    m = compute_metrics(df, threshold=0.5)
    assert m["apcer_per_pai"] == {"attack": 0.5}
    no_pai = compute_metrics(df.drop(columns="pai"), threshold=0.5)
    assert no_pai["apcer_per_pai"] == {"attack": 0.5}


# ---------------------------------------------------------------------------------------------
# load_scores


def write(df: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return path


GOOD = pd.DataFrame(
    {"video_id": ["a", "b", "c"], "score": [0.9, 0.2, 0.4], "label": [1, 0, 0], "pai": ["live"] * 3}
)


@pytest.fixture(params=["csv", "parquet"])
def ext(request: pytest.FixtureRequest) -> str:
    return request.param


def test_load_scores_roundtrip(tmp_path: Path, ext: str) -> None:
    df = load_scores(write(GOOD, tmp_path / f"s.{ext}"))
    assert df["score"].tolist() == [0.9, 0.2, 0.4]
    assert df["label"].tolist() == [1, 0, 0]
    assert df["pai"].tolist() == ["live", "live", "live"]  # attacks keep their given pai
    assert compute_metrics(df, threshold=0.3)["apcer_per_pai"] == {"live": 0.5}


@pytest.mark.parametrize(
    "mutate, pattern",
    [
        (lambda d: d.drop(columns="label"), r"missing column\(s\) label; required .*score, label"),
        (lambda d: d.drop(columns=["score", "label"]), r"found: video_id, pai"),
        (lambda d: d.assign(score=[0.1, np.nan, np.nan]), r"NaN/empty in 2 of 3 row\(s\)"),
        (lambda d: d.assign(label=[1, 2, 0]), r"label must be 0 \(attack\) or 1 .*found 2"),
        (lambda d: d.assign(label=[1, 1, 1]), r"no attack rows \(label 0\)"),
        (lambda d: d.assign(label=[0, 0, 0]), r"no bona fide rows \(label 1\)"),
        (lambda d: d.assign(score=["0.5", "high", "0.1"]), r"non-numeric score .*'high'"),
    ],
)
def test_load_scores_errors(tmp_path: Path, ext: str, mutate, pattern: str) -> None:
    path = write(mutate(GOOD.copy()), tmp_path / f"bad.{ext}")
    with pytest.raises(ScoreFileError, match=pattern) as info:
        load_scores(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_load_scores_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        load_scores(tmp_path / "missing.csv")
    (tmp_path / "s.json").write_text("{}")
    with pytest.raises(ValueError, match="csv or parquet"):
        load_scores(tmp_path / "s.json")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="empty.csv: empty file"):
        load_scores(tmp_path / "empty.csv")
    (tmp_path / "broken.parquet").write_text("not parquet")
    with pytest.raises(ValueError, match="broken.parquet: cannot read parquet"):
        load_scores(tmp_path / "broken.parquet")


# ---------------------------------------------------------------------------------------------
# mean ± std


def test_summarize_and_format() -> None:
    mean, std = summarize([0.1, 0.2, 0.3])
    assert mean == pytest.approx(0.2)
    assert std == pytest.approx(np.std([0.1, 0.2, 0.3], ddof=1))
    assert summarize([0.4]) == (0.4, 0.0)
    with pytest.raises(ValueError):
        summarize([])
    assert format_mean_std(0.0123, 0.0045) == "1.23 ± 0.45"
    assert format_mean_std(1.5, 0.26, percent=False, digits=1) == "1.5 ± 0.3"
