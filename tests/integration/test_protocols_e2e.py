"""Protocol fan-outs end to end: `orchestrate run protocol_ocim_lodo / protocol_siwm_loto
--preset smoke` through real Ray and MLflow, and their paper-shaped tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from orchestrator.cli import app
from protocols.layouts import SIWM_TYPES

pytestmark = [pytest.mark.integration, pytest.mark.slow]
runner = CliRunner()


def _run_and_report(name: str, uri: str, out: Path) -> tuple[list, str]:
    result = runner.invoke(app, ["run", name, "--preset", "smoke", "--tracking-uri", uri])
    assert result.exit_code == 0, result.output
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(name)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    rep = runner.invoke(
        app,
        ["report", "--tables", "--tracking-uri", uri, "--out", str(out), "--experiment", name],
    )
    assert rep.exit_code == 0, rep.output
    return children, rep.output


def test_ocim_lodo_smoke(smoke_root: Path, local_ray, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    children, table = _run_and_report("protocol_ocim_lodo", uri, tmp_path / "r")
    folds = sorted(r.data.tags["fold"] for r in children)
    assert folds == ["CIM_to_O", "OCI_to_M", "OCM_to_I", "OIM_to_C"]
    for run in children:
        assert run.info.status == "FINISHED"
        assert 0.0 <= run.data.metrics["test_hter"] <= 1.0
        assert 0.0 <= run.data.metrics["test_auc"] <= 1.0
    for fold in folds:
        assert f"{fold} HTER (%)" in table and f"{fold} AUC (%)" in table
    assert "Avg. HTER (%)" in table and "dev EER" in table
    assert (tmp_path / "r" / "protocol_ocim_lodo.md").read_text().count("cdcn") == 1


def test_siwm_loto_smoke(smoke_root: Path, local_ray, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    children, table = _run_and_report("protocol_siwm_loto", uri, tmp_path / "r")
    assert sorted(r.data.tags["fold"] for r in children) == sorted(SIWM_TYPES)
    assert all(r.info.status == "FINISHED" for r in children)
    for t in SIWM_TYPES:
        assert t in table
    for metric in ("APCER (%)", "BPCER (%)", "ACER (%)", "EER (%)"):
        assert metric in table
    assert "Mean ± std" in table
