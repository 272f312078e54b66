"""What a killed driver costs: an uninterrupted tiny sweep vs killed + re-run (resumed).

Three runs of the same ``orchestrate run`` (each in a subprocess with its own local Ray, a fresh
SQLite MLflow store and Ray storage):

* ``uninterrupted``: the sweep once;
* ``resumed``: killed (SIGKILL to the process group: driver and local Ray) once a trial has
  finished and another is mid-way after a per-epoch checkpoint, then the same command again,
  which restores the Tune experiment: unfinished trials continue from their checkpoints;
* ``restarted``: the same kill, but the Tune state is deleted before the re-run, as before
  per-epoch checkpoints and restore existed: finished trials are still reused from MLflow, the
  interrupted ones start over.

Epochs computed are counted from Tune's per-trial ``result.json`` (every report of a trial,
across both drivers), so "recomputed" is measured, not inferred.

    .venv/bin/python bench/bench_resume.py [--thetas 0.0,0.5,0.7] [--epochs 4] [--batch-size 8]
                                          [--kill-at-epoch 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def command(args: argparse.Namespace, root: Path, epochs: int) -> list[str]:
    sets = [
        f"grid.theta=[{args.thetas}]",
        f"epochs={epochs}",
        f"batch_size={args.batch_size}",
        "resources.cpu=2",  # one trial at a time on 2 CPUs
    ]
    cmd = [sys.executable, "-m", "orchestrator.cli", "run", "ablation_cdc_theta"]
    cmd += ["--preset", "smoke", "--tracking-uri", f"sqlite:///{root / 'mlflow.db'}"]
    cmd += ["--storage-path", str(root / "ray_results")]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def env() -> dict[str, str]:
    return {**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "0.25", "PYTHONPATH": str(REPO)}


def epoch_reports(storage: Path) -> Counter:
    """(run key, epoch) -> how many times a trial reported it."""
    seen: Counter = Counter()
    for path in storage.glob("*/*/result.json"):
        for line in path.read_text().splitlines():
            r = json.loads(line)
            if r.get("kind") == "epoch":
                seen[(path.parent.name, int(r["metrics"]["epoch"]))] += 1
    return seen


def mid_trial(trial_dir: Path, settled_for: float, epoch: int) -> bool:
    """Checkpointed ``epoch`` (checkpoint_00000N: epoch N + 1), not finished, and Tune's state
    (saved every 0.25 s here) has seen that checkpoint for ``settled_for`` seconds."""
    cks = list(trial_dir.glob("checkpoint_*"))
    if not cks or any((c / "result.json").exists() for c in cks):
        return False
    if max(int(c.name.rsplit("_", 1)[1]) for c in cks) + 1 < epoch:
        return False
    return time.time() - max(c.stat().st_mtime for c in cks) >= settled_for


def run_killed(cmd: list[str], root: Path, epoch: int) -> float:
    """Run until one trial finished and another checkpointed ``epoch``; SIGKILL."""
    storage = root / "ray_results"
    start = time.perf_counter()
    with (root / "killed.log").open("wb") as log:
        proc = subprocess.Popen(
            cmd, env=env(), cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        while proc.poll() is None:
            dirs = [d for d in storage.glob("*/*") if (d / "params.json").exists()]
            final = [d for d in dirs if list(d.glob("checkpoint_*/result.json"))]
            if final and any(mid_trial(d, 0.8, epoch) for d in dirs if d not in final):
                break
            time.sleep(0.1)
        else:
            raise SystemExit("the sweep finished before it could be killed: use more epochs")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return time.perf_counter() - start


def run(cmd: list[str], root: Path) -> float:
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env(), cwd=root, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stdout[-2000:] + out.stderr[-2000:])
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--thetas", default="0.0,0.5,0.7")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--kill-at-epoch", type=int, help="default: the last but one")
    args = ap.parse_args()
    kill_at = args.kill_at_epoch or max(1, args.epochs - 1)
    os.environ.setdefault("FAS_HOME", str(Path.home() / ".cache" / "fas-orchestrator"))
    n_trials = len(args.thetas.split(","))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm"  # data and frame cache built once, outside the timings
        warm.mkdir()
        run(command(args, warm, epochs=1), warm)
        for scenario in ("uninterrupted", "resumed", "restarted"):
            root = Path(tmp) / scenario
            root.mkdir()
            cmd = command(args, root, args.epochs)
            storage = root / "ray_results"
            if scenario == "uninterrupted":
                walls = [run(cmd, root)]
                counts = epoch_reports(storage)
            else:
                walls = [run_killed(cmd, root, kill_at)]
                before = epoch_reports(storage)
                if scenario == "restarted":
                    shutil.rmtree(storage)  # no Tune state: as before resuming existed
                walls.append(run(cmd, root))
                # a restored trial appends to its result.json: it holds both drivers' reports
                counts = (
                    before + epoch_reports(storage)
                    if scenario == "restarted"
                    else (epoch_reports(storage))
                )
            computed = sum(counts.values())
            recomputed = sum(n - 1 for n in counts.values() if n > 1)
            trials_again = len({k for (k, _), n in counts.items() if n > 1})
            rows.append((scenario, walls, computed, recomputed, trials_again))
    print(
        f"ablation_cdc_theta smoke, {n_trials} trials x {args.epochs} epochs, one at a time; "
        f"killed once a trial finished and the next checkpointed epoch {kill_at}"
    )
    print(f"{'scenario':<14} {'wall (s)':>22} {'epochs run':>11} {'recomputed':>11} {'trials':>7}")
    for scenario, walls, computed, recomputed, trials_again in rows:
        wall = " + ".join(f"{w:.1f}" for w in walls)
        wall = f"{wall} = {sum(walls):.1f}" if len(walls) > 1 else wall
        print(f"{scenario:<14} {wall:>22} {computed:>11} {recomputed:>11} {trials_again:>7}")
    print(f"(of {n_trials * args.epochs} epochs; 'trials': trials with an epoch computed twice)")


if __name__ == "__main__":
    main()
