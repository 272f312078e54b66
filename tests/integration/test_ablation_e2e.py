"""`orchestrate run ablation_cdc_theta --preset smoke` through real Ray and real MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from orchestrator.cli import app
from tests.sweeps import runs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TEST_METRICS = ["test_apcer", "test_bpcer", "test_acer", "test_hter", "test_eer", "test_auc"]


def test_smoke_ablation_end_to_end(smoke_root: Path, local_ray, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    runner = CliRunner()
    args = ["run", "ablation_cdc_theta", "--preset", "smoke", "--tracking-uri", uri]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output

    client = MlflowClient(uri)
    parents, children = runs(uri, "ablation_cdc_theta")
    assert len(parents) == 1
    assert len(children) == 11  # 11 theta values x 1 seed on the smoke preset
    thetas = sorted(float(r.data.params["theta"]) for r in children)
    assert thetas == pytest.approx([0.1 * i for i in range(11)])
    for run in children:
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        for key in ("run_key", "protocol", "fold", "preset", "mlflow.source.git.commit"):
            assert run.data.tags[key]
        for metric in TEST_METRICS:
            assert 0.0 <= run.data.metrics[metric] <= 1.0
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert "scores.parquet" in names and "model.pt" in names
        history = client.get_metric_history(run.info.run_id, "train_loss")
        assert [m.step for m in history] == [1]

    # The sweep's summary is on its parent run: statistics with intervals, readable without us.
    summary = {a.path for a in client.list_artifacts(parents[0].info.run_id, "summary")}
    assert {"summary/statistics.json", "summary/table.md", "summary/acer_vs_theta.png"} <= summary
    path = client.download_artifacts(
        parents[0].info.run_id, "summary/statistics.json", str(tmp_path)
    )
    stats = json.loads(Path(path).read_text())
    acer = [r for r in stats["rows"] if r["metric"] == "acer" and r["statistic"] == "estimate"]
    assert len(acer) == 11 and all(r["ci_low"] <= r["estimate"] <= r["ci_high"] for r in acer)
    assert "ΔACER vs θ=0" in parents[0].data.tags["mlflow.note.content"]

    # The scores are the source of truth: recomputing the metrics from them agrees with MLflow.
    from protocols.metrics import compute_metrics

    run = children[0]
    path = client.download_artifacts(run.info.run_id, "scores.parquet", str(tmp_path))
    scores = pd.read_parquet(path)
    m = compute_metrics(scores[scores.split == "test"], scores[scores.split == "dev"], "dev_eer")
    assert m["acer"] == pytest.approx(run.data.metrics["test_acer"])

    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "11 already in MLflow, 0 to run" in again.output
    assert "0 finished, 0 failed, 11 reused" in again.output
    parents2, children2 = runs(uri, "ablation_cdc_theta")
    assert len(children2) == 11 and len(parents2) == 1

    out = tmp_path / "reports"
    rep = runner.invoke(
        app,
        [
            "report",
            "--tables",
            "--tracking-uri",
            uri,
            "--out",
            str(out),
            "--experiment",
            "ablation_cdc_theta",
        ],
    )
    assert rep.exit_code == 0, rep.output
    assert "ACER (%)" in rep.output and rep.output.count("\n| ") >= 11
    assert "ΔACER vs θ=0" in rep.output and "bootstrap" in rep.output
    assert (out / "ablation_cdc_theta_statistics.csv").exists()
    assert (out / "ablation_cdc_theta.md").exists()
    assert (out / "ablation_cdc_theta_acer_vs_theta.png").stat().st_size > 1000
    latex = runner.invoke(
        app, ["report", "--tables", "--format", "latex", "--tracking-uri", uri, "--out", str(out)]
    )
    assert latex.exit_code == 0 and "\\begin{tabular}" in latex.output
