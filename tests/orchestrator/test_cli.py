"""The command line through Typer's CliRunner: list, score, protocols, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from protocols.metrics import compute_metrics

runner = CliRunner()


def test_list_shows_experiments_and_preset_sizes() -> None:
    out = runner.invoke(app, ["list"])
    assert out.exit_code == 0, out.output
    assert "ablation_cdc_theta" in out.output and "ablation_cdp_gamma" in out.output
    assert "11/6/11" in out.output  # 11 theta values x 1 seed; quick: 2 values x 3 seeds


def test_score_json_matches_the_metrics_module(tmp_path: Path) -> None:
    test = pd.DataFrame(
        {
            "score": [0.9, 0.8, 0.4, 0.3, 0.6, 0.2],
            "label": [1, 1, 1, 0, 0, 0],
            "pai": ["live", "live", "live", "print", "display", "display"],
            "instrument": ["live", "live", "live", "print1", "replay1", "replay2"],
        }
    )
    dev = test.assign(score=test.score + 0.05)
    test.to_csv(tmp_path / "test.csv", index=False)
    dev.to_parquet(tmp_path / "dev.parquet")
    out = runner.invoke(
        app, ["score", str(tmp_path / "test.csv"), "--dev", str(tmp_path / "dev.parquet"), "--json"]
    )
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)
    want = compute_metrics(test, dev, "dev_eer")
    for key in ("threshold", "apcer", "bpcer", "acer", "far", "frr", "hter", "eer", "auc"):
        assert got[key] == pytest.approx(want[key])
    assert got["threshold_policy"] == "dev_eer"
    assert got["apcer_per_pai"] == pytest.approx(want["apcer_per_pai"])
    assert set(got["apcer_per_pai"]) == {"print", "display"}  # species, instruments pooled


def test_score_file_errors_name_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"score": [0.1, 0.2], "label": [1, 1]}).to_csv(bad, index=False)
    out = runner.invoke(app, ["score", str(bad), "--threshold", "0.5"])
    assert out.exit_code == 2 and "bad.csv" in out.output
    out = runner.invoke(app, ["score", str(bad), "--threshold", "middle"])
    assert out.exit_code == 2 and "expected dev_eer, test_eer or a number" in out.output


def test_protocols_show_json(smoke_root: Path) -> None:
    out = runner.invoke(
        app, ["protocols", "show", "oulu_npu_p3", "--data-root", str(smoke_root), "--json"]
    )
    assert out.exit_code == 0, out.output
    folds = json.loads(out.stdout)
    assert [f["fold"] for f in folds] == [f"p3_{i}" for i in range(1, 7)]
    for fold in folds:
        for split in ("train", "dev", "test"):
            assert fold["splits"][split]["live"] > 0 and fold["splits"][split]["attack"] > 0


def test_protocols_list() -> None:
    out = runner.invoke(app, ["protocols", "list"])
    assert out.exit_code == 0
    for name in ("oulu_npu_p1", "oulu_npu_p2", "oulu_npu_p3", "oulu_npu_p4"):
        assert name in out.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "no_such_experiment"], "unknown experiment 'no_such_experiment'"),
        (["run", "ablation_cdc_theta", "--preset", "huge"], "'huge' is not one of 'smoke'"),
        (["run", "ablation_cdc_theta", "--set", "epochs=lots"], "epochs: expected int"),
        (["run", "ablation_cdc_theta", "--set", "epoch=3"], "unknown --set key 'epoch'"),
        (["run", "ablation_cdc_theta", "--data-root", "/nonexistent/fas"], "does not exist"),
        (["protocols", "show", "oulu_npu_p9"], "unknown protocol 'oulu_npu_p9'"),
    ],
)
def test_bad_input_gets_a_clear_error(args: list[str], message: str, tmp_path: Path) -> None:
    out = runner.invoke(
        app,
        [*args] + (["--tracking-uri", f"sqlite:///{tmp_path}/m.db"] if args[0] == "run" else []),
    )
    assert out.exit_code == 2, out.output
    assert message in out.output


def test_missing_dataset_folder_is_named(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    out = runner.invoke(
        app, ["protocols", "show", "oulu_npu_p1", "--data-root", str(tmp_path / "data")]
    )
    assert out.exit_code == 2 and "oulu_npu" in out.output
