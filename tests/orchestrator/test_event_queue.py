"""Trial events delivered on a writer thread (``QueuedEvents``) land in MLflow exactly as the
sink writes them when called directly: the same runs, params, metric histories, tags, statuses
and artifacts (real MLflow, SQLite under tmp_path)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from rich.console import Console

from orchestrator.event_queue import QueuedEvents
from orchestrator.experiments import resolve_experiment
from orchestrator.jobs import Job
from orchestrator.progress import SweepProgress
from orchestrator.sink import TrialSink
from orchestrator.tracking.runs import PARENT_TAG, Tracker

PARAMS = {"network": "cdcn", "theta": 0.7, "epochs": 2, "genotype": None}


def _job(key: str) -> Job:
    return Job(key, "exp", "train_eval", "oulu_npu_p1", "p1", 0, dict(PARAMS), f"t_{key}")


def _result(folder: Path) -> None:
    scores = pd.DataFrame({"video_id": ["a", "b"], "score": [0.2, 0.8], "label": [0, 1]})
    scores.to_parquet(folder / "scores.parquet", index=False)
    (folder / "model.pt").write_bytes(b"\x00weights")
    info = {"threshold_policy": "dev_eer", "apcer_per_pai": {"print": 0.25, "display 1": 0.5}}
    (folder / "result.json").write_text(json.dumps({"metrics": {}, "info": info}))


def _sweep(events, sink: TrialSink) -> None:
    """One finished trial (two epochs, whose artifact folder is gone after the call) and one
    failed trial, as Tune's callbacks deliver them."""
    ok, bad = _job("k1"), _job("k2")
    events.started(ok)
    events.started(bad)
    for epoch in (1, 2):
        metrics = {"epoch": epoch, "train_loss": 1.0 / epoch, "dev_eer": 0.3, "elapsed_s": 2.0}
        events.epoch(ok, metrics)
    with tempfile.TemporaryDirectory() as tmp:
        _result(Path(tmp))
        events.finished(ok, {"test_acer": 0.1, "test_auc": 0.9, "threshold": 0.5}, Path(tmp))
    events.failed(bad, "ValueError: boom")


def _store(tmp_path: Path, name: str, queued: bool) -> tuple[str, str]:
    uri = f"sqlite:///{tmp_path / name}"
    tracker = Tracker(uri, "exp")
    parent = tracker.start_parent("sweep", {"preset": "smoke"}, {})
    spec = resolve_experiment("ablation_cdc_theta", "smoke")
    with SweepProgress(Console(quiet=True), 2, "exp") as view:
        sink = TrialSink(tracker, parent, spec, view)
        if queued:
            events = QueuedEvents(sink)
            _sweep(events, sink)
            events.close()
        else:
            _sweep(sink, sink)
    tracker.flush()
    return uri, parent


def _content(uri: str, parent: str) -> dict[str, dict]:
    """Each child run by run key: what MLflow holds, without ids and clocks."""
    client = MlflowClient(uri)
    out = {}
    experiment = client.get_experiment_by_name("exp").experiment_id
    for run in client.search_runs([experiment]):
        tags = dict(run.data.tags)
        if tags.get(PARENT_TAG) != parent:
            continue
        tags.pop(PARENT_TAG)
        run_id = run.info.run_id
        history = {
            name: sorted((m.step, m.value) for m in client.get_metric_history(run_id, name))
            for name in run.data.metrics
        }
        with tempfile.TemporaryDirectory() as tmp:
            files = {}
            for art in client.list_artifacts(run_id):
                local = Path(client.download_artifacts(run_id, art.path, tmp))
                files[art.path] = local.read_bytes()
        inputs = [d.dataset.name for d in (run.inputs.dataset_inputs if run.inputs else [])]
        out[tags["run_key"]] = {
            "name": run.info.run_name,
            "status": run.info.status,
            "params": dict(run.data.params),
            "metrics": history,
            "tags": tags,
            "artifacts": files,
            "inputs": inputs,
        }
    return out


def test_queued_events_write_what_direct_calls_write(tmp_path) -> None:
    direct = _content(*_store(tmp_path, "direct.db", queued=False))
    queued = _content(*_store(tmp_path, "queued.db", queued=True))
    assert set(direct) == {"k1", "k2"}
    assert queued == direct
    assert direct["k1"]["status"] == "FINISHED" and direct["k2"]["status"] == "FAILED"
    assert direct["k1"]["metrics"]["train_loss"] == [(1, 1.0), (2, 0.5)]
    assert "scores.parquet" in direct["k1"]["artifacts"]


class _Broken:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def started(self, job: Job, resumed: bool = False) -> None:
        self.calls.append(job.run_key)
        raise OSError("store away")

    def failed(self, job: Job, error: str) -> None:
        self.calls.append(error)


def test_a_sink_error_stops_delivery_and_is_raised() -> None:
    sink = _Broken()
    events = QueuedEvents(sink)
    events.started(_job("k1"))
    with pytest.raises(RuntimeError, match="recording trial events failed") as err:
        events.drain()
    assert isinstance(err.value.__cause__, OSError)
    with pytest.raises(RuntimeError):
        events.failed(_job("k1"), "later")  # the next event raises too (Tune stops the sweep)
    assert sink.calls == ["k1"]  # nothing after the failure was delivered
    with pytest.raises(RuntimeError):
        events.close()
