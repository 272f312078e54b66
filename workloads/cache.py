"""A preprocessed-frame cache shared by all trials with the same pipeline config, and its Dataset.

Decoding, cropping and rank pooling cost far more than a small network's forward pass, and every
trial of an experiment would otherwise redo them each epoch. Layout::

    cache_root/<cfg.key()>/meta.json             # the config fields, for humans and sanity checks
    cache_root/<cfg.key()>/<entry hash>.frames   # images uint8 (F, 3, S, S), maps float32 (F, m, m)

An entry is one uncompressed file (``workloads.framestore``: a checksummed header, then the
arrays), memory-mapped when read, so every trial on a machine shares the page cache's copy. Its
name hashes (dataset, video id, size and mtime_ns of the video and of its annotation and depth
sidecar), so a changed source file gets a fresh entry; stale entries are simply left behind.
Entries are written to a temp file and ``os.replace``d, so concurrent builders (Ray trials on one
machine or on a shared filesystem) never see half-written files; the loser of a race overwrites an
identical file. An entry whose header, size or content checksum is wrong is rebuilt, never
trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from workloads.augment import Draw, to_float, tone_tables
from workloads.frames import VideoDecodeError
from workloads.framestore import (
    LAYOUT_VERSION,
    SUFFIX,
    atomic_write,
    check_header,
    open_entry,
    write_entry,
)
from workloads.loading import Batch, BatchDataset
from workloads.pipeline import PIPELINE_VERSION, PipelineConfig, field_text, preprocess_video

Progress = Callable[[int, int], None]
VideoKey = tuple[str, str]  # (dataset, video_id)
_STALE_TMP_SECONDS = 3600.0


def _stat(path: str) -> list[int] | None:
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def entry_name(row: Mapping[str, Any]) -> str:
    """Cache file name of a video: a hash of its identity and its source files' size and mtime."""
    video = field_text(row, "path")
    st = _stat(video)
    if st is None:
        raise VideoDecodeError(video, "missing file (no such video)")
    payload = [
        field_text(row, "dataset"),
        field_text(row, "video_id"),
        st,
        _stat(field_text(row, "annotation")),
        _stat(field_text(row, "depth")),
    ]
    digest = hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:24]
    return f"{digest}{SUFFIX}"


def _expected(cfg: PipelineConfig) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    f, s, m = cfg.frames_per_video, cfg.input_size, cfg.map_size
    return {
        "images": ((f, 3, s, s), np.dtype(np.uint8)),
        "maps": ((f, m, m), np.dtype(np.float32)),
    }


def _check_arrays(images: np.ndarray, maps: np.ndarray, cfg: PipelineConfig) -> str | None:
    for name, arr in (("images", images), ("maps", maps)):
        shape, dtype = _expected(cfg)[name]
        if arr.shape != shape or arr.dtype != dtype:
            return f"{name}: {arr.dtype}{arr.shape}, expected {dtype}{shape}"
    if not np.isfinite(maps).all() or maps.min() < 0.0 or maps.max() > 1.0:
        return "maps: values outside [0, 1]"
    return None


def _read_entry(path: Path, cfg: PipelineConfig) -> tuple[np.ndarray, np.ndarray] | str:
    """The memory-mapped arrays of an entry (checksummed on first open), or why not usable."""
    got = open_entry(path, _expected(cfg))
    return got if isinstance(got, str) else (got["images"], got["maps"])


def _save_entry(path: Path, images: np.ndarray, maps: np.ndarray) -> None:
    write_entry(path, {"images": images, "maps": maps})


def _write_meta(directory: Path, cfg: PipelineConfig) -> None:
    meta = {
        "key": cfg.key(),
        "pipeline_version": PIPELINE_VERSION,
        "layout_version": LAYOUT_VERSION,
        "config": cfg.fields(),
        "arrays": {"images": "uint8 (F, 3, S, S)", "maps": "float32 (F, m, m) in [0, 1]"},
    }
    text = json.dumps(meta, indent=2, sort_keys=True) + "\n"
    path = directory / "meta.json"
    with contextlib.suppress(OSError):
        if path.read_text() == text:
            return
    atomic_write(path, lambda f: f.write(text.encode()))


