"""The tracking store as the commands meet it (real MLflow, SQLite under tmp_path): a spec
longer than MLflow's param limit is kept in full.

The stores are filled through ``Tracker`` directly (no trials run)."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from orchestrator.experiments import resolve_experiment
from orchestrator.report import latest_spec
from orchestrator.tracking import CUT_MARK, MAX_PARAM, SPEC_ARTIFACT, Tracker


def _long_spec() -> dict:
    """A real spec whose JSON is longer than MLflow's 6,000-character param limit."""
    spec = resolve_experiment("ablation_cdc_theta", "smoke")
    note = "Swept on the smoke preset with the default CDCN settings. " * 150
    return dataclasses.replace(spec, description=note).to_dict()


def _scores(seed: int, n_subjects: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [
        {
            "video_id": f"{split}{s}_{v}",
            "score": float(rng.normal(1.0 if v < 2 else -1.0)),
            "label": int(v < 2),
            "pai": "live" if v < 2 else "print",
            "split": split,
            "subject": f"{split}{s}",
        }
        for split in ("dev", "test")
        for s in range(n_subjects)
        for v in range(4)
    ]
    return pd.DataFrame(rows)


def _fill(uri: str, tmp: Path) -> dict:
    """Experiment ``exp`` (a parent run with a long spec, four finished trials with scores, one
    failed), ``old`` (a parent written before spec.json: the spec only as a param) and ``empty``
    (no runs). Returns the long spec."""
    spec = _long_spec()
    tracker = Tracker(uri, "exp")
    parent = tracker.start_parent("sweep", {"preset": "smoke"}, {"n_trials": 5}, spec)
    for i, (theta, seed) in enumerate([(0.0, 0), (0.0, 1), (0.7, 0), (0.7, 1), (0.7, 2)]):
        tags = {"run_key": f"k{i}", "preset": "smoke", "workload": "train_eval"}
        child = tracker.start_child(parent, f"t{i}", tags, {"theta": theta, "seed": seed})
        if i == 4:
            tracker.set_tags(child, {"error": "diverged"})
            tracker.end(child, "FAILED")
            continue
        out = tmp / f"trial{i}"
        out.mkdir()
        _scores(i).to_parquet(out / "scores.parquet", index=False)
        tracker.log_metrics(child, {"test_apcer": 0.1 * i, "test_bpcer": 0.05, "test_acer": 0.2}, 0)
        tracker.log_artifacts(child, out)
        tracker.end(child, "FINISHED")
    tracker.end(parent, "FINISHED")
    old = Tracker(uri, "old")
    short = {"protocol": "oulu_npu_p1", "grid": {"theta": [0.0]}, "report": "ablation"}
    old_parent = old.start_parent("sweep", {}, {"spec": json.dumps({**short, "preset": "quick"})})
    old_child = old.start_child(old_parent, "t", {"run_key": "o", "preset": "quick"}, {"theta": 0})
    old.log_metrics(old_child, {"test_apcer": 0.3, "test_bpcer": 0.1, "test_acer": 0.2}, 0)
    old.end(old_child, "FINISHED")
    old.end(old_parent, "FINISHED")
    Tracker(uri, "empty")
    return spec


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[str, Path, dict]:
    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    return uri, root, _fill(uri, tmp_path_factory.mktemp("files"))


def test_long_spec_round_trips(store, tmp_path: Path) -> None:
    uri, _, spec = store
    text = json.dumps(spec, sort_keys=True)
    assert len(text) > MAX_PARAM
    tracker = Tracker(uri, "exp", create=False)
    parents = tracker.parent_runs()
    (run_id,) = parents["run_id"]
    assert tracker.spec(run_id) == spec
    assert latest_spec(parents, tracker.spec) == spec
    local = MlflowClient(uri).download_artifacts(run_id, SPEC_ARTIFACT, str(tmp_path))
    assert Path(local).read_text() == text  # in full
    param = parents.loc[0, "params.spec"]
    assert len(param) <= MAX_PARAM and param.endswith(CUT_MARK) and text.startswith(param[:-99])
    assert latest_spec(parents) is None  # the cut param alone is never parsed as a spec
    old = Tracker(uri, "old", create=False)  # written before spec.json: the param still reads
    assert old.spec(old.parent_runs().loc[0, "run_id"]) is None
    assert latest_spec(old.parent_runs(), old.spec)["preset"] == "quick"


def test_run_publishes_its_summary_from_the_full_spec(tmp_path: Path) -> None:
    """Only ``run`` writes the summary (``publish_summary``), and a long spec does not stop it."""
    from rich.console import Console

    from orchestrator.runner import publish_summary

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _fill(uri, tmp_path)
    tracker = Tracker(uri, "exp", create=False)
    parent = str(tracker.parent_runs().loc[0, "run_id"])
    console = Console(file=io.StringIO())
    publish_summary(tracker, parent, "exp", console)
    assert console.file.getvalue() == ""  # no warning
    names = {a.path for a in MlflowClient(uri).list_artifacts(parent, "summary")}
    assert {"summary/table.md", "summary/statistics.json"} <= names
