"""The benchmark card's summary: per-protocol intervals and the ordering verdict between protocols,
computed from saved runs (no training here: score tables with a known separation)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

CARD_SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "bench_benchmark.py"


@pytest.fixture(scope="module")
def card():
    spec = importlib.util.spec_from_file_location("bench_benchmark", CARD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scores(seed: int, overlap: float, n_subjects: int = 12) -> pd.DataFrame:
    """Test scores of 12 subjects x (1 live + 2 attacks): attacks score ``overlap`` below the
    live mean, so a larger overlap means more errors at the 0.5 threshold."""
    rng = np.random.default_rng(seed)
    rows = []
    for subject in range(n_subjects):
        for label, pai, centre in (
            (1, "live", 0.8),
            (0, "print", 0.2 + overlap),
            (0, "replay", 0.2 + overlap),
        ):
            rows.append({"video_id": f"{subject}_{pai}", "score": centre + rng.normal(0, 0.15),
                         "label": label, "pai": pai, "instrument": pai, "subject": subject,
                         "split": "test"})  # fmt: skip
    return pd.DataFrame(rows)


def save(card, out: Path, protocol: str, fold: str, seed: int, overlap: float, **stamp) -> None:
    table = scores(1000 * seed + sum(map(ord, fold)), overlap)
    row = {"protocol": protocol, "fold": fold, "seed": seed, "threshold": 0.5, **stamp}
    card.save_run(out, row, table)


def test_runs_round_trip_and_unfinished_runs_are_ignored(card, tmp_path):
    save(card, tmp_path, "oulu_npu_p1", "p1", 0, 0.1)
    (tmp_path / "oulu_npu_p1__p1__seed1.parquet").write_bytes(b"half-written")  # no JSON yet
    runs = card.load_runs(tmp_path)
    assert len(runs) == 1
    row, table = runs[0]
    assert row["seed"] == 0 and len(table) == 36 and set(table["subject"]) == set(range(12))


def test_runs_of_another_generator_or_recipe_are_not_resumed_into(card, tmp_path):
    stamp = {"generator": 5, "data_root": "/data", "params": {"epochs": 10, "theta": 0.0}}
    save(card, tmp_path, "oulu_npu_p1", "p1", 0, 0.1, **stamp)
    assert card.foreign_runs(tmp_path, stamp) == []
    assert card.foreign_runs(tmp_path, {**stamp, "generator": 6}) == ["oulu_npu_p1__p1__seed0"]
    other = {**stamp, "params": {"epochs": 20, "theta": 0.0}}
    assert card.foreign_runs(tmp_path, other) == ["oulu_npu_p1__p1__seed0"]


@pytest.mark.parametrize(
    ("p1", "p2", "verdict"),
    [(0.0, 0.45, "holds"), (0.45, 0.0, "reversed"), (0.2, 0.2, "not resolved")],
)
def test_ordering_verdict_follows_the_difference_interval(card, tmp_path, p1, p2, verdict):
    for seed in range(2):
        save(card, tmp_path, "oulu_npu_p1", "p1", seed, p1)
        save(card, tmp_path, "oulu_npu_p2", "p2", seed, p2)
    table, steps = card.summarize(card.load_runs(tmp_path), n_resamples=400)
    assert list(table.index) == ["oulu_npu_p1", "oulu_npu_p2"]
    assert (
        table.loc["oulu_npu_p1", "seeds"] == 2 and table.loc["oulu_npu_p1", "test subjects"] == 12
    )
    assert steps["step"].tolist() == ["oulu_npu_p2 - oulu_npu_p1"]
    assert steps["ordering"].tolist() == [verdict]
    assert steps["ACER difference"].iloc[0].endswith("*") == (verdict != "not resolved")


def test_multi_fold_protocols_report_the_spread_over_folds(card, tmp_path):
    """P3's std is over its folds (the papers' mean +- std over six phones), its cell the mean of
    the folds' seed means."""
    for fold, overlap in (("p3_1", 0.0), ("p3_2", 0.45)):
        for seed in range(2):
            save(card, tmp_path, "oulu_npu_p3", fold, seed, overlap)
    table, steps = card.summarize(card.load_runs(tmp_path), n_resamples=200)
    assert table.loc["oulu_npu_p3", "folds"] == 2 and steps.empty
    mean, spread = (float(x) for x in table.loc["oulu_npu_p3", "ACER %"].split(" ± "))
    assert spread > 10  # the two folds are far apart; seeds within a fold are close
    assert 5 < mean < 40


def test_where_the_errors_are_counts_each_instrument_at_its_runs_threshold(card, tmp_path):
    """Per protocol and instrument, the share of test videos on the wrong side of the run's
    threshold: a live video below it, an attack at or above it."""
    table = pd.DataFrame({
        "score": [0.9, 0.4, 0.1, 0.6, 0.2, 0.3], "label": [1, 1, 0, 0, 0, 0],
        "instrument": ["live", "live", "print1", "print1", "replay1", "replay1"],
        "split": "test", "video_id": list("abcdef"), "subject": 1, "pai": "x",
    })  # fmt: skip
    card.save_run(
        tmp_path, {"protocol": "oulu_npu_p1", "fold": "p1", "seed": 0, "threshold": 0.5}, table
    )
    card.save_run(
        tmp_path, {"protocol": "oulu_npu_p1", "fold": "p1", "seed": 1, "threshold": 0.25}, table
    )
    misses = card.instrument_misses(card.load_runs(tmp_path))
    # threshold 0.5: live 1/2, print1 1/2, replay1 0/2; threshold 0.25: live 0, print1 1/2, replay1 1/2
    assert misses.loc["oulu_npu_p1"].to_dict() == {"live": 25.0, "print1": 50.0, "replay1": 25.0}


def test_training_can_be_restricted_to_some_instruments(card):
    """--train-instruments keeps live videos and the named instruments in train and dev, every
    instrument in test, and names the valid instruments when given an unknown one."""

    def split(name: str) -> pd.DataFrame:
        inst = ["live", "print1", "print2", "replay1"]
        return pd.DataFrame(
            {"instrument": inst, "split": name, "video_id": [f"{name}{i}" for i in inst]}
        )

    fold = card.Fold("p1", split("train"), split("dev"), split("test"))
    kept = card.restrict_training(fold, ["print1", "print2"])
    assert list(kept.train["instrument"]) == ["live", "print1", "print2"]
    assert list(kept.dev["instrument"]) == ["live", "print1", "print2"]
    assert kept.test is fold.test
    with pytest.raises(
        ValueError, match=r"\['replay9'\].*valid: \['print1', 'print2', 'replay1'\]"
    ):
        card.restrict_training(fold, ["replay9"])