def _remove_stale_tmp(directory: Path) -> None:
    now = time.time()
    for tmp in directory.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > _STALE_TMP_SECONDS:
                tmp.unlink()


class FrameCache:
    """Preprocessed frames of the videos of one manifest under one config (see :func:`build_cache`)."""

    def __init__(
        self,
        directory: Path,
        cfg: PipelineConfig,
        entries: dict[VideoKey, Path],
        rows: dict[VideoKey, Mapping[str, Any]],
        stats: dict[str, int] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.cfg = cfg
        self._entries = entries
        self._rows = rows
        #: what the build did: ``built`` (new), ``rebuilt`` (invalid entry replaced), ``reused``
        self.stats = stats or {"built": 0, "rebuilt": 0, "reused": 0}

    @property
    def keys(self) -> list[VideoKey]:
        return list(self._entries)

    @property
    def video_ids(self) -> list[str]:
        return [vid for _, vid in self._entries]

    def __len__(self) -> int:
        return len(self._entries)

    def _resolve(self, video_id: str, dataset: str | None) -> VideoKey:
        if dataset is not None:
            if (dataset, video_id) not in self._entries:
                raise KeyError(f"video {dataset}/{video_id} is not in the cache {self.directory}")
            return (dataset, video_id)
        hits = [k for k in self._entries if k[1] == video_id]
        if len(hits) != 1:
            what = "is not in" if not hits else "is ambiguous (pass dataset=) in"
            raise KeyError(f"video {video_id!r} {what} the cache {self.directory}")
        return hits[0]

    def path(self, video_id: str, dataset: str | None = None) -> Path:
        return self._entries[self._resolve(video_id, dataset)]

    def load(self, video_id: str, dataset: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(images uint8 (F, 3, S, S), maps float32 (F, m, m)), read-only and memory-mapped; an
        invalid entry is rebuilt (and returned from memory)."""
        key = self._resolve(video_id, dataset)
        path = self._entries[key]
        got = _read_entry(path, self.cfg)
        if isinstance(got, tuple):
            return got
        warnings.warn(
            f"cache entry {path} of {key[0]}/{key[1]} is invalid ({got}); rebuilding", stacklevel=2
        )
        images, maps = preprocess_video(self._rows[key], self.cfg)
        _save_entry(path, images, maps)
        return images, maps


def build_cache(
    manifest: pd.DataFrame,
    cfg: PipelineConfig,
    cache_root: Path,
    progress: Progress | None = None,
) -> FrameCache:
    """Preprocess every video of ``manifest`` not yet validly cached under ``cfg``.

    Bad videos raise :class:`~workloads.frames.VideoDecodeError` naming the file: a dataset with
    an unreadable video is a problem to fix, not to train around silently.
    """
    directory = Path(cache_root) / cfg.key()
    directory.mkdir(parents=True, exist_ok=True)
    _write_meta(directory, cfg)
    _remove_stale_tmp(directory)
    entries: dict[VideoKey, Path] = {}
    rows: dict[VideoKey, Mapping[str, Any]] = {}
    stats = {"built": 0, "rebuilt": 0, "reused": 0}
    records = manifest.to_dict("records")
    for i, row in enumerate(records, start=1):
        key = (str(row["dataset"]), str(row["video_id"]))
        if key not in entries:
            path = directory / entry_name(row)
            entries[key], rows[key] = path, row
            if path.exists() and check_header(path, _expected(cfg)) is None:
                stats["reused"] += 1
            else:
                stats["rebuilt" if path.exists() else "built"] += 1
                images, maps = preprocess_video(row, cfg)
                problem = _check_arrays(images, maps, cfg)
                if problem:
                    raise RuntimeError(f"preprocessing {row['path']} produced {problem}")
                _save_entry(path, images, maps)
        if progress is not None:
            progress(i, len(records))
    return FrameCache(directory, cfg, entries, rows, stats)


class FrameDataset(BatchDataset):
    """All (video, frame) samples of ``manifest_rows``, read from the cache's memory-mapped
    entries (nothing is copied until a batch is cut).

    Items: (image float32 (3, S, S) in [0, 1], map float32 (m, m), label int64, video index int64);
    ``videos`` holds the rows with a 0..n-1 index aligned with the video index, for per-video
    scoring. :meth:`batch` cuts a whole batch at once. ``augment`` flips image and map
    horizontally together with probability 1/2 and jitters the illumination (gain, gamma, white
    balance; see ``workloads.augment``), drawn from the batch's seed.
    """

    def __init__(
        self, cache: FrameCache, manifest_rows: pd.DataFrame, augment: bool = False
    ) -> None:
        self.cache = cache
        self.augment = augment
        self.videos = manifest_rows.reset_index(drop=True)
        self.video_ids: list[str] = [str(v) for v in self.videos["video_id"]]
        entries = [
            cache.load(str(row.video_id), str(row.dataset))
            for row in self.videos.itertuples(index=False)
        ]
        self._images = [images for images, _ in entries]
        self._maps = [maps for _, maps in entries]
        f, s, m = cache.cfg.frames_per_video, cache.cfg.input_size, cache.cfg.map_size
        self.frames_per_video = f
        self.image_shape, self.map_shape = (3, s, s), (m, m)
        self.video_index = np.repeat(np.arange(len(entries), dtype=np.int64), f)
        self.labels = (
            self.videos["label"].to_numpy(np.int64) if len(self.videos) else np.zeros(0, np.int64)
        )

    def __len__(self) -> int:
        return len(self.video_index)

    def frames(
        self, indices: np.ndarray, flip: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The raw samples ``indices``: images uint8 (n, 3, S, S) and maps float32 (n, m, m),
        horizontally flipped where ``flip`` is set."""
        indices = np.asarray(indices, np.int64).reshape(-1)
        images = np.empty((len(indices), *self.image_shape), np.uint8)
        maps = np.empty((len(indices), *self.map_shape), np.float32)
        videos, frames = np.divmod(indices, self.frames_per_video)
        for j, (v, f) in enumerate(zip(videos.tolist(), frames.tolist(), strict=True)):
            image, label_map = self._images[v][f], self._maps[v][f]
            if flip is not None and flip[j]:
                image, label_map = image[..., ::-1], label_map[..., ::-1]
            images[j], maps[j] = image, label_map
        return images, maps

    def batch(self, indices: np.ndarray, seed: int | None = None) -> Batch:
        """(images, maps, labels, video index) of ``indices``; with ``augment``, its draws come
        from ``seed`` (torch's RNG when None)."""
        indices = np.asarray(indices, np.int64).reshape(-1)
        tables = flip = None
        if self.augment:
            gen = None if seed is None else torch.Generator().manual_seed(int(seed))
            draw = Draw.sample(len(indices), gen)
            flip, tables = draw.flip.numpy(), tone_tables(draw.gamma, draw.gain)
        images, maps = self.frames(indices, flip)
        vidx = self.video_index[indices]
        return (
            to_float(images, tables),
            torch.from_numpy(maps),
            torch.from_numpy(self.labels[vidx]),
            torch.from_numpy(vidx),
        )

    def __getitem__(self, i: int) -> Batch:
        return tuple(t[0] for t in self.batch(np.array([i])))


def missing_entries(manifest: pd.DataFrame, cfg: PipelineConfig, cache_root: Path) -> pd.DataFrame:
    """The rows of ``manifest`` with no valid cache entry yet (a cheap header check per file)."""
    directory = Path(cache_root) / cfg.key()
    keep = []
    for row in manifest.to_dict("records"):
        path = directory / entry_name(row)
        keep.append(not (path.exists() and check_header(path, _expected(cfg)) is None))
    return manifest[keep]
