"""Data time of one training epoch: reading the frame cache vs preprocessing videos on the fly.

Both sides iterate every sampled frame (batch 16) and run a trivial conv forward, so the
difference is what the cache saves per epoch: decoding, cropping and rank pooling. The cache side
is the trials' train loader (memory-mapped entries, batches cut at once, no loader workers); the
two sides' epochs alternate, so the machine's noise hits both alike. Time is the process's CPU
time (the work done, whatever else runs on the machine); wall time is printed beside it.
Run: ``.venv/bin/python bench/bench_cache.py [--videos 40] [--epochs 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workloads import distributed  # noqa: E402
from workloads.cache import FrameDataset, build_cache  # noqa: E402
from workloads.pipeline import PipelineConfig, preprocess_video  # noqa: E402


def make_videos(root: Path, n: int, size: int = 96, frames: int = 16) -> pd.DataFrame:
    """n MJPG videos (a moving bright blob on noise) with OULU-style eye annotations."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        live = i % 2 == 0
        path = root / f"1_1_{i + 1:02d}_{1 if live else 2}.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (size, size))
        base = rng.integers(0, 160, (size, size, 3), dtype=np.uint8)
        for t in range(frames):
            frame = base.copy()
            cv2.circle(
                frame, (size // 2 + t - frames // 2, size // 2), size // 4, (230, 200, 180), -1
            )
            writer.write(frame)
        writer.release()
        ann = path.with_suffix(".txt")
        e = size // 4
        ann.write_text(
            "".join(
                f"{t},{2 * e - e // 2},{e + 8},{2 * e + e // 2},{e + 8}\n" for t in range(frames)
            )
        )
        rows.append(
            dict(
                dataset="oulu_npu",
                video_id=f"Train_files/{path.stem}",
                path=str(path),
                subject=i + 1,
                session=1,
                device="1",
                pai="live" if live else "print1",
                attack_type="live" if live else "print",
                label=int(live),
                split="train",
                annotation=str(ann),
                depth="",
            )
        )
    return pd.DataFrame(rows)


class OnTheFly(Dataset):
    """One item per video, preprocessed every time it is read (what a cache-less loader does)."""

    def __init__(self, manifest: pd.DataFrame, cfg: PipelineConfig) -> None:
        self.rows = manifest.to_dict("records")
        self.cfg = cfg

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        images, maps = preprocess_video(self.rows[i], self.cfg)
        f = len(images)
        label = torch.full((f,), int(self.rows[i]["label"]), dtype=torch.int64)
        return (
            torch.from_numpy(images).float() / 255,
            torch.from_numpy(maps),
            label,
            torch.full((f,), i, dtype=torch.int64),
        )


def cat_videos(items):
    return tuple(torch.cat(parts) for parts in zip(*items, strict=True))


GOAL = 20.0  # epoch from cache vs decoding
SIDES = ("cache, data only", "decoding, data only", "cache, data + net", "decoding, data + net")


def epoch(loader: DataLoader, net: nn.Module | None) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one pass (the data alone when ``net`` is None)."""
    cpu, wall = time.process_time(), time.perf_counter()
    with torch.no_grad():
        for image, label_map, _, _ in loader:
            if net is not None:
                pred = net(image).squeeze(1)
                nn.functional.mse_loss(pred, label_map).item()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)  # one thread each side: CPU time is the work, not barrier spinning
    cv2.setNumThreads(1)
    cfg = PipelineConfig(frames_per_video=8, input_size=64, map_size=8, rank_k=7)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 3, stride=4, padding=1)
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "videos").mkdir()
        manifest = make_videos(root / "videos", args.videos)
        t0 = time.perf_counter()
        cache = build_cache(manifest, cfg, root / "cache")
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_cache(manifest, cfg, root / "cache")
        t_rebuild = time.perf_counter() - t0
        t0 = time.perf_counter()
        ds = FrameDataset(cache, manifest)
        t_load = time.perf_counter() - t0
        gen = torch.Generator().manual_seed(0)
        cached = distributed.train_loader(ds, 16, gen, 0, torch.device("cpu"), cpus=1)
        fly = DataLoader(
            OnTheFly(manifest, cfg),
            batch_size=16 // cfg.frames_per_video,
            shuffle=True,
            collate_fn=cat_videos,
        )
        epoch(cached, net)  # warm-up (allocator, kernels)
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in SIDES}
        for _ in range(args.epochs):  # interleaved: the machine's noise hits every side alike
            for side in SIDES:
                loader = cached if side.startswith("cache") else fly
                times[side].append(epoch(loader, net if side.endswith("net") else None))
    cpu = {k: statistics.median(t[0] for t in ts) for k, ts in times.items()}
    wall = {k: statistics.median(t[1] for t in ts) for k, ts in times.items()}
    print(
        f"videos={args.videos} frames/video={cfg.frames_per_video} samples={len(ds)} "
        f"input={cfg.input_size} repr={cfg.representation} K={cfg.rank_k}"
    )
    print(
        f"cache build (cold, once): {t_build:.3f} s; re-open valid cache: {t_rebuild:.3f} s; "
        f"FrameDataset load: {t_load:.3f} s"
    )
    for side in SIDES:
        print(
            f"{side:24s}: {cpu[side]:.4f} CPU-s, {wall[side]:.4f} s wall (median of {args.epochs})"
        )
    data = cpu["decoding, data only"] / cpu["cache, data only"]
    with_net = cpu["decoding, data + net"] / cpu["cache, data + net"]
    data_wall = wall["decoding, data only"] / wall["cache, data only"]
    print(
        f"epoch from cache vs decoding: {data:.1f}x (goal >= {GOAL:.0f}x); wall: {data_wall:.1f}x"
    )
    print(f"with the trivial net's forward on both sides: {with_net:.1f}x")


if __name__ == "__main__":
    main()
