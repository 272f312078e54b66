"""A killed driver: the same ``orchestrate run`` restores its Tune experiment and resumes.

The sweep runs in a subprocess (its own local Ray) with one trial at a time. Once one trial has
finished and another has written a per-epoch checkpoint, the whole process group gets SIGKILL
(driver and local Ray die together, nothing is shut down cleanly). Re-running the same command
must finish every trial with one MLflow child run each and no metric step twice, leave the
finished trial's run untouched and never compute any epoch twice: Tune's per-trial
``result.json`` (every report a trial made, across both drivers) holds each epoch once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXPERIMENT = "ablation_cdc_theta"
EPOCHS = 3
THETAS = "[0.0,0.5,0.7]"
REPO = Path(__file__).resolve().parents[2]


def _command(uri: str, storage: Path) -> list[str]:
    # resources.cpu=2 on a 2-CPU local Ray: one trial at a time, so "one finished, the next
    # mid-way" is a state the sweep passes through; small batches and eight frames per video
    # make an epoch last seconds, well past the 0.8 s the kill waits after a checkpoint.
    sets = [
        f"grid.theta={THETAS}",
        f"epochs={EPOCHS}",
        "batch_size=8",
        "frames_per_video=8",
        "resources.cpu=2",
    ]
    args = [sys.executable, "-m", "orchestrator.cli", "run", EXPERIMENT, "--preset", "smoke"]
    for s in sets:
        args += ["--set", s]
    return args + ["--tracking-uri", uri, "--storage-path", str(storage)]


def _env() -> dict[str, str]:
    # Tune saves its experiment state at most every TUNE_GLOBAL_CHECKPOINT_S: short here, so
    # the state the restore reads is the one at the kill (the default only loses more work).
    return {**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "0.25", "PYTHONPATH": str(REPO)}


def _children(client: MlflowClient) -> list:
    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        return []
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    return [r for r in runs if "mlflow.parentRunId" in r.data.tags]


def _trial_dirs(storage: Path) -> dict[str, Path]:
    """Run key -> Tune trial directory (trials are named by run key)."""
    return {d.name: d for d in storage.glob("*/*") if d.is_dir() and (d / "params.json").exists()}


def _checkpoints(trial_dir: Path) -> list[Path]:
    return sorted(trial_dir.glob("checkpoint_*"))


def _mid_trial(trial_dir: Path, settled_for: float = 0.0) -> bool:
    """A trial with a per-epoch checkpoint, no final one yet, and no checkpoint newer than
    ``settled_for`` seconds (so Tune's saved state already names the latest one)."""
    cks = _checkpoints(trial_dir)
    if not any((c / "state.pt").exists() for c in cks):
        return False
    if any((c / "result.json").exists() for c in cks):
        return False
    return time.time() - max(c.stat().st_mtime for c in cks) >= settled_for


def _history(client: MlflowClient, run) -> dict[str, list[tuple[int, float, int]]]:
    return {
        name: [
            (m.step, m.value, m.timestamp) for m in client.get_metric_history(run.info.run_id, name)
        ]
        for name in run.data.metrics
    }


def _reports(trial_dir: Path) -> list[dict]:
    lines = (trial_dir / "result.json").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_killed_driver_resumes_from_checkpoints(smoke_root: Path, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    storage = tmp_path / "ray_results"
    client = MlflowClient(uri)
    cmd = _command(uri, storage)
    log = tmp_path / "first.log"

    start = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=tmp_path, env=_env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the sweep ended before the kill:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no trial finished and another mid-way:\n{log.read_text()[-3000:]}")
            finished = [c for c in _children(client) if c.info.status == "FINISHED"]
            dirs = _trial_dirs(storage)
            done = {c.data.tags["run_key"] for c in finished}
            # 0.8 s (three state saves) after its latest checkpoint, before the next one
            if finished and any(_mid_trial(d, 0.8) for k, d in dirs.items() if k not in done):
                break
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the driver and its local Ray, at once
        proc.wait(timeout=60)
    first_seconds = time.perf_counter() - start

    # What the dead driver left: MLflow runs and Tune trial directories.
    at_kill = {c.data.tags["run_key"]: c for c in _children(client)}
    before = {k: _history(client, c) for k, c in at_kill.items()}
    reports_at_kill = {k: len(_reports(d)) for k, d in _trial_dirs(storage).items()}
    finished_before = {k for k, c in at_kill.items() if c.info.status == "FINISHED"}
    interrupted = {k for k, d in _trial_dirs(storage).items() if _mid_trial(d)} - finished_before
    assert finished_before and interrupted, (finished_before, interrupted)
    saved_epoch = {
        k: max(int(c.name.split("_")[-1]) for c in _checkpoints(_trial_dirs(storage)[k])) + 1
        for k in interrupted
    }  # checkpoint_00000N holds epoch N + 1 (one checkpoint per epoch)

    start = time.perf_counter()
    again = subprocess.run(
        cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=900
    )
    second_seconds = time.perf_counter() - start
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"{len(finished_before)} already in MLflow" in again.stdout
    assert "restored Tune experiment" in again.stdout

    children = _children(client)
    keys = [c.data.tags["run_key"] for c in children]
    assert len(keys) == 3 and len(set(keys)) == 3  # one child run per trial
    # The dead driver's parent run ends KILLED; the resumed runs move under the new parent.
    exp_id = client.get_experiment_by_name(EXPERIMENT).experiment_id
    parents = sorted(
        (r for r in client.search_runs([exp_id]) if "mlflow.parentRunId" not in r.data.tags),
        key=lambda r: r.info.start_time,
    )
    assert [r.info.status for r in parents] == ["KILLED", "FINISHED"]
    old_parent, new_parent = (r.info.run_id for r in parents)
    for child in children:
        key = child.data.tags["run_key"]
        assert child.info.status == "FINISHED", child.data.tags.get("error")
        history = _history(client, child)
        for name, points in history.items():
            steps = [step for step, _, _ in points]
            assert len(steps) == len(set(steps)), (key, name, steps)  # no step twice
        for name in ("epoch", "train_loss", "dev_eer"):
            assert sorted(s for s, _, _ in history[name]) == list(range(1, EPOCHS + 1))
        if key in finished_before:  # untouched: same run, same end, same history
            assert child.info.run_id == at_kill[key].info.run_id
            assert child.info.end_time == at_kill[key].info.end_time
            assert history == before[key]
            assert child.data.tags["mlflow.parentRunId"] == old_parent
            assert len(_reports(_trial_dirs(storage)[key])) == reports_at_kill[key]
        if key in interrupted:  # the same run continued after the saved epoch
            assert child.info.run_id == at_kill[key].info.run_id
            assert child.data.tags["mlflow.parentRunId"] == new_parent
            assert int(child.data.tags["resumed_from_epoch"]) == saved_epoch[key] >= 1
            kept = [p for p in before[key]["epoch"] if p[0] <= saved_epoch[key]]
            assert kept and [p for p in history["epoch"] if p[0] <= saved_epoch[key]] == kept

    # No epoch of any trial was computed twice (a restart from scratch would repeat epoch 1).
    for key, trial_dir in _trial_dirs(storage).items():
        epochs = Counter(r["metrics"]["epoch"] for r in _reports(trial_dir) if r["kind"] == "epoch")
        assert sorted(epochs) == list(range(1, EPOCHS + 1)) and set(epochs.values()) == {1}, (
            key,
            epochs,
        )

    resumed = sum(EPOCHS - saved_epoch[k] for k in interrupted)
    print(
        f"\nkilled after {first_seconds:.1f}s ({len(finished_before)} trial(s) finished, "
        f"{len(interrupted)} mid-way at epoch(s) {sorted(saved_epoch.values())}); "
        f"re-run {second_seconds:.1f}s: {len(finished_before)} trial(s) reused, "
        f"{resumed} epoch(s) left of the interrupted, 0 epochs recomputed"
    )
