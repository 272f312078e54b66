"""What the MLflow UI shows, written through the tracker (real MLflow, SQLite under tmp_path):
the experiment's kind, description and results view, one parent per sweep identity, the
trial's source and data set, no internal tags; and the sweep's summary metrics."""

from __future__ import annotations

import json

import pandas as pd
from mlflow.tracking import MlflowClient

from orchestrator.sweep_summary import summary_metrics
from orchestrator.tracking.presentation import (
    TRAINING_KIND,
    VIEW_TAG_PREFIX,
    dataset_input,
    landing_url,
    source_tags,
)
from orchestrator.tracking.runs import CREATE_TOKEN_TAG, Tracker


def test_experiment_is_a_training_experiment_with_a_results_view(tmp_path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri, "exp")
    tracker.describe("CDCN with theta swept", ["theta"])
    tags = MlflowClient(uri).get_experiment(tracker.experiment_id).tags
    assert tags["mlflow.experimentKind"] == TRAINING_KIND
    assert tags["mlflow.note.content"] == "CDCN with theta swept"
    view = json.loads(tags[VIEW_TAG_PREFIX + "results"])
    state = json.loads(view["state"])
    assert view["name"] == "Results" and state["orderByKey"] == "params.`theta`"
    assert state["selectedColumns"][:2] == ["params.`theta`", "params.`seed`"]
    assert "metrics.`test_acer`" in state["selectedColumns"]
    url = landing_url("http://127.0.0.1:5000/", tracker.experiment_id)
    assert url.endswith(
        f"/#/experiments/{tracker.experiment_id}/runs"
        "?workflowType=machine_learning&viewStateShareKey=results"
    )


def test_one_parent_per_sweep_identity_and_clean_child_runs(tmp_path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri, "exp")
    first = tracker.start_parent("exp-smoke", {"n_trials": "2"}, {}, {"grid": [0]}, identity="a")
    tracker.end(first)
    again = tracker.start_parent("exp-smoke", {"n_trials": "3"}, {}, {"grid": [1]}, identity="a")
    other = tracker.start_parent("exp-smoke", {}, {}, identity="b")
    assert again == first and other != first
    client = MlflowClient(uri)
    run = client.get_run(first)
    assert run.info.status == "RUNNING" and run.data.tags["n_trials"] == "3"
    assert tracker.spec(first) == {"grid": [1]}

    child = tracker.start_child(first, "theta=0_s0", {"run_key": "k", **source_tags("abc")}, {})
    manifest = pd.DataFrame({"video_id": ["a", "b"], "label": [1, 0], "path": ["x", "y"]})
    tracker.log_dataset(child, dataset_input(manifest, "oulu_npu_p1", "f" * 40))
    got = client.get_run(child)
    assert CREATE_TOKEN_TAG not in got.data.tags and CREATE_TOKEN_TAG not in run.data.tags
    assert got.data.tags["mlflow.source.git.commit"] == "abc"
    (ds,) = got.inputs.dataset_inputs
    assert ds.dataset.name == "oulu_npu_p1" and ds.tags[0].value == "eval"


def test_summary_metrics_per_grid_point_and_best() -> None:
    children = pd.DataFrame(
        {
            "status": ["FINISHED"] * 4 + ["FAILED"],
            "params.theta": ["0.0", "0.0", "0.7", "0.7", "0.3"],
            "metrics.test_acer": [0.2, 0.4, 0.1, 0.2, 0.0],
            "metrics.test_auc": [0.9, 0.8, 0.95, 0.9, 1.0],
        }
    )
    metrics, tags = summary_metrics(children, ["theta"])
    assert abs(metrics["mean/test_acer/theta_0"] - 0.3) < 1e-12
    assert abs(metrics["mean/test_acer/theta_0.7"] - 0.15) < 1e-12
    assert abs(metrics["best/test_acer"] - 0.15) < 1e-12 and "theta_0.3" not in str(metrics)
    assert tags["best"].startswith("theta=0.7 (test_acer 0.1500")
    assert summary_metrics(pd.DataFrame(), ["theta"]) == ({}, {})
