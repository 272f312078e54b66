"""Cache -> augmented float batches at paper size: images per second per CPU core.

Paper size: 256x256 static-dynamic frames, 8 per video, flips and illumination jitter, batch 32.
The entries hold random pixels (the data path's cost does not depend on them) and are read
through the frame cache like a trial reads them. Three loaders over the same dataset, interleaved
in one run so the machine's noise hits all of them alike:

- ``batch, in process``: the train loader on one core (no workers), batches cut at once;
- ``per item, in process``: a plain DataLoader calling ``dataset[i]`` per sample (the old path);
- ``batch, N workers``: the train loader with the workers a trial with N + 1 CPUs gets.

Per core = images / CPU seconds of the process doing the work (the in-process loaders), so other
load on the machine does not count against it; the workers' figure is wall throughput.
Run: ``.venv/bin/python bench/bench_datapath.py [--videos 48] [--rounds 3] [--cpus 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workloads import distributed  # noqa: E402
from workloads.cache import FrameCache, FrameDataset  # noqa: E402
from workloads.framestore import write_entry  # noqa: E402
from workloads.pipeline import PipelineConfig  # noqa: E402

GOAL = 100.0  # images / s / core
BATCH = 32


def paper_cache(root: Path, n: int) -> tuple[FrameCache, pd.DataFrame]:
    cfg = PipelineConfig(frames_per_video=8, input_size=256, map_size=32)
    rng = np.random.default_rng(0)
    directory = root / cfg.key()
    directory.mkdir(parents=True)
    entries, rows = {}, {}
    for i in range(n):
        key = ("oulu_npu", f"v{i:03d}")
        entries[key] = directory / f"v{i:03d}.frames"
        rows[key] = {"dataset": key[0], "video_id": key[1], "label": i % 2}
        images = rng.integers(0, 256, (8, 3, 256, 256), dtype=np.uint8)
        maps = rng.random((8, 32, 32), dtype=np.float32)
        write_entry(entries[key], {"images": images, "maps": maps})
    return FrameCache(directory, cfg, entries, rows), pd.DataFrame(list(rows.values()))


def run(loader) -> tuple[int, float, float]:
    """(images, wall seconds, CPU seconds of this process) for one pass."""
    n, wall, cpu = 0, time.perf_counter(), time.process_time()
    for images, *_ in loader:
        n += len(images)
    return n, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=2, help="the trial's CPUs for the workers run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        cache, manifest = paper_cache(Path(tmp), args.videos)
        t0 = time.perf_counter()
        ds = FrameDataset(cache, manifest, augment=True)
        t_open = time.perf_counter() - t0
        cpu = torch.device("cpu")
        gen = torch.Generator().manual_seed(0)
        loaders = {
            "batch, in process": distributed.train_loader(ds, BATCH, gen, 0, cpu, cpus=1),
            "per item, in process": DataLoader(ds, batch_size=BATCH, shuffle=True),
            f"batch, {args.cpus - 1} workers": distributed.train_loader(
                ds, BATCH, gen, 0, cpu, cpus=args.cpus
            ),
        }
        for loader in loaders.values():
            run(loader)  # warm-up: page cache, worker start
        got: dict[str, list[tuple[int, float, float]]] = {k: [] for k in loaders}
        for _ in range(args.rounds):
            for name, loader in loaders.items():
                got[name].append(run(loader))
    print(
        f"paper size: {args.videos} videos x 8 frames of 3x256x256 uint8, batch {BATCH}, "
        f"flip + illumination jitter; dataset open (checksums) {t_open:.2f} s"
    )
    rates = {}
    for name, runs in got.items():
        per_wall = statistics.median(n / w for n, w, _ in runs)
        per_cpu = statistics.median(n / c for n, _, c in runs)
        rates[name] = per_wall, per_cpu
        cpu_note = f"{per_cpu:7.0f} images per CPU-s" if "process" in name else "(CPU in workers)"
        print(f"  {name:22s}: {per_wall:7.0f} images/s wall, {cpu_note}")
    per_core = rates["batch, in process"][1]
    old = rates["per item, in process"][1]
    print(f"cache -> augmented batch: {per_core:.0f} images/s/core (goal >= {GOAL:.0f})")
    print(f"batch path vs per-item path (CPU time): {per_core / old:.1f}x")


if __name__ == "__main__":
    main()
