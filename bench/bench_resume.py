"""What a killed driver costs: an uninterrupted tiny sweep vs killed + re-run (resumed).

Three runs of the same ``orchestrate run`` (each in a subprocess with its own local Ray, a fresh
SQLite MLflow store and Ray storage):

* ``uninterrupted``: the sweep once;
* ``resumed``: killed (SIGKILL to the process group: driver and local Ray) once a trial has
  finished and another is mid-way after a per-epoch checkpoint, then the same command again,
  which recovers what the dead driver left: unfinished trials continue from their checkpoints;
* ``restarted``: the same kill, but the Tune state is deleted before the re-run, as before
  per-epoch checkpoints and restore existed: finished trials are still reused from MLflow, the
  interrupted ones start over.

Then the two kinds of trial that used to start over, each killed the same way (the whole process
group) and re-run once:

* ``search``: one ``nas_search`` trial (``nas_fas_space``, smoke, S-CD-Max), killed mid-search
  once it checkpointed search epoch ``--search-kill-at`` of ``--search-epochs``;
* ``data-parallel``: one ``ablation_cdc_theta`` trial with ``resources.workers=2`` (Ray Train,
  two gloo workers), killed once its Train run registered epoch ``--kill-at-epoch``'s checkpoint.

Epochs computed are counted from Tune's per-trial ``result.json`` (every report of a trial),
read after the kill and again after the re-run (which recovers into a new Tune experiment), so
"recomputed" is measured, not inferred. (Work inside the epoch that was
running at the kill is lost too; it is not an epoch computed twice.)

    .venv/bin/python bench/bench_resume.py [--thetas 0.0,0.5,0.7] [--epochs 4] [--batch-size 8]
                                          [--kill-at-epoch 3] [--search-epochs 6]
                                          [--search-kill-at 3] [--only sweep,search,dp]
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


def epoch_reports(storage: Path, earlier: dict[Path, str] | None = None) -> Counter:
    """(run key, epoch) -> how many times a trial reported it. ``earlier``: the trials' report
    files before a restore (``report_files``): a trial restored from a Tune checkpoint appends
    to its file, one restarted without one (a data-parallel trial, whose checkpoints are its
    Train run's) starts a new file, so the earlier reports are added back."""
    seen: Counter = Counter()
    files = report_files(storage)
    for path in set(files) | set(earlier or {}):
        text, before = files.get(path, ""), (earlier or {}).get(path, "")
        if not text.startswith(before):
            text = before + text
        for line in text.splitlines():
            r = json.loads(line)
            if r.get("kind") == "epoch":
                seen[(path.parent.name, int(r["metrics"]["epoch"]))] += 1
    return seen


def report_files(storage: Path) -> dict[Path, str]:
    """Each Tune trial's ``result.json`` (every report it made)."""
    return {
        path: path.read_text()
        for path in storage.glob("*/*/result.json")
        if (path.parent / "params.json").exists()  # not a Ray Train run's final checkpoint
    }


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

    def ready(storage: Path) -> bool:
        dirs = [d for d in storage.glob("*/*") if (d / "params.json").exists()]
        final = [d for d in dirs if list(d.glob("checkpoint_*/result.json"))]
        return bool(final) and any(mid_trial(d, 0.8, epoch) for d in dirs if d not in final)

    return kill_when(cmd, root, ready)


def kill_when(cmd: list[str], root: Path, ready) -> float:
    """Run ``cmd`` until ``ready(storage)``; SIGKILL its process group (driver and local Ray)."""
    storage = root / "ray_results"
    start = time.perf_counter()
    with (root / "killed.log").open("wb") as log:
        proc = subprocess.Popen(
            cmd, env=env(), cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        while proc.poll() is None:
            if ready(storage):
                break
            time.sleep(0.1)
        else:
            raise SystemExit("the run finished before it could be killed: use more epochs")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return time.perf_counter() - start


def search_command(args: argparse.Namespace, root: Path) -> list[str]:
    sets = [
        "grid.variant=[S-CD-Max]",
        f"search_epochs={args.search_epochs}",
        "search_steps=20",
        "frames_per_video=4",  # search epochs of seconds: Tune's state sees each checkpoint
        "epochs=2",
        "resources.cpu=2",
    ]
    return experiment_command("nas_fas_space", sets, root)


def dp_command(args: argparse.Namespace, root: Path) -> list[str]:
    sets = [
        "grid.theta=[0.7]",
        f"epochs={args.epochs}",
        f"batch_size={args.batch_size}",
        "resources.workers=2",
        "resources.cpu=1",
    ]
    return experiment_command("ablation_cdc_theta", sets, root)


def experiment_command(name: str, sets: list[str], root: Path) -> list[str]:
    cmd = [sys.executable, "-m", "orchestrator.cli", "run", name, "--preset", "smoke"]
    cmd += ["--tracking-uri", f"sqlite:///{root / 'mlflow.db'}"]
    cmd += ["--storage-path", str(root / "ray_results")]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def search_checkpointed(storage: Path, epoch: int) -> bool:
    """A trial's latest Tune checkpoint is a search state after search epoch >= ``epoch``
    (one checkpoint per search epoch: checkpoint_00000N holds epoch N + 1), seen by Tune's
    state for 0.8 s."""
    for d in storage.glob("*/*"):
        cks = sorted(d.glob("checkpoint_*"))
        if cks and (cks[-1] / "search_state.pt").exists():
            if int(cks[-1].name.rsplit("_", 1)[1]) + 1 >= epoch:
                return time.time() - cks[-1].stat().st_mtime >= 0.8
    return False


def train_checkpointed(storage: Path, epoch: int) -> bool:
    """A Ray Train run registered the checkpoint of epoch >= ``epoch``."""
    for snap in storage.glob("*/checkpoint_manager_snapshot.json"):
        try:
            latest = json.loads(snap.read_text()).get("latest_checkpoint_result") or {}
        except ValueError:
            continue
        if float(latest.get("metrics", {}).get("epoch", 0.0)) >= epoch:
            return True
    return False


def killed_and_rerun(cmd: list[str], root: Path, ready) -> tuple[list[float], Counter]:
    walls = [kill_when(cmd, root, ready)]
    before = report_files(root / "ray_results")
    walls.append(run(cmd, root))
    return walls, epoch_reports(root / "ray_results", before)


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
    ap.add_argument("--search-epochs", type=int, default=6)
    ap.add_argument("--search-kill-at", type=int, default=3)
    ap.add_argument("--only", default="sweep,search,dp")
    args = ap.parse_args()
    kill_at = args.kill_at_epoch or max(1, args.epochs - 1)
    only = set(args.only.split(","))
    os.environ.setdefault("FAS_HOME", str(Path.home() / ".cache" / "fas-orchestrator"))
    n_trials = len(args.thetas.split(","))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm"  # data and frame cache built once, outside the timings
        warm.mkdir()
        run(command(args, warm, epochs=1), warm)
        for scenario in ("uninterrupted", "resumed", "restarted") if "sweep" in only else ():
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
                # the rerun recovers into a new Tune experiment: both drivers' reports count
                counts = before + epoch_reports(storage)
            rows.append((scenario, walls, *tally(counts)))
        if "search" in only:
            root = Path(tmp) / "search"
            root.mkdir()
            at = args.search_kill_at
            walls, counts = killed_and_rerun(
                search_command(args, root), root, lambda s: search_checkpointed(s, at)
            )
            rows.append((f"search ({at}/{args.search_epochs})", walls, *tally(counts)))
        if "dp" in only:
            root = Path(tmp) / "dp"
            root.mkdir()
            walls, counts = killed_and_rerun(
                dp_command(args, root), root, lambda s: train_checkpointed(s, kill_at)
            )
            rows.append((f"data-parallel ({kill_at}/{args.epochs})", walls, *tally(counts)))
    if "sweep" in only:
        print(
            f"sweep: ablation_cdc_theta smoke, {n_trials} trials x {args.epochs} epochs, one at a "
            f"time; killed once a trial finished and the next checkpointed epoch {kill_at}"
        )
    if "search" in only:
        print(
            f"search: one nas_search trial ({args.search_epochs} search + 2 retrain epochs), "
            f"killed after search epoch {args.search_kill_at}"
        )
    if "dp" in only:
        print(
            f"data-parallel: one 2-worker trial of {args.epochs} epochs, killed after epoch "
            f"{kill_at}"
        )
    print(f"{'scenario':<22} {'wall (s)':>22} {'epochs run':>11} {'recomputed':>11} {'trials':>7}")
    for scenario, walls, computed, recomputed, trials_again in rows:
        wall = " + ".join(f"{w:.1f}" for w in walls)
        wall = f"{wall} = {sum(walls):.1f}" if len(walls) > 1 else wall
        print(f"{scenario:<22} {wall:>22} {computed:>11} {recomputed:>11} {trials_again:>7}")
    print("('trials': trials with an epoch computed twice)")


def tally(counts: Counter) -> tuple[int, int, int]:
    """Epochs computed, computed more than once, and trials with any computed twice."""
    computed = sum(counts.values())
    recomputed = sum(n - 1 for n in counts.values() if n > 1)
    return computed, recomputed, len({k for (k, _), n in counts.items() if n > 1})


if __name__ == "__main__":
    main()
