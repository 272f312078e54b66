"""Driving a real ``orchestrate run`` in a subprocess, paced by the trial gate, never by a timer.

With ``FAS_TRIAL_GATE`` set, each trial stops after each checkpointed epoch and writes
``<run_key>.<epoch>.reached`` into the gate folder until the test releases it (``release``): a
test knows exactly where the sweep stands when it kills, interrupts or races it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from orchestrator.trials import GATE_ENV

REPO = Path(__file__).resolve().parents[1]
#: A bound on how long a wait may take before the test fails with what it saw (not a pace).
PATIENCE = 600.0


def data_parallel_spec(name: str, epochs: int, retries: int) -> str:
    """A spec file's text: one smoke ``train_eval`` trial on two Ray Train CPU workers."""
    return f"""
name: {name}
workload: train_eval
protocol: oulu_npu_p1
data_size: smoke
params: {{network: cdcn, theta: 0.7, width: 0.125, input_size: 32, frames_per_video: 2,
         representation: static, rank_k: 7, loss: depth, epochs: {epochs}, lr: 0.001,
         lr_step: 0, weight_decay: 0.0, batch_size: 16, augment: false}}
resources: {{cpu: 1, gpu: 0, workers: 2}}
retries: {retries}
"""


def command(
    experiment: str, uri: str, storage: Path, sets: list[str], preset: str = "smoke"
) -> list[str]:
    args = [sys.executable, "-m", "orchestrator.cli", "run", experiment, "--preset", preset]
    for s in sets:
        args += ["--set", s]
    return args + ["--tracking-uri", uri, "--storage-path", str(storage)]


def env(gate: Path | None = None, **extra: str) -> dict[str, str]:
    # Tune saves its experiment state at most every TUNE_GLOBAL_CHECKPOINT_S: short here, so
    # a killed driver's state names its trials' latest checkpoints.
    out = {**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "0.25", "PYTHONPATH": str(REPO), **extra}
    if gate is not None:
        gate.mkdir(parents=True, exist_ok=True)
        out[GATE_ENV] = str(gate)
    else:
        out.pop(GATE_ENV, None)
    return out


def start(cmd: list[str], cwd: Path, environ: dict[str, str], log: Path) -> subprocess.Popen:
    """A driver in its own process group (a Ctrl-C or a kill reaches it and its local Ray)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd, cwd=cwd, env=environ, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def reached(gate: Path) -> list[tuple[str, int]]:
    """(run key, epoch) of every gate a trial has reached so far."""
    out = []
    for p in gate.glob("*.reached"):
        key, epoch, _ = p.name.rsplit(".", 2)
        out.append((key, int(epoch)))
    return sorted(out)


def wait_for(what: str, condition, procs: list[subprocess.Popen], logs: list[Path]):
    """Poll ``condition()`` until it returns something truthy; fail (with the logs) if a driver
    exits first or after ``PATIENCE`` seconds."""
    deadline = time.monotonic() + PATIENCE
    while True:
        got = condition()
        if got:
            return got
        tails = "\n".join(log.read_text(errors="replace")[-3000:] for log in logs if log.exists())
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"a driver exited ({p.returncode}) before {what}:\n{tails}")
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {PATIENCE:.0f}s for {what}:\n{tails}")
        time.sleep(0.05)


def close(gate: Path) -> None:
    """Make every trial wait at its next gate again, forgetting the gates reached so far."""
    for p in gate.iterdir():
        p.unlink()


def release(gate: Path, key: str | None = None, epoch: int | None = None) -> None:
    """Let one trial's epoch through, or every gate (``key`` None) from now on."""
    (gate / (f"{key}.{epoch}.go" if key else "go")).touch()


def runs(uri: str, experiment: str) -> tuple[list, list]:
    """(parent runs oldest first, child runs) of an experiment."""
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return [], []
    found = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in found if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in found if "mlflow.parentRunId" in r.data.tags]
    return sorted(parents, key=lambda r: r.info.start_time), children


def steps(uri: str, run, name: str | None = None) -> list[int]:
    """The epochs (steps) a run logged ``name`` at; by default its per-epoch training loss
    (``train_loss``, else a search's ``search_train_loss``): epochs are steps, not a metric."""
    client = MlflowClient(uri)
    if name is None:
        held = client.get_run(run.info.run_id).data.metrics
        name = "train_loss" if "train_loss" in held else "search_train_loss"
    return sorted(m.step for m in client.get_metric_history(run.info.run_id, name))
