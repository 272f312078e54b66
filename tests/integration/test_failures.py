"""A diverging trial ends FAILED with its error, the sweep goes on, nothing finished is lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from tests.sweeps import runs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPEC = """
name: diverge_check
workload: train_eval
protocol: oulu_npu_p1
data_size: smoke
params: {network: cdcn, theta: 0.7, width: 0.125, input_size: 32, frames_per_video: 1,
         representation: static, rank_k: 7, loss: depth, epochs: 1, lr: 0.001, lr_step: 0,
         weight_decay: 0.0, batch_size: 64, augment: false}
grid: {lr: [0.001, 1.0e+20]}
"""


def test_diverging_trial_fails_cleanly_and_is_retried_alone(
    smoke_root: Path, local_ray, tmp_path: Path
) -> None:
    spec = tmp_path / "diverge.yaml"
    spec.write_text(SPEC)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    runner = CliRunner()
    args = ["run", str(spec), "--preset", "smoke", "--tracking-uri", uri]
    first = runner.invoke(app, args)
    assert first.exit_code == 1, first.output  # a failed trial makes the command fail ...
    assert "1 finished, 1 failed" in first.output  # ... but the sweep finished the other one

    children = runs(uri, "diverge_check")[1]
    by_lr = {float(r.data.params["lr"]): r for r in children}
    assert by_lr[0.001].info.status == "FINISHED"
    bad = by_lr[1e20]
    assert bad.info.status == "FAILED"
    assert "DivergedError" in bad.data.tags["error"] and "loss" in bad.data.tags["error"]

    status = runner.invoke(app, ["status", "diverge_check", "--tracking-uri", uri])
    assert status.exit_code == 0 and "│ 2 " in status.output and "│ 1 " in status.output

    again = runner.invoke(app, args)
    assert "1 already in MLflow, 1 to run" in again.output
    children2 = runs(uri, "diverge_check")[1]
    finished = [r for r in children2 if r.info.status == "FINISHED"]
    assert [r.info.run_id for r in finished] == [by_lr[0.001].info.run_id]  # kept, not redone
    assert len(children2) == 2  # the failed run was replaced, not duplicated

    rep = runner.invoke(
        app,
        [
            "report",
            "--tables",
            "--tracking-uri",
            uri,
            "--experiment",
            "diverge_check",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert rep.exit_code == 0 and "failed" in rep.output
