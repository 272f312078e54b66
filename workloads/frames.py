"""Video decoding, clip sampling and face cropping for the frame pipeline.

Decoding reads every video sequentially to its end with ``cv2.VideoCapture``: container frame counts
are only a hint, and the only way to notice a truncated or corrupt file is to decode it and compare
what came out with what the container declares (3DMAD's HDF5 files, ``.hdf5``/``.h5``, are read
with h5py from their ``Color_Data`` dataset instead). Every failure raises :class:`VideoDecodeError`
naming the file, so one bad video in a dataset of thousands is found by name, not by a stack trace.
"""

from __future__ import annotations

import bisect
import functools
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

#: A face box in pixel coordinates: (x, y, w, h).
Box = tuple[int, int, int, int]


class VideoDecodeError(ValueError):
    """A video (or its face annotation) is unusable; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):
        # rebuilt from (path, problem), so it crosses a process boundary (a Ray task building
        # the frame cache) as itself, not as an unpicklable wrapper
        return (type(self), (self.path, self.problem))


class NoFaceError(VideoDecodeError):
    """Neither an annotation nor the Haar detector gives a face box for a video."""


def _open(path: str | os.PathLike[str]) -> cv2.VideoCapture:
    p = Path(path)
    if not p.exists():
        raise VideoDecodeError(p, "missing file (no such video)")
    if not p.is_file():
        raise VideoDecodeError(p, "not a regular file")
    if p.stat().st_size == 0:
        raise VideoDecodeError(p, "empty file (0 bytes)")
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        cap.release()
        raise VideoDecodeError(
            p, "cannot open video (unknown container, corrupt header or truncated file)"
        )
    return cap


#: Files read as HDF5 (3DMAD layout: a ``Color_Data`` dataset of (T, 3, H, W) RGB frames).
HDF5_SUFFIXES = (".hdf5", ".h5")


def _is_hdf5(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in HDF5_SUFFIXES


def _read_hdf5(path: str | os.PathLike[str], wanted: list[int] | None, count_only: bool = False):
    """Frames ``wanted`` (all when None) of an HDF5 ``Color_Data`` as (T, H, W, 3) uint8 RGB, or
    the frame count when ``count_only``. Channels-first (T, C, H, W), C = 3 (RGB) or 1 (gray)."""
    import h5py  # lazy: only HDF5 datasets need it

    p = Path(path)
    if not p.exists():
        raise VideoDecodeError(p, "missing file (no such HDF5 file)")
    if not p.is_file():
        raise VideoDecodeError(p, "not a regular file")
    if p.stat().st_size == 0:
        raise VideoDecodeError(p, "empty file (0 bytes)")
    try:
        with h5py.File(p, "r") as fh:
            if "Color_Data" not in fh:
                held = ", ".join(sorted(fh.keys())) or "nothing"
                raise VideoDecodeError(
                    p, f"no Color_Data dataset in the HDF5 file (it holds {held})"
                )
            ds = fh["Color_Data"]
            if ds.ndim != 4 or ds.shape[1] not in (1, 3) or ds.dtype != np.uint8:
                raise VideoDecodeError(
                    p, f"Color_Data must be uint8 (T, 3|1, H, W), got {ds.dtype} {ds.shape}"
                )
            n = int(ds.shape[0])
            if n == 0:
                raise VideoDecodeError(p, "zero frames in Color_Data")
            if count_only:
                return n
            if wanted is None:
                data = ds[()]
            else:
                missing = [i for i in wanted if i >= n]
                if missing:
                    raise VideoDecodeError(
                        p, f"fewer frames than requested: has {n}, asked for index {max(missing)}"
                    )
                order = sorted(set(wanted))
                got = dict(zip(order, ds[order] if order else [], strict=True))
                data = np.stack([got[i] for i in wanted]) if wanted else None
    except OSError as e:  # h5py's error for unreadable, truncated or corrupt files
        raise VideoDecodeError(p, f"corrupt or truncated HDF5 file ({e})") from e
    if data is None:
        return np.zeros((0, 0, 0, 3), np.uint8)
    frames = np.ascontiguousarray(np.asarray(data).transpose(0, 2, 3, 1))
    return np.repeat(frames, 3, axis=3) if frames.shape[3] == 1 else frames


def declared_frame_count(path: str | os.PathLike[str]) -> int:
    """The frame count the container declares (0 when it does not say); a hint, never trusted."""
    if _is_hdf5(path):
        return _read_hdf5(path, None, count_only=True)
    cap = _open(path)
    try:
        n = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    finally:
        cap.release()
    return int(n) if n and n > 0 else 0


def probe_frame_count(path: str | os.PathLike[str]) -> int:
    """Frames to sample from: the declared count, or a decoding pass when the container is silent.

    :func:`read_frames` later checks the declared count against what really decodes.
    """
    n = declared_frame_count(path)
    if n > 0:
        return n
    return _count_by_decoding(path)


def _count_by_decoding(path: str | os.PathLike[str]) -> int:
    if _is_hdf5(path):
        return _read_hdf5(path, None, count_only=True)
    cap = _open(path)
    n = 0
    try:
        while cap.grab():
            n += 1
    finally:
        cap.release()
    if n == 0:
        raise VideoDecodeError(path, "zero frames decoded")
    return n


def read_frames(path: str | os.PathLike[str], indices: Iterable[int] | None = None) -> np.ndarray:
    """Decode frames ``indices`` (all frames when None) as a (T, H, W, 3) uint8 RGB array.

    The whole stream is decoded (``grab`` for frames not asked for) so that a file which stops
    before the frame count its container declares is reported as truncated/corrupt rather than
    silently yielding fewer or repeated frames. Frames come back in the order of ``indices``.
    """
    wanted: list[int] | None = None if indices is None else [int(i) for i in indices]
    if wanted is not None and any(i < 0 for i in wanted):
        raise ValueError(f"negative frame index in {wanted}")
    if _is_hdf5(path):
        return _read_hdf5(path, wanted)
    needed = None if wanted is None else set(wanted)
    cap = _open(path)
    declared = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    declared = int(declared) if declared and declared > 0 else 0
    got: dict[int, np.ndarray] = {}
    frames: list[np.ndarray] = []
    n = 0
    try:
        while cap.grab():
            if needed is None or n in needed:
                ok, frame = cap.retrieve()
                if not ok or frame is None:
                    raise VideoDecodeError(path, f"decode failure at frame {n}")
                rgb = _to_rgb(frame)
                if needed is None:
                    frames.append(rgb)
                else:
                    got[n] = rgb
            n += 1
    finally:
        cap.release()
    if n == 0:
        raise VideoDecodeError(path, "zero frames decoded (corrupt or not a video)")
    if declared and n < declared:
        raise VideoDecodeError(
            path,
            f"truncated or corrupt: decoding stopped after {n} frames but the container "
            f"declares {declared}",
        )
    if wanted is None:
        return np.stack(frames)
    missing = sorted(needed - got.keys()) if needed else []
    if missing:
        raise VideoDecodeError(
            path, f"fewer frames than requested: has {n}, asked for index {missing[-1]}"
        )
    if not wanted:
        return np.zeros((0, 0, 0, 3), np.uint8)
    return np.stack([got[i] for i in wanted])


def _to_rgb(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def sample_clips(n_frames: int, n_clips: int, k: int) -> list[int]:
    """Start indices of ``n_clips`` clips of ``k`` consecutive frames, evenly spread over the video.

    The first clip starts at frame 0 and the last ends at the last frame. A video with fewer start
    positions than clips repeats starts (every video still yields ``n_clips`` samples).
    """
    if n_clips < 1 or k < 1:
        raise ValueError(f"n_clips and k must be >= 1, got n_clips={n_clips}, k={k}")
    if n_frames < k:
        raise ValueError(
            f"a clip of {k} consecutive frames needs >= {k} frames, video has {n_frames}"
        )
    last = n_frames - k
    if n_clips == 1:
        return [last // 2]
    return [int(round(s)) for s in np.linspace(0, last, n_clips)]


def crop_face(
    frame: np.ndarray,
    box: Box,
    scale: float = 1.0,
    out_size: int = 256,
    interpolation: int | None = None,
) -> np.ndarray:
    """Square crop centred on ``box`` with side ``scale * max(w, h)``, resized to ``out_size``.

    Parts of the square outside the frame are zero (black), so the face keeps its position and
    scale in the crop whatever the frame border does. Works for (H, W) and (H, W, C) arrays.
    INTER_AREA when shrinking (no aliasing), INTER_LINEAR when enlarging, unless given.
    """
    x, y, w, h = (float(v) for v in box)
    if w <= 0 or h <= 0:
        raise ValueError(f"face box must have a positive size, got {box}")
    side = max(1, int(round(max(w, h) * scale)))
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, y0 = int(round(cx - side / 2.0)), int(round(cy - side / 2.0))
    x1, y1 = x0 + side, y0 + side
    fh, fw = frame.shape[:2]
    ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x1, fw), min(y1, fh)
    out_shape = (side, side) + frame.shape[2:]
    if ix0 >= ix1 or iy0 >= iy1:
        crop = np.zeros(out_shape, frame.dtype)
    elif (ix0, iy0, ix1, iy1) == (x0, y0, x1, y1):
        crop = frame[y0:y1, x0:x1]
    else:
        crop = np.zeros(out_shape, frame.dtype)
        crop[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = frame[iy0:iy1, ix0:ix1]
    if interpolation is None:
        interpolation = cv2.INTER_AREA if side > out_size else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(crop), (out_size, out_size), interpolation=interpolation)


@functools.lru_cache(maxsize=1)
def _cascade() -> cv2.CascadeClassifier:
    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"cannot load OpenCV's Haar cascade from {path}")
    return cascade


def detect_face(frame: np.ndarray) -> Box | None:
    """The largest frontal face OpenCV's Haar cascade finds in an RGB frame, or None.

    A fallback for videos without annotation: coarse, but needs no model download.
    """
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
    gray = cv2.equalizeHist(np.ascontiguousarray(gray))
    min_side = max(20, min(gray.shape[:2]) // 10)
    faces = _cascade().detectMultiScale(
        gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
    )
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda f: int(f[2]) * int(f[3]))
    return int(x), int(y), int(w), int(h)


def nearest_boxes(boxes: Mapping[int, Box], indices: Sequence[int]) -> list[Box]:
    """For each frame index, the box of the nearest annotated frame (the earlier one on ties)."""
    if not boxes:
        raise ValueError("no face boxes to choose from")
    keys = sorted(boxes)
    out = []
    for i in indices:
        pos = bisect.bisect_left(keys, i)
        cands = keys[max(pos - 1, 0) : pos + 1]
        best = min(cands, key=lambda k: (abs(k - i), k))
        out.append(boxes[best])
    return out
