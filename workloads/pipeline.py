"""Per-video preprocessing: sampled clips -> face crops -> network inputs and pixel-wise labels.

One manifest row in, ``(images uint8 (F, 3, S, S), maps float32 (F, m, m))`` out. Everything a
trial may vary about its input lives in :class:`PipelineConfig`, whose ``key()`` names the cache
directory: two trials with the same config share preprocessed frames, a changed field gets its own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from protocols.datasets import read_face_boxes
from workloads.frames import (
    Box,
    NoFaceError,
    VideoDecodeError,
    crop_face,
    detect_face,
    nearest_boxes,
    probe_frame_count,
    read_frames,
    sample_clips,
)
from workloads.rankpool import REPRESENTATIONS, represent

#: Bumped when preprocessing changes meaning, so old caches are not reused by new code.
PIPELINE_VERSION = 1
LABELS: tuple[str, ...] = ("binary", "depth")


@dataclass(frozen=True)
class PipelineConfig:
    """What a trial's input looks like. ``key()`` is a stable 16-hex-digit hash of the fields."""

    frames_per_video: int = 8
    input_size: int = 256
    map_size: int = 32
    representation: Literal["static", "dynamic", "static_dynamic"] = "static_dynamic"
    rank_k: int = 7
    label: Literal["binary", "depth"] = "binary"
    crop_scale: float = 1.0
    #: Sample only each video's first N frames (0: the whole video); SiW P1 trains on 60.
    frame_limit: int = 0

    def __post_init__(self) -> None:
        if self.representation not in REPRESENTATIONS:
            raise ValueError(
                f"representation {self.representation!r} is not one of {', '.join(REPRESENTATIONS)}"
            )
        if self.label not in LABELS:
            raise ValueError(f"label {self.label!r} is not one of {', '.join(LABELS)}")
        if int(self.frame_limit) < 0:
            raise ValueError(f"frame_limit must be >= 0 (0: whole video), got {self.frame_limit}")
        for name in ("frames_per_video", "input_size", "map_size", "rank_k"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.representation != "static" and self.rank_k < 2:
            raise ValueError("a dynamic image needs rank_k >= 2 (one frame has no dynamics)")
        if not (self.crop_scale > 0 and math.isfinite(self.crop_scale)):
            raise ValueError(f"crop_scale must be a positive number, got {self.crop_scale}")

    def fields(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        payload = {**self.fields(), "crop_scale": float(self.crop_scale)}
        if not self.frame_limit:
            del payload["frame_limit"]  # the whole video: keys of existing caches stay valid
        payload["pipeline_version"] = PIPELINE_VERSION
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> PipelineConfig:
        """The config from a (flattened) trial dict; keys that are not fields are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in names})

    @property
    def clip_len(self) -> int:
        """Consecutive frames per sample: ``rank_k``, or 1 for the static representation."""
        return 1 if self.representation == "static" else self.rank_k


def field_text(row: Mapping[str, Any], name: str) -> str:
    """A manifest field as text: missing, None and NaN read as ""."""
    value = row.get(name, "") if hasattr(row, "get") else row[name]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


_warned_no_depth = False


def _warn_no_depth(video: str) -> None:
    global _warned_no_depth
    if not _warned_no_depth:
        _warned_no_depth = True
        warnings.warn(
            f"label='depth' but live video {video} (and possibly others) has no depth sidecar: "
            "using the binary face mask as its label instead (warned once)",
            stacklevel=3,
        )


def clip_boxes(
    row: Mapping[str, Any], frames: dict[int, np.ndarray], starts: list[int]
) -> list[Box]:
    """One face box per clip: annotation (nearest annotated frame) else Haar on the static frames."""
    path = field_text(row, "path")
    annotation = field_text(row, "annotation")
    if annotation:
        try:
            boxes = read_face_boxes(field_text(row, "dataset"), annotation)
        except (OSError, ValueError) as e:
            raise VideoDecodeError(path, f"unreadable face annotation {annotation}: {e}") from e
        if boxes:
            return nearest_boxes(boxes, starts)
    found = {s: box for s in starts if (box := detect_face(frames[s])) is not None}
    if not found:
        why = "annotation has no boxes" if annotation else "no annotation"
        raise NoFaceError(
            path,
            f"no face found: {why} and the Haar cascade found no face in the "
            f"{len(starts)} sampled frames",
        )
    return nearest_boxes(found, starts)


def face_mask(map_size: int, crop_scale: float) -> np.ndarray:
    """Binary label of a live crop: ones where the face box lies in the crop.

    The crop is the face box enlarged by ``crop_scale`` around its centre, so the face is the
    central square of side ``map_size / crop_scale`` (the whole map when crop_scale <= 1).
    """
    mask = np.zeros((map_size, map_size), np.float32)
    side = min(map_size, max(1, int(round(map_size / crop_scale))))
    lo = (map_size - side) // 2
    mask[lo : lo + side, lo : lo + side] = 1.0
    return mask


def _depth_maps(
    row: Mapping[str, Any],
    cfg: PipelineConfig,
    starts: list[int],
    boxes: list[Box],
    frame_hw: tuple,
) -> np.ndarray:
    depth_path = field_text(row, "depth")
    try:
        with np.load(depth_path) as z:
            depth = np.asarray(z["depth"])
    except (OSError, ValueError, KeyError) as e:
        raise VideoDecodeError(depth_path, f"unreadable depth sidecar of {row['path']}: {e}") from e
    if depth.ndim != 3:
        raise VideoDecodeError(depth_path, f"depth must be (T, H, W), got shape {depth.shape}")
    if max(starts) >= depth.shape[0]:
        raise VideoDecodeError(
            depth_path, f"depth has {depth.shape[0]} frames, frame {max(starts)} is needed"
        )
    sy, sx = depth.shape[1] / frame_hw[0], depth.shape[2] / frame_hw[1]
    maps = []
    for s, (x, y, w, h) in zip(starts, boxes, strict=True):
        box = (x * sx, y * sy, w * sx, h * sy)
        crop = crop_face(depth[s], box, cfg.crop_scale, cfg.map_size)  # type: ignore[arg-type]
        maps.append(crop.astype(np.float32) / 255.0)
    return np.stack(maps)


def preprocess_video(row: Mapping[str, Any], cfg: PipelineConfig) -> tuple[np.ndarray, np.ndarray]:
    """Decode, sample, crop and represent one video: (F, 3, S, S) uint8 and (F, m, m) float32.

    Sample i is the clip of ``cfg.clip_len`` consecutive frames starting at the i-th evenly spaced
    start; its static frame is the clip's first frame. The whole clip is cropped with the box of
    its static frame, so head and hand motion stay in the dynamic image. Labels: attacks all
    zeros; live ``binary`` the face mask; live ``depth`` the sidecar's depth of the static frame,
    cropped the same way, in [0, 1] (binary mask, with a one-time warning, when there is none).
    """
    path = field_text(row, "path")
    n = probe_frame_count(path)
    if cfg.frame_limit:
        n = min(n, int(cfg.frame_limit))
    k = cfg.clip_len
    if n < k:
        raise VideoDecodeError(path, f"fewer frames than requested: {n} frames, a clip needs {k}")
    starts = sample_clips(n, cfg.frames_per_video, k)
    wanted = sorted({s + j for s in starts for j in range(k)})
    frames = dict(zip(wanted, read_frames(path, wanted), strict=True))
    boxes = clip_boxes(row, frames, starts)

    s_ = cfg.input_size
    images = np.empty((len(starts), 3, s_, s_), np.uint8)
    for i, (start, box) in enumerate(zip(starts, boxes, strict=True)):
        clip = np.stack([crop_face(frames[start + j], box, cfg.crop_scale, s_) for j in range(k)])
        rep = represent(clip, cfg.representation)
        images[i] = np.clip(np.rint(rep * 255.0), 0, 255).astype(np.uint8).transpose(2, 0, 1)

    m = cfg.map_size
    if int(row["label"]) != 1:
        maps = np.zeros((len(starts), m, m), np.float32)
    elif cfg.label == "depth" and field_text(row, "depth"):
        maps = _depth_maps(row, cfg, starts, boxes, frames[starts[0]].shape[:2])
    else:
        if cfg.label == "depth":
            _warn_no_depth(path)
        maps = np.repeat(face_mask(m, cfg.crop_scale)[None], len(starts), axis=0)
    return images, maps
