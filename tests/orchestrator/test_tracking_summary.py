"""Reading a child run's scores and writing a sweep's summary through the tracker (real MLflow,
SQLite under tmp_path)."""

from __future__ import annotations

import json

import pandas as pd
from mlflow.tracking import MlflowClient

from orchestrator.tracking.runs import Tracker


def test_scores_and_summary_round_trip(tmp_path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri, "exp")
    parent = tracker.start_parent("sweep", {"preset": "smoke"}, {"spec": "{}"})
    child = tracker.start_child(parent, "trial", {"run_key": "k"}, {"seed": 0})
    frame = pd.DataFrame({"video_id": ["a", "b"], "score": [0.1, 0.9], "label": [0, 1]})
    (tmp_path / "out").mkdir()
    frame.to_parquet(tmp_path / "out" / "scores.parquet", index=False)
    tracker.log_artifacts(child, tmp_path / "out")
    assert tracker.scores(child).equals(frame)
    assert tracker.scores(parent) is None  # no scores: None, not an error

    stats = json.dumps({"rows": [{"metric": "acer", "ci_low": 0.1}]}).encode()
    tracker.log_summary(parent, {"statistics.json": stats, "table.md": b"| a |"}, "**t**\n\n| a |")
    client = MlflowClient(uri)
    names = {a.path for a in client.list_artifacts(parent, "summary")}
    assert names == {"summary/statistics.json", "summary/table.md"}
    assert client.get_run(parent).data.tags["mlflow.note.content"] == "**t**\n\n| a |"
