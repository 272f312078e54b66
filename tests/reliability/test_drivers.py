"""Drivers of one experiment: one at a time, Ctrl-C reported as such, a dead driver's claim taken
over. Real ``orchestrate run`` subprocesses, real local Ray and SQLite MLflow; the sweep's pace
is set by the trial gate (``tests/sweeps.py``), never by a timer."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.tracking.claim import DriverBusy, DriverLock
from orchestrator.tracking.runs import Tracker
from tests import sweeps

EXPERIMENT = "ablation_cdc_theta"
SETS = ["grid.theta=[0.0,0.7]", "epochs=2", "batch_size=8"]


def _assert_each_trial_once(uri: str, n_trials: int, epochs: int) -> list:
    _, children = sweeps.runs(uri, EXPERIMENT)
    keys = [c.data.tags["run_key"] for c in children]
    assert len(keys) == n_trials and len(set(keys)) == n_trials, keys
    for child in children:
        assert child.info.status == "FINISHED", child.data.tags.get("error")
        assert sweeps.steps(uri, child) == list(range(1, epochs + 1))  # each epoch once
    return children


@pytest.mark.integration
@pytest.mark.slow
def test_two_drivers_started_together_one_runs_the_other_refuses(
    smoke_root: Path, tmp_path: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    gate = tmp_path / "gate"
    cmd = sweeps.command(EXPERIMENT, uri, tmp_path / "ray", [*SETS, "resources.cpu=1"])
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [sweeps.start(cmd, tmp_path, sweeps.env(gate), log) for log in logs]
    try:
        # The winner's trials wait at their first gate, so it holds the claim until released:
        # the other driver must have refused by then, whenever it got there.
        ended = sweeps.wait_for(
            "one driver to refuse",
            lambda: [i for i, p in enumerate(procs) if p.poll() is not None],
            [],
            logs,
        )
        assert len(ended) == 1, [p.returncode for p in procs]
        loser, winner = ended[0], 1 - ended[0]
        assert procs[loser].returncode == 75, logs[loser].read_text()
        refusal = logs[loser].read_text()
        assert f"is being run by another driver (pid {procs[winner].pid} on" in refusal
        assert "Traceback" not in refusal and len(refusal.strip().splitlines()) <= 3
        assert procs[winner].poll() is None  # still held at its gate
        sweeps.wait_for("a trial at its gate", lambda: sweeps.reached(gate), [], logs)
        sweeps.release(gate)
        assert procs[winner].wait(timeout=sweeps.PATIENCE) == 0, logs[winner].read_text()[-3000:]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    assert "Traceback" not in logs[winner].read_text()
    _assert_each_trial_once(uri, 2, 2)
    parents, _ = sweeps.runs(uri, EXPERIMENT)
    assert [p.info.status for p in parents] == ["FINISHED"]  # the refused driver wrote nothing
    assert MlflowClient(uri).search_registered_models() == []  # the claim was released


@pytest.mark.integration
@pytest.mark.slow
def test_ctrl_c_ends_killed_with_exit_130_and_the_same_command_resumes(
    smoke_root: Path, tmp_path: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    gate = tmp_path / "gate"
    # one trial at a time (2 CPUs each): the first waits after its first epoch's checkpoint
    cmd = sweeps.command(EXPERIMENT, uri, tmp_path / "ray", [*SETS, "resources.cpu=2"])
    log = tmp_path / "first.log"
    proc = sweeps.start(cmd, tmp_path, sweeps.env(gate), log)
    try:
        (key, epoch), *_ = sweeps.wait_for(
            "a trial at its gate", lambda: sweeps.reached(gate), [proc], [log]
        )
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        code = proc.wait(timeout=sweeps.PATIENCE)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    out = log.read_text()
    assert code == 130, out[-3000:]
    assert "interrupted:" in out and "run the same command again to resume" in out
    assert "Traceback" not in out and "done:" not in out
    parents, children = sweeps.runs(uri, EXPERIMENT)
    assert [p.info.status for p in parents] == ["KILLED"]
    held = {c.data.tags["run_key"]: c for c in children}
    assert held[key].info.status == "KILLED" and sweeps.steps(uri, held[key]) == [epoch]

    again = sweeps.start(cmd, tmp_path, sweeps.env(), tmp_path / "second.log")
    assert again.wait(timeout=sweeps.PATIENCE) == 0, (tmp_path / "second.log").read_text()[-3000:]
    children = _assert_each_trial_once(uri, 2, 2)
    resumed = next(c for c in children if c.data.tags["run_key"] == key)
    assert resumed.info.run_id == held[key].info.run_id  # the same run continued
    assert resumed.data.tags["resumed_from_epoch"] == str(epoch)
    parents, _ = sweeps.runs(uri, EXPERIMENT)
    assert [p.info.status for p in parents] == ["FINISHED"]  # the same sweep: the same parent


def test_a_live_claim_refuses_a_stale_or_orphaned_one_is_taken_over(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri, EXPERIMENT)
    with DriverLock(tracker):
        with pytest.raises(DriverBusy, match=rf"another driver \(pid {os.getpid()} on "):
            DriverLock(Tracker(uri, EXPERIMENT)).acquire()
    assert tracker.client.search_registered_models() == []  # released on exit

    # A driver on another host whose heartbeat stopped long ago: taken over.
    old = {"host": "elsewhere", "pid": "1", "started": "then", "heartbeat": "0", "token": "x"}
    tracker.client.create_registered_model(f"{EXPERIMENT}.driver", tags=old)
    lock = DriverLock(tracker)
    lock.acquire()
    assert tracker.client.get_registered_model(f"{EXPERIMENT}.driver").tags["token"] == lock.token
    lock.release()

    # A driver on this host whose process is gone: taken over at once, heartbeat fresh or not.
    gone = {**old, "host": socket.gethostname(), "pid": str(_a_finished_pid())}
    gone["heartbeat"] = f"{time.time():.3f}"
    tracker.client.create_registered_model(f"{EXPERIMENT}.driver", tags=gone)
    with DriverLock(tracker) as again:
        holder = tracker.client.get_registered_model(f"{EXPERIMENT}.driver").tags
        assert holder["token"] == again.token and holder["pid"] == str(os.getpid())


def test_the_heartbeat_is_renewed_while_the_driver_lives(tmp_path: Path) -> None:
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", EXPERIMENT)
    with DriverLock(tracker, stale_seconds=0.4):
        name = f"{EXPERIMENT}.driver"
        first = tracker.client.get_registered_model(name).tags["heartbeat"]
        sweeps.wait_for(
            "a renewed heartbeat",
            lambda: tracker.client.get_registered_model(name).tags["heartbeat"] != first,
            [],
            [],
        )


def _a_finished_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_store_that_refuses_writes_is_one_line_before_any_work(
    smoke_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from orchestrator.cli import app

    monkeypatch.chdir(tmp_path)
    Tracker(f"sqlite:///{tmp_path / 'm.db'}", EXPERIMENT)  # a store that exists ...
    read_only = f"sqlite:///file:{tmp_path / 'm.db'}?mode=ro&uri=true"  # ... opened read-only
    args = ["run", EXPERIMENT, "--preset", "smoke", "--set", "grid.theta=[0.0]"]
    out = CliRunner().invoke(app, [*args, "--tracking-uri", read_only])
    assert out.exit_code == 2, out.output
    assert "refused a write (" in out.output and "readonly database" in out.output
    assert "Traceback" not in out.output
    assert Tracker(f"sqlite:///{tmp_path / 'm.db'}", EXPERIMENT).runs().empty  # nothing started
