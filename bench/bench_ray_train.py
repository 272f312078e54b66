"""One small CDCN retrain as a plain trial (1 worker) and as a Ray Train run (2 DDP workers).

Both go through real Ray and the orchestrator's backend (a Tune trial; with 2 workers a
``TorchTrainer`` inside it) on the embedded synthetic benchmark, with the frame cache built
beforehand. Per setting it prints the trial's wall time (Ray Train start-up included), the
training time (rank 0's ``elapsed_s`` after the last epoch: training plus its per-epoch dev
scoring) and the training throughput in samples/s, then the 2-worker / 1-worker ratios.

    .venv/bin/python bench/bench_ray_train.py [--data-size smoke] [--epochs 3] [--cpus 2]

On a 2-core machine the two workers share the cores the single process had to itself: the
ratio shows what DDP's all-reduce and the sharded data leave of the second core, not a speed-up
a GPU cluster would see.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


class _Events:
    """Collects what the driver hears: epoch metrics and the final result's info."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []
        self.info: dict = {}
        self.error = ""

    def started(self, job, resumed: bool = False) -> None:
        pass

    def epoch(self, job, metrics: dict[str, float]) -> None:
        self.epochs.append(metrics)

    def finished(self, job, metrics: dict[str, float], artifact_dir: Path) -> None:
        self.info = json.loads((artifact_dir / "result.json").read_text())["info"]

    def failed(self, job, error: str) -> None:
        self.error = error


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-size", default="smoke")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--input-size", type=int, default=32)
    ap.add_argument("--width", type=float, default=0.125)
    ap.add_argument("--cpus", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("FAS_HOME", str(Path.home() / ".cache" / "fas-orchestrator"))

    import torch

    from orchestrator.backend.cluster import init_ray
    from orchestrator.backend.driver import RunOptions, run_trials
    from orchestrator.jobs import data_fingerprint, expand_jobs
    from orchestrator.runner import fold_manifest
    from orchestrator.settings import resolve_cache_root, resolve_data_root
    from orchestrator.specs import ExperimentSpec
    from protocols.protocols import PROTOCOLS
    from workloads.cache import build_cache
    from workloads.params import parse
    from workloads.train_eval import data_config
    from workloads.train_params import TrainEvalParams

    torch.set_num_threads(1)
    params = {
        "network": "cdcn",
        "theta": 0.7,
        "width": args.width,
        "input_size": args.input_size,
        "frames_per_video": 2,
        "representation": "static",
        "rank_k": 7,
        "loss": "depth",
        "epochs": args.epochs,
        "lr": 1e-3,
        "lr_step": 0,
        "weight_decay": 0.0,
        "batch_size": args.batch_size,
        "augment": False,
    }
    spec = ExperimentSpec("bench_ray_train", "train_eval", "oulu_npu_p1", params)
    root = resolve_data_root(None, args.data_size)
    cache_root = resolve_cache_root()
    folds, manifest = fold_manifest(spec, root)
    build_cache(manifest, data_config(parse(TrainEvalParams, params)), cache_root)
    job = expand_jobs(spec, [folds[0].name], data_fingerprint(manifest))[0]
    fold = PROTOCOLS.get(spec.protocol).folds(root)[0]
    train_frames = len(fold.train) * int(params["frames_per_video"])
    samples = train_frames * args.epochs

    init_ray(num_cpus=args.cpus)
    rows = {}
    with tempfile.TemporaryDirectory() as storage:
        for workers in (1, 2):
            events = _Events()
            start = time.perf_counter()
            run_trials(
                [job],
                events,
                name=f"bench_ray_train_w{workers}",
                options=RunOptions(
                    {"cpu": 1, "gpu": 0, "workers": workers}, root, cache_root, storage
                ),
            )
            wall = time.perf_counter() - start
            if events.error or not events.epochs:
                raise SystemExit(f"{workers} worker(s): trial failed: {events.error}")
            train_s = float(events.epochs[-1]["elapsed_s"])
            rows[workers] = {
                "trial wall, s": wall,
                "training (+ dev scoring), s": train_s,
                "per epoch, s": train_s / args.epochs,
                "train samples/s": samples / train_s,
                "samples/s over the trial wall": samples / wall,
            }

    print(
        f"\nCDCN width {args.width} input {args.input_size}: {args.epochs} epochs x "
        f"{train_frames} train frames, batch {args.batch_size}, {args.data_size} data, "
        f"local Ray with {args.cpus} CPUs (1 CPU per worker)"
    )
    print(f"  {'':34s} {'1 worker':>10s} {'2 workers':>10s} {'2w / 1w':>9s}")
    for name in rows[1]:
        one, two = rows[1][name], rows[2][name]
        print(f"  {name:34s} {one:10.2f} {two:10.2f} {two / one:9.2f}")


if __name__ == "__main__":
    main()
