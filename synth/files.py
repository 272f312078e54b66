"""Writing the benchmark's files: each via a temp name + rename when ``atomic`` (a reader never
sees half a file; not needed inside a temp tree that is renamed whole)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np


def tmp_path(path: Path, atomic: bool) -> Path:
    return path.with_name(f".{path.stem}.tmp{path.suffix}") if atomic else path


def commit(tmp: Path, path: Path, atomic: bool) -> None:
    if atomic:
        os.replace(tmp, path)


#: Container -> (fourcc, OpenCV backend): intra-frame MJPEG where the container takes it.
CODECS = {
    ".avi": ("MJPG", cv2.CAP_OPENCV_MJPEG),
    ".mov": ("jpeg", cv2.CAP_FFMPEG),
    ".mp4": ("mp4v", cv2.CAP_FFMPEG),
}


def write_video(path: Path, frames: np.ndarray, fps: float, atomic: bool = True) -> None:
    """BGR frames (T, H, W, 3) -> a video OpenCV reads back, codec by the file's suffix."""
    if path.suffix not in CODECS:
        raise ValueError(f"{path}: no codec for {path.suffix!r}; supported: {', '.join(CODECS)}")
    fourcc, backend = CODECS[path.suffix]
    h, w = frames.shape[1:3]
    tmp = tmp_path(path, atomic)
    code = cv2.VideoWriter_fourcc(*fourcc)
    writer = cv2.VideoWriter(str(tmp), backend, code, fps, (w, h))
    if not writer.isOpened():
        writer = cv2.VideoWriter(str(tmp), code, fps, (w, h))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write {fourcc} video {tmp}")
    for frame in frames:
        writer.write(np.ascontiguousarray(frame))
    writer.release()
    commit(tmp, path, atomic)


def write_hdf5(
    path: Path, frames: np.ndarray, depth: np.ndarray, eyes: np.ndarray, atomic: bool
) -> None:
    """A 3DMAD-style HDF5 file: ``Color_Data`` (T, 3, H, W) RGB, ``Depth_Data`` (T, H, W) uint16
    (11-bit Kinect-like range), ``Eye_Pos`` (T, 4) float: two (x, y) eye centres per frame."""
    import h5py  # lazy: only 3DMAD needs it

    tmp = tmp_path(path, atomic)
    rgb = np.ascontiguousarray(frames[..., ::-1].transpose(0, 3, 1, 2))
    with h5py.File(tmp, "w") as fh:
        fh.create_dataset("Color_Data", data=rgb, compression="gzip", track_times=False)
        fh.create_dataset(
            "Depth_Data", data=depth.astype(np.uint16) * 8, compression="gzip", track_times=False
        )
        fh.create_dataset("Eye_Pos", data=eyes.astype(np.float64), track_times=False)
    commit(tmp, path, atomic)


def write_text(path: Path, text: str, atomic: bool = True) -> None:
    tmp = tmp_path(path, atomic)
    tmp.write_text(text)
    commit(tmp, path, atomic)


def write_depth(path: Path, depth: np.ndarray, atomic: bool = True) -> None:
    """A depth sidecar: ``np.savez_compressed(depth=...)``."""
    tmp = tmp_path(path, atomic)
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, depth=depth)
    commit(tmp, path, atomic)


def eye_lines(eyes: np.ndarray) -> str:
    """OULU-NPU's per-frame eye annotation: ``frame,left_x,left_y,right_x,right_y`` lines."""
    return "".join(f"{i},{lx},{ly},{rx},{ry}\n" for i, (lx, ly, rx, ry) in enumerate(eyes))
