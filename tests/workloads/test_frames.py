"""Decoding (and every way a video file can be broken), clip sampling, cropping, Haar fallback."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from workloads.frames import (
    NoFaceError,
    VideoDecodeError,
    crop_face,
    detect_face,
    nearest_boxes,
    probe_frame_count,
    read_frames,
    sample_clips,
)
from workloads.pipeline import PipelineConfig, preprocess_video


def write_video(path: Path, frames: np.ndarray, fps: float = 25.0) -> Path:
    """Frames (T, H, W, 3) uint8 RGB -> an MJPG .avi."""
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def ramp_frames(t: int = 12, h: int = 48, w: int = 64) -> np.ndarray:
    """Frames whose brightness encodes their index, so decoding order is checkable."""
    frames = np.zeros((t, h, w, 3), np.uint8)
    for i in range(t):
        frames[i] = 10 + 20 * i
        frames[i, 8:24, 8:24] = (255, 0, 0)
    return frames


def cartoon_face(size: int = 240, frame: tuple[int, int] = (240, 320)) -> np.ndarray:
    """A drawn face OpenCV's Haar cascade detects (blob eyes, brows, nose, mouth)."""
    img = np.full(frame, 120, np.uint8)
    s, c = size, (frame[1] // 2, frame[0] // 2)
    cv2.ellipse(img, c, (int(s * 0.3), int(s * 0.4)), 0, 0, 360, 220, -1)
    ex, ey = int(s * 0.12), int(s * 0.08)
    for sx in (-1, 1):
        cv2.ellipse(
            img, (c[0] + sx * ex, c[1] - ey), (int(s * 0.06), int(s * 0.03)), 0, 0, 360, 20, -1
        )
        y = c[1] - ey - int(s * 0.07)
        cv2.line(
            img, (c[0] + sx * ex - int(s * 0.07), y), (c[0] + sx * ex + int(s * 0.07), y), 20, 6
        )
    cv2.line(img, (c[0], c[1] - ey + 5), (c[0], c[1] + int(s * 0.08)), 176, 2)
    cv2.ellipse(img, (c[0], c[1] + int(s * 0.2)), (int(s * 0.1), int(s * 0.03)), 0, 0, 360, 40, -1)
    return cv2.cvtColor(cv2.GaussianBlur(img, (0, 0), 2), cv2.COLOR_GRAY2RGB)


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return write_video(tmp_path / "1_1_01_1.avi", ramp_frames())


def test_decode_round_trip(video: Path) -> None:
    frames = read_frames(video)
    assert frames.shape == (12, 48, 64, 3) and frames.dtype == np.uint8
    assert probe_frame_count(video) == 12
    np.testing.assert_allclose(
        frames.mean(axis=(1, 2, 3)), ramp_frames().mean(axis=(1, 2, 3)), atol=4
    )
    assert frames[0, 16, 16, 0] > 200 and frames[0, 16, 16, 2] < 60  # RGB order, not BGR
    some = read_frames(video, [5, 2, 11])
    assert some.shape == (3, 48, 64, 3)
    np.testing.assert_array_equal(some[1], frames[2])
    np.testing.assert_array_equal(some[2], frames[11])


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.avi"
    with pytest.raises(VideoDecodeError, match="nope.avi.*missing"):
        read_frames(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.avi"
    path.write_bytes(b"")
    with pytest.raises(VideoDecodeError, match="empty.avi.*empty"):
        read_frames(path)


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.avi"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoDecodeError, match="noise.avi"):
        read_frames(path)
    with pytest.raises(VideoDecodeError, match="noise.avi"):
        probe_frame_count(path)


def test_truncated_file(video: Path, tmp_path: Path) -> None:
    data = video.read_bytes()
    path = tmp_path / "half.avi"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoDecodeError, match="half.avi.*(truncated|frames)"):
        read_frames(path)
    # cut later, the header survives and the early frames decode: still reported as truncated
    path = tmp_path / "most.avi"
    path.write_bytes(data[: int(len(data) * 0.8)])
    with pytest.raises(VideoDecodeError, match="most.avi.*truncated"):
        read_frames(path, [0, 1])


def test_corrupt_mid_stream(video: Path, tmp_path: Path) -> None:
    data = bytearray(video.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 600] = np.random.default_rng(1).integers(0, 256, 600, dtype=np.uint8).tobytes()
    path = tmp_path / "mid.avi"
    path.write_bytes(bytes(data))
    with pytest.raises(VideoDecodeError, match="mid.avi"):
        read_frames(path)


def test_more_frames_than_exist(video: Path) -> None:
    with pytest.raises(VideoDecodeError, match="fewer frames than requested"):
        read_frames(video, [3, 40])


def test_sample_clips() -> None:
    starts = sample_clips(100, 8, 7)
    assert len(starts) == 8 and starts[0] == 0 and starts[-1] == 93
    assert all(b > a for a, b in zip(starts, starts[1:], strict=False))
    assert all(s + 7 <= 100 for s in starts)
    assert sample_clips(7, 3, 7) == [0, 0, 0]
    assert sample_clips(10, 1, 1) == [4]
    with pytest.raises(ValueError, match="needs >= 7"):
        sample_clips(5, 2, 7)


def test_crop_inside_and_partly_outside() -> None:
    frame = np.arange(100 * 120 * 3, dtype=np.uint32).reshape(100, 120, 3).astype(np.uint8)
    frame[:] = 200
    inside = crop_face(frame, (20, 20, 40, 40), 1.0, 40)
    assert inside.shape == (40, 40, 3) and (inside == 200).all()
    # a box hanging off the top-left corner: the outside part is zero padding
    out = crop_face(frame, (-20, -10, 40, 40), 1.0, 40)
    assert out.shape == (40, 40, 3)
    assert (out[:10, :, :] == 0).all() and (out[:, :20] == 0).all()
    assert (out[12:, 22:] == 200).all()
    # scale 2 doubles the side around the same centre; grayscale maps work too
    gray = np.full((100, 120), 255, np.uint8)
    big = crop_face(gray, (50, 40, 20, 20), 2.0, 16)
    assert big.shape == (16, 16) and (big == 255).all()
    gone = crop_face(frame, (500, 500, 30, 30), 1.0, 8)
    assert gone.shape == (8, 8, 3) and (gone == 0).all()


def test_nearest_boxes() -> None:
    boxes = {0: (0, 0, 1, 1), 10: (1, 1, 1, 1), 20: (2, 2, 1, 1)}
    got = nearest_boxes(boxes, [0, 4, 5, 6, 14, 16, 99])
    assert [b[0] for b in got] == [0, 0, 0, 1, 1, 2, 2]


def test_haar_finds_a_drawn_face() -> None:
    box = detect_face(cartoon_face())
    assert box is not None
    x, y, w, h = box
    assert abs(x + w / 2 - 160) < 30 and abs(y + h / 2 - 120) < 30
    assert detect_face(np.full((240, 320, 3), 90, np.uint8)) is None


def test_haar_fallback_path_crops_the_detected_face(tmp_path: Path) -> None:
    frames = np.stack([cartoon_face()] * 9)
    path = write_video(tmp_path / "face.avi", frames)
    row = {
        "dataset": "oulu_npu",
        "video_id": "v",
        "path": str(path),
        "label": 1,
        "annotation": "",
        "depth": "",
    }
    images, maps = preprocess_video(
        row, PipelineConfig(frames_per_video=2, input_size=32, map_size=4, representation="static")
    )
    assert images.shape == (2, 3, 32, 32) and (maps == 1).all()


def test_no_annotation_and_no_face_raises_naming_the_video(tmp_path: Path) -> None:
    path = write_video(tmp_path / "blank_7.avi", np.full((9, 64, 80, 3), 90, np.uint8))
    row = {
        "dataset": "oulu_npu",
        "video_id": "x",
        "path": str(path),
        "label": 0,
        "annotation": "",
        "depth": "",
    }
    with pytest.raises(NoFaceError, match="blank_7.avi.*no face found"):
        preprocess_video(row, PipelineConfig(frames_per_video=2, input_size=16, map_size=4))
