"""The search's batches: shuffled frame batches of a fold's train split, and the splitters that
cut them into PC-DARTS's weight/architecture halves or per-domain tasks (``SPLITS``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from workloads.cache import FrameDataset
from workloads.nas.splits import DomainSplit, RandomSplit

#: ``random``: PC-DARTS's halves; the others batch per domain (``type``: per attack type, live
#: shared), ``meta_*`` for D/T-Meta-NAS.
SPLITS = ("random", "domain", "type", "meta_domain", "meta_type")


class FrameBatches:
    """Shuffled batches ``(images, maps, labels, video index)`` of chosen frames of a dataset.

    Re-shuffled on every pass (the splitters re-iterate each epoch); frames stay in the cache's
    memory-mapped uint8 entries until a batch is cut. Batches are near-equal (none of size 1).
    """

    def __init__(self, ds: FrameDataset, frames: np.ndarray, batch_size: int, seed: int) -> None:
        if len(frames) == 0:
            raise ValueError("a search batch source needs at least one frame")
        self.ds, self.frames = ds, np.asarray(frames, np.int64)
        self.n_batches = max(1, len(self.frames) // max(1, batch_size))
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.n_batches

    def state_dict(self) -> dict[str, Any]:
        """The shuffle's RNG (a resumed search draws the batches the interrupted one would)."""
        return {"rng": self._rng.bit_generator.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._rng.bit_generator.state = dict(state["rng"])

    @property
    def video_ids(self) -> set[str]:
        return {self.ds.video_ids[v] for v in np.unique(self.ds.video_index[self.frames])}

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        for idx in np.array_split(self._rng.permutation(self.frames), self.n_batches):
            yield self.ds.batch(idx)


def _frames_of(ds: FrameDataset, videos: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.isin(ds.video_index, videos))


def _domain_videos(videos: pd.DataFrame, split: str, key: str) -> dict[str, np.ndarray]:
    """Video indices per domain; type splits share every live video across the attack types."""
    if key not in videos.columns:
        raise ValueError(f"domain_key {key!r} is not a manifest column: {list(videos.columns)}")
    col = videos[key].astype(str).to_numpy()
    if split.endswith("type"):
        live = videos["label"].to_numpy() == 1
        names = sorted(set(col[~live]))
        out = {d: np.flatnonzero(live | (col == d)) for d in names}
    else:
        out = {d: np.flatnonzero(col == d) for d in sorted(set(col))}
    if len(out) < 2:
        raise ValueError(
            f"split {split!r} needs >= 2 domains in column {key!r} of the train split; "
            f"found {sorted(out)}"
        )
    return out


def make_splitter(
    ds: FrameDataset, split: str, domain_key: str, batch_size: int, seed: int, steps: int | None
) -> RandomSplit | DomainSplit:
    """NAS: label-stratified random halves of the videos; D/T splits: batches per domain."""
    videos = ds.videos
    if split == "random":
        rng = np.random.default_rng(seed)
        groups = videos.groupby("label").indices.values()
        order = np.concatenate([rng.permutation(idx) for idx in groups])
        halves = [_frames_of(ds, order[0::2]), _frames_of(ds, order[1::2])]
        return RandomSplit(
            FrameBatches(ds, halves[0], batch_size, seed),
            FrameBatches(ds, halves[1], batch_size, seed + 1),
        )
    domains = {
        d: FrameBatches(ds, _frames_of(ds, v), batch_size, seed + i)
        for i, (d, v) in enumerate(_domain_videos(videos, split, domain_key).items())
    }
    return DomainSplit(domains, steps_per_epoch=steps, seed=seed)
