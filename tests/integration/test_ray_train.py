"""A two-worker Ray Train retrain inside a Tune trial, through real Ray and real MLflow.

The trial is a driver for a ``TorchTrainer`` with two CPU workers (gloo); both run the
``train_eval`` workload as DDP replicas, rank 0 scores dev/test. The result must land in MLflow
exactly like a single-worker trial's: one epoch event per epoch, test metrics, scores, model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.specs import SpecError, apply_overrides, load_spec_file
from tests import sweeps

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EPOCHS = 2
SPEC = sweeps.data_parallel_spec("ray_train_check", EPOCHS, retries=0)


def _child(client: MlflowClient, experiment: str):
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 1
    return children[0]


def test_two_worker_retrain_lands_like_a_single_worker_trial(
    smoke_root: Path, local_ray, tmp_path: Path, monkeypatch
) -> None:
    from protocols.metrics import compute_metrics
    from protocols.protocols import PROTOCOLS
    from search_spaces.nets import NETWORKS

    storage = tmp_path / "ray_storage"
    monkeypatch.setenv("FAS_STORAGE_PATH", str(storage))
    spec = tmp_path / "ray_train.yaml"
    spec.write_text(SPEC)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = CliRunner().invoke(app, ["run", str(spec), "--tracking-uri", uri])
    assert out.exit_code == 0, out.output
    assert "1 finished, 0 failed" in out.output

    client = MlflowClient(uri)
    run = _child(client, "ray_train_check")
    assert run.info.status == "FINISHED", run.data.tags.get("error")
    for metric in ("test_apcer", "test_bpcer", "test_acer", "test_hter", "test_eer", "test_auc"):
        assert 0.0 <= run.data.metrics[metric] <= 1.0
    # Exactly one epoch event per epoch reached the driver, as for a single-worker trial.
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1, 2]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "dev_eer")] == [1, 2]

    got = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path / "art")))
    assert {"scores.parquet", "model.pt", "result.json"} <= {p.name for p in got.iterdir()}
    info = json.loads((got / "result.json").read_text())["info"]
    assert info["world_size"] == 2
    workers = info["workers"]
    assert [w["rank"] for w in workers] == [0, 1]  # both workers took part ...
    fold = PROTOCOLS.get("oulu_npu_p1").folds(smoke_root)[0]
    train_frames = len(fold.train) * 2  # frames_per_video = 2: an even split, no padding
    assert sum(w["train_samples"] for w in workers) == train_frames * EPOCHS  # ... in halves
    assert workers[0]["train_samples"] == workers[1]["train_samples"]
    assert workers[0]["params_digest"] == workers[1]["params_digest"]  # identical replicas

    scores = pd.read_parquet(got / "scores.parquet")
    assert set(scores.split) == {"dev", "test"}
    assert len(scores[scores.split == "test"]) == len(fold.test)
    m = compute_metrics(scores[scores.split == "test"], scores[scores.split == "dev"], "dev_eer")
    assert m["acer"] == pytest.approx(run.data.metrics["test_acer"])
    # The saved weights are the plain module's (no DDP prefix): they load into a fresh CDCN.
    net = NETWORKS.get("cdcn")(theta=0.7, width=0.125, input_size=32)
    net.load_state_dict(torch.load(got / "model.pt"))

    # The Train run shares the Tuner's storage, named after the trial (its run key inside).
    key = run.data.tags["run_key"]
    train_runs = [p for p in storage.iterdir() if p.is_dir() and key in p.name]
    assert len(train_runs) == 1
    assert list(train_runs[0].rglob("result.json"))


def test_an_application_error_on_the_workers_ends_the_trial_failed(
    smoke_root: Path, local_ray, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("FAS_STORAGE_PATH", str(tmp_path / "ray_storage"))
    spec = tmp_path / "ray_train_diverge.yaml"
    text = SPEC.replace("name: ray_train_check", "name: ray_train_diverge")
    spec.write_text(text.replace("lr: 0.001", "lr: 1.0e+20"))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = CliRunner().invoke(app, ["run", str(spec), "--tracking-uri", uri])
    assert out.exit_code == 1, out.output
    assert "0 finished, 1 failed" in out.output
    run = _child(MlflowClient(uri), "ray_train_diverge")
    assert run.info.status == "FAILED"
    assert "DivergedError" in run.data.tags["error"] and "loss" in run.data.tags["error"]


def test_the_workload_error_is_preferred_over_its_peers_collective_errors() -> None:
    import ray.exceptions
    import ray.train

    from orchestrator.backend.train import application_error
    from workloads.train_eval import DivergedError

    peer = RuntimeError("[gloo] Connection closed by peer")
    cause = DivergedError("training loss became nan at epoch 3")
    exc = ray.train.WorkerGroupError("two workers failed", {0: peer, 1: cause})
    assert application_error(exc) == "DivergedError: training loss became nan at epoch 3"
    lost = ray.train.WorkerGroupError("a node died", {1: ray.exceptions.RayActorError()})
    assert application_error(lost) is None  # infrastructure: Tune retries the trial
    # Ray Train's report of a worker lost with its node: a failed health check caused by Ray
    from ray.train.v2._internal.exceptions import WorkerHealthCheckFailedError

    check = WorkerHealthCheckFailedError("health check failed", ray.exceptions.ActorDiedError())
    assert application_error(ray.train.WorkerGroupError("lost", {1: check})) is None
    collateral = ray.train.WorkerGroupError("lost", {0: peer, 1: check})
    assert application_error(collateral) is None  # its peer's collective error is collateral
    both = ray.train.WorkerGroupError("lost", {0: cause, 1: check})
    assert application_error(both) == "DivergedError: training loss became nan at epoch 3"


def test_workers_must_be_a_positive_integer(tmp_path: Path) -> None:
    from orchestrator.experiments import resolve_experiment

    spec = resolve_experiment("ablation_cdc_theta", "smoke")
    assert apply_overrides(spec, {"resources.workers": "2"}).resources["workers"] == 2
    for bad in ("0", "1.5", "two"):
        with pytest.raises(SpecError, match="resources.workers must be a positive integer"):
            apply_overrides(spec, {"resources.workers": bad})
    path = tmp_path / "bad.yaml"
    path.write_text(SPEC.replace("workers: 2", "workers: -1"))
    with pytest.raises(SpecError, match=f"spec file {path}.*resources.workers"):
        load_spec_file(path)
