"""A killed driver: the same ``orchestrate run`` recovers what it left and resumes.

The sweep runs in a subprocess (its own local Ray) with one trial at a time, paced by the trial
gate: the test lets the first trial through, and when the second has checkpointed its first
epoch and waits at its gate, the whole process group gets SIGKILL (driver and local Ray die
together, nothing is shut down cleanly). Re-running the same command must finish every trial
with one MLflow child run each and no metric step twice, leave the finished trial's run
untouched, continue the interrupted one after its checkpointed epoch (it reports only the epochs
after it), and never unpickle what the dead driver left.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests import sweeps

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXPERIMENT = "ablation_cdc_theta"
EPOCHS = 3
SETS = ["grid.theta=[0.0,0.7]", f"epochs={EPOCHS}", "batch_size=8", "resources.cpu=2"]


def _history(client: MlflowClient, run) -> dict[str, list[tuple[int, float, int]]]:
    return {
        name: [
            (m.step, m.value, m.timestamp) for m in client.get_metric_history(run.info.run_id, name)
        ]
        for name in run.data.metrics
    }


def _reported_epochs(storage: Path, key: str) -> list[int]:
    """The epochs trial ``key`` reported in the current Tune experiment (its ``result.json``)."""
    (trial_dir,) = [d for d in storage.glob(f"*/{key}") if (d / "result.json").exists()]
    lines = (trial_dir / "result.json").read_text().splitlines()
    reports = [json.loads(line) for line in lines if line.strip()]
    return [int(r["metrics"]["epoch"]) for r in reports if r["kind"] == "epoch"]


def test_killed_driver_resumes_from_checkpoints(smoke_root: Path, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    storage = tmp_path / "ray_results"
    gate = tmp_path / "gate"
    client = MlflowClient(uri)
    cmd = sweeps.command(EXPERIMENT, uri, storage, SETS)
    log = tmp_path / "first.log"
    proc = sweeps.start(cmd, tmp_path, sweeps.env(gate), log)
    try:
        first = sweeps.wait_for("a trial at its gate", lambda: sweeps.reached(gate), [proc], [log])[
            0
        ][0]
        for epoch in range(1, EPOCHS + 1):  # the first trial runs to its end
            sweeps.wait_for(
                f"epoch {epoch}", lambda e=epoch: (first, e) in sweeps.reached(gate), [proc], [log]
            )
            sweeps.release(gate, first, epoch)
        second = sweeps.wait_for(
            "the second trial at its first gate",
            lambda: [k for k, e in sweeps.reached(gate) if k != first],
            [proc],
            [log],
        )[0]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its local Ray, at once
        proc.wait(timeout=60)

    # What the dead driver left: MLflow runs (the first finished, the second mid-way).
    at_kill = {c.data.tags["run_key"]: c for c in sweeps.runs(uri, EXPERIMENT)[1]}
    before = {k: _history(client, c) for k, c in at_kill.items()}
    assert at_kill[first].info.status == "FINISHED"
    assert at_kill[second].info.status == "RUNNING" and sweeps.steps(uri, at_kill[second]) == [1]
    for planted in storage.glob("*/tuner.pkl"):  # a pickle there must never be loaded
        planted.write_bytes(b"not a pickle: loading this would fail the resume")

    again = sweeps.start(cmd, tmp_path, sweeps.env(), tmp_path / "second.log")
    assert again.wait(timeout=sweeps.PATIENCE) == 0, (tmp_path / "second.log").read_text()[-3000:]
    out = (tmp_path / "second.log").read_text()
    assert "1 already in MLflow" in out and "1 continue from their checkpoints" in out

    parents, children = sweeps.runs(uri, EXPERIMENT)
    keys = [c.data.tags["run_key"] for c in children]
    assert sorted(keys) == sorted(at_kill)  # one child run per trial
    # One parent per sweep: the dead driver's parent run is the resumed sweep's, FINISHED now.
    assert [r.info.status for r in parents] == ["FINISHED"]
    old_parent = new_parent = parents[0].info.run_id
    for child in children:
        key = child.data.tags["run_key"]
        assert child.info.status == "FINISHED", child.data.tags.get("error")
        assert child.info.run_id == at_kill[key].info.run_id  # the same run, continued
        history = _history(client, child)
        for name, points in history.items():
            steps = [step for step, _, _ in points]
            assert len(steps) == len(set(steps)), (key, name, steps)  # no step twice
        for name in ("train_loss", "dev_eer"):
            assert sorted(s for s, _, _ in history[name]) == list(range(1, EPOCHS + 1))
    done = next(c for c in children if c.data.tags["run_key"] == first)
    resumed = next(c for c in children if c.data.tags["run_key"] == second)
    # untouched: same end, same history, same parent
    assert done.info.end_time == at_kill[first].info.end_time
    assert _history(client, done) == before[first]
    assert done.data.tags["mlflow.parentRunId"] == old_parent
    # continued after its checkpointed epoch 1, computing only the epochs after it
    assert resumed.data.tags["mlflow.parentRunId"] == new_parent
    assert resumed.data.tags["resumed_from_epoch"] == "1"
    held = before[second]["train_loss"]
    assert [p for p in _history(client, resumed)["train_loss"] if p[0] == 1] == held
    assert _reported_epochs(storage, second) == list(range(2, EPOCHS + 1))
    assert not list(storage.glob("*.resume"))  # the resume area goes once every trial ended
