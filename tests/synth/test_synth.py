"""The synthetic OULU-NPU benchmark: layout, decodable videos, annotations, depth, determinism,
atomic data roots, and one physically motivated check per cue (relative, never golden numbers)."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from synth import (
    SYNTH_SIZES,
    SynthSize,
    VideoSpec,
    ensure_root,
    generate,
    render_video,
)
from synth.oulu import MAX_DEFAULT_WORKERS, default_workers
from synth.render import render_scene
from synth.sizes import LayoutCounts

SMOKE = SYNTH_SIZES["smoke"]
FOLDERS = {"train": "Train_files", "dev": "Dev_files", "test": "Test_files"}
NAME = re.compile(r"^([1-6])_([1-3])_(\d\d)_([1-5])$")
TINY = SynthSize(1, 1, 1, phones=(1, 2), sessions=(1,), n_frames=3, frame_size=32)


def _frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(frame)
    cap.release()
    return out


def _eyes(path: Path) -> np.ndarray:
    return np.loadtxt(path.with_suffix(".txt"), delimiter=",", dtype=np.int64, ndmin=2)


def _box(lx, ly, rx, ry) -> tuple[int, int, int]:
    """The contract's eye -> face box: centre 0.5 d below the eyes, side 2.2 d."""
    d = float(np.hypot(rx - lx, ry - ly))
    return round((lx + rx) / 2), round((ly + ry) / 2 + 0.5 * d), round(2.2 * d)


def _face_gray(frame: np.ndarray, eyes, scale: float = 0.8) -> np.ndarray:
    cx, cy, side = _box(*eyes)
    h = int(side * scale) // 2
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return gray[max(cy - h, 0) : cy + h, max(cx - h, 0) : cx + h]


@pytest.fixture(scope="module")
def oulu(smoke_root: Path) -> Path:
    return smoke_root / "oulu_npu"


def test_smoke_tree_has_the_oulu_layout(smoke_root: Path, oulu: Path) -> None:
    assert "synthetic" in (smoke_root / "README.txt").read_text().lower()
    assert len(SMOKE.phones) == 6 and len(SMOKE.sessions) == 3
    for split, folder in FOLDERS.items():
        stems = {p.stem for p in (oulu / folder).glob("*.avi")}
        expected = {
            f"{p}_{s}_{u:02d}_{f}"
            for p in SMOKE.phones
            for s in SMOKE.sessions
            for u in SMOKE.users(split)
            for f in range(1, 6)
        }
        assert stems == expected
        assert all(NAME.match(s) for s in stems)
        assert {p.stem for p in (oulu / folder).glob("*.txt")} == expected
        assert {p.stem for p in (oulu / "_synthetic_depth" / folder).glob("*.npz")} == expected
        assert not list((oulu / folder).glob(".*"))  # no temp files left behind
    assert SMOKE.users("train")[0] == 1 and SMOKE.users("dev")[0] == 21
    assert SMOKE.users("test")[0] == 36


def test_videos_decode_to_the_right_frames(oulu: Path) -> None:
    for split, folder in FOLDERS.items():
        for code in range(1, 6):
            user = SMOKE.users(split)[-1]
            frames = _frames(oulu / folder / f"{code}_{1 + code % 3}_{user:02d}_{code}.avi")
            assert len(frames) == SMOKE.n_frames
            assert frames[0].shape == (SMOKE.frame_size, SMOKE.frame_size, 3)


def test_annotations_one_line_per_frame_with_eyes_in_frame(oulu: Path) -> None:
    f = SMOKE.frame_size
    for txt in oulu.glob("*_files/*.txt"):
        rows = _eyes(txt)
        assert rows.shape == (SMOKE.n_frames, 5)
        assert (rows[:, 0] == np.arange(SMOKE.n_frames)).all()
        assert ((rows[:, 1:] >= 0) & (rows[:, 1:] < f)).all(), txt.name
        assert (rows[:, 1] < rows[:, 3]).all()  # image-left eye first
        for row in rows:
            cx, cy, side = _box(*row[1:])
            assert 0.3 * f < side < 0.75 * f and 0 < cx < f and 0 < cy < f, txt.name


def test_depth_is_zero_for_attacks_and_relief_for_live(oulu: Path) -> None:
    for npz in oulu.glob("_synthetic_depth/*/*.npz"):
        depth = np.load(npz)["depth"]
        assert depth.dtype == np.uint8
        assert depth.shape == (SMOKE.n_frames, SMOKE.frame_size, SMOKE.frame_size)
        if not npz.stem.endswith("_1"):
            assert not depth.any(), npz.name
            continue
        eyes = _eyes(oulu / npz.parent.name / f"{npz.stem}.txt")
        for t, (_, lx, ly, rx, ry) in enumerate(eyes):
            cx, cy, side = _box(lx, ly, rx, ry)
            h = side // 2
            face = depth[t, max(cy - h, 0) : cy + h, max(cx - h, 0) : cx + h]
            assert (face > 0).mean() > 0.6, npz.name
            # The nose, between and below the eyes, is nearer than the cheeks at the box sides.
            nose = depth[t, cy, cx]
            assert nose > depth[t, cy, max(cx - h + 1, 0)] and nose > depth[t, cy, cx + h - 1]


def test_frame_function_is_deterministic_by_seed() -> None:
    spec = VideoSpec("train", 3, 2, 1, 4)
    a, b = render_video(spec, TINY, seed=7), render_video(spec, TINY, seed=7)
    for field in ("frames", "depth", "eyes"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.frames, render_video(spec, TINY, seed=8).frames)
    live = render_video(VideoSpec("train", 3, 2, 1, 1), TINY, seed=7)
    assert not np.array_equal(
        live.depth, render_video(VideoSpec("train", 3, 2, 1, 1), TINY, 8).depth
    )


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_written_files_are_identical_in_process_and_in_workers(tmp_path: Path) -> None:
    calls = []
    one = generate(tmp_path / "a", TINY, seed=3, workers=1, progress=lambda d, t: calls.append(d))
    two = generate(tmp_path / "b", TINY, seed=3, workers=2)
    assert calls[-1] == TINY.n_videos == 30
    assert _digest(one) == _digest(two)
    other = _digest(generate(tmp_path / "c", TINY, seed=4, workers=1))
    assert other != _digest(one)


def test_ensure_root_in_workers_writes_the_serial_bytes(tmp_path: Path, monkeypatch) -> None:
    """A pool of worker processes writes exactly the files one process writes, layouts too."""
    few = {"siw": LayoutCounts(1), "casia_surf_3dmask": LayoutCounts(1)}
    mini = SynthSize(1, 1, 1, phones=(1, 2), sessions=(1, 2), n_frames=2, frame_size=32,
                     layouts=tuple(few.items()))  # fmt: skip
    monkeypatch.setitem(SYNTH_SIZES, "mini", mini)
    serial = ensure_root("mini", 0, tmp_path / "serial", workers=1)
    parallel = ensure_root("mini", 0, tmp_path / "parallel", workers=2)
    assert serial.name == parallel.name
    assert _digest(serial) == _digest(parallel)
    assert {"oulu_npu", "siw", "casia_surf_3dmask"} <= {
        p.parts[0] for p in map(Path, _digest(serial))
    }
    with pytest.raises(ValueError, match="workers must be >= 1"):
        generate(tmp_path / "bad", mini, workers=0)


def test_default_workers_follow_the_affinity_mask(monkeypatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert default_workers() == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert default_workers() == MAX_DEFAULT_WORKERS


def test_ensure_root_is_atomic_under_concurrent_callers(tmp_path: Path, monkeypatch) -> None:
    micro = SynthSize(1, 1, 1, phones=(1,), sessions=(1,), n_frames=2, frame_size=32)
    monkeypatch.setitem(SYNTH_SIZES, "micro", micro)
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_root("micro", 0, tmp_path)))
        for _ in range(3)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(set(results)) == 1
    root = results[0]
    assert root.parent == tmp_path and root.name.startswith("synthetic-micro-seed0-v")
    assert len(list((root / "oulu_npu").glob("*_files/*.avi"))) == micro.n_videos
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [root.name]  # no temp trees
    with pytest.raises(KeyError, match="smoke"):
        ensure_root("nope", 0, tmp_path)


def _registration_residual(radiance: list[np.ndarray], eyes: np.ndarray) -> float:
    """Mean |frame_t - frame_0| on the face after the best affine registration (blurred, so the
    residual measures shape and shading change, not aliasing of fine textures)."""
    gray = [cv2.GaussianBlur(cv2.cvtColor(np.clip(r, 0, 1) ** (1 / 2.2), cv2.COLOR_RGB2GRAY),
                             (0, 0), 2.0) for r in radiance]  # fmt: skip
    (lx, ly), (rx, ry) = eyes[0]
    cx, cy, side = _box(lx, ly, rx, ry)
    mask = np.zeros(gray[0].shape, np.uint8)
    mask[cy - side // 2 : cy + side // 2, cx - side // 2 : cx + side // 2] = 1
    out = []
    for g in gray[1:]:
        warp = np.eye(2, 3, dtype=np.float32)
        crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-6)
        _, warp = cv2.findTransformECC(gray[0], g, warp, cv2.MOTION_AFFINE, crit, mask, 5)
        aligned = cv2.warpAffine(
            g, warp, g.shape[::-1], flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        )
        out.append(float(np.abs(aligned - gray[0])[mask > 0].mean()))
    return float(np.mean(out))


def test_live_faces_change_non_rigidly_prints_do_not() -> None:
    size = SynthSize(1, 1, 1, n_frames=6, frame_size=64)
    live, printed = [], []
    for user, session in ((1, 1), (2, 2), (3, 3)):
        for code, out in ((1, live), (2, printed)):
            scene = render_scene(VideoSpec("train", 1, session, user, code), size, seed=0)
            out.append(_registration_residual(scene.radiance, scene.eyes))
    assert np.mean(live) > 1.3 * np.mean(printed)


def _high_frequency_share(scene) -> float:
    """Share of the face's spectral energy above a quarter of the sampling rate."""
    shares = []
    for radiance, ((lx, ly), (rx, ry)) in zip(scene.radiance, scene.eyes, strict=True):
        gray = cv2.cvtColor(np.clip(radiance, 0, 1) ** (1 / 2.2), cv2.COLOR_RGB2GRAY)
        face = _face_gray(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), (lx, ly, rx, ry))
        face = (face - face.mean()) * np.outer(np.hanning(face.shape[0]), np.hanning(face.shape[1]))
        power = np.abs(np.fft.fftshift(np.fft.fft2(face))) ** 2
        h, w = power.shape
        yy, xx = np.mgrid[0:h, 0:w]
        radius = np.hypot((yy - h // 2) / h, (xx - w // 2) / w)
        shares.append(power[radius > 0.25].sum() / power[radius > 0.03].sum())
    return float(np.mean(shares))


def test_halftone_and_subpixels_reach_the_sensor() -> None:
    """A laser print's dot screen and a screen's RGB subpixel lattice put periodic high
    frequencies in front of the camera that skin does not have (before the camera blurs and
    aliases them into moire)."""
    size = SynthSize(1, 1, 1, n_frames=2, frame_size=64)
    hf: dict[int, list[float]] = {1: [], 2: [], 4: [], 5: []}
    for user, session in ((1, 1), (2, 2), (3, 3)):
        for code, out in hf.items():
            out.append(
                _high_frequency_share(
                    render_scene(VideoSpec("train", 1, session, user, code), size)
                )
            )
    live = np.mean(hf[1])
    assert np.mean(hf[2]) > 3 * live
    assert np.mean(hf[4]) > 3 * live and np.mean(hf[5]) > 3 * live


def _brightness_jitter(radiance: list[np.ndarray], eyes: np.ndarray) -> float:
    """Frame-to-frame change of the face region's mean radiance, relative to its mean."""
    means = []
    for rad, (left, right) in zip(radiance, eyes, strict=True):
        cx, cy, side = _box(left[0], left[1], right[0], right[1])
        h = int(0.8 * side) // 2
        means.append(float(rad[max(cy - h, 0) : cy + h, max(cx - h, 0) : cx + h].mean()))
    m = np.asarray(means)
    return float(np.std(np.diff(m)) / m.mean())


def test_screens_flicker_prints_do_not() -> None:
    """An emissive screen's backlight beats with the camera's frame rate (and a rolling shutter
    sees bands); a print only reflects the steady room light. Measured on the scene before the
    camera, whose noise and the halftone's crawl under the hand motion blur the comparison at
    the smoke size."""
    size = SynthSize(1, 1, 1, n_frames=8, frame_size=64)
    flicker: dict[int, list[float]] = {c: [] for c in range(2, 6)}
    for user in (1, 2, 3):
        for code in flicker:
            scene = render_scene(VideoSpec("train", 1, 1, user, code), size)
            flicker[code].append(_brightness_jitter(scene.radiance, scene.eyes))
    assert np.mean(flicker[4] + flicker[5]) > 1.5 * np.mean(flicker[2] + flicker[3])


@pytest.mark.parametrize("printer", [1, 2])
def test_halftone_prints_each_flat_tone_at_its_own_coverage(printer: int) -> None:
    """Both screens are linearised like a calibrated printer driver: a flat ink amount prints at
    that mean coverage, so printing does not shift a photo's tone (the AM spot function's raw
    threshold distribution would push mid-tones apart)."""
    from synth.attacks import PRINT_TEXELS_PER_PX, PRINTERS, halftone

    tpp = PRINTERS[printer].pitch_px * PRINT_TEXELS_PER_PX
    for ink in (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0):
        cov = halftone(np.full((192, 192, 3), ink, np.float32), printer, tpp)
        assert abs(float(cov.mean()) - ink) < 0.02, (ink, float(cov.mean()))
        if 0 < ink < 1:  # a screen, not a flat tint: dots are resolved
            assert cov.std() > 0.2


def test_attack_faces_keep_a_live_faces_brightness_and_contrast() -> None:
    """No global shortcut: the face of a print or a replay, filmed by the same phone in the same
    session, has about a live face's mean brightness and contrast (the sources are exposed on the
    face and toned like a phone portrait); what tells them apart is local."""
    size = SynthSize(1, 1, 1, n_frames=1, frame_size=96)
    stats: dict[int, list[tuple[float, float]]] = {c: [] for c in range(1, 6)}
    for user, session, phone in ((1, 1, 1), (2, 2, 3), (3, 3, 5), (1, 3, 2), (2, 1, 6), (3, 2, 4)):
        for code, out in stats.items():
            video = render_video(VideoSpec("train", phone, session, user, code), size)
            face = _face_gray(video.frames[0], video.eyes[0])
            out.append((float(face.mean()), float(face.std())))
    live_mean, live_std = np.mean(stats[1], axis=0)
    for code in range(2, 6):
        mean, std = np.mean(stats[code], axis=0)
        assert abs(mean - live_mean) < 0.25 * live_mean, (code, mean, live_mean)
        assert 0.8 * live_std < std < 1.25 * live_std, (code, std, live_std)


def test_a_replayed_video_has_been_through_the_source_phone() -> None:
    """OULU-NPU's replayed videos were shot by a phone: what a screen shows carries that camera's
    pixels (the frame size, not the scene's supersampled detail), its optics blur, sensor noise
    and JPEG, so it is softer than the ideal image at the same pixels and noisy frame to frame."""
    from synth.camera import PHONES, auto_exposure, white_balance
    from synth.common import SUPERSAMPLE
    from synth.source import SOURCE_CAMERA, encode_source, source_video

    def sharpness(x: np.ndarray) -> float:
        gray = cv2.cvtColor(np.ascontiguousarray(x, dtype=np.float32), cv2.COLOR_RGB2GRAY)
        return float(cv2.Laplacian(gray, cv2.CV_32F).var())

    size = SynthSize(1, 1, 1, n_frames=1, frame_size=96)
    for user in (1, 2, 3):
        rad = np.asarray(render_scene(VideoSpec("train", 1, 1, user, 1), size).radiance[0])
        f = rad.shape[0] // SUPERSAMPLE
        exposure, gains = auto_exposure(rad), white_balance(rad, PHONES[SOURCE_CAMERA])
        pixels = cv2.resize(rad, (f, f), interpolation=cv2.INTER_AREA)
        ideal = encode_source(pixels, exposure, gains)
        shot = source_video(rad, exposure, gains, np.random.default_rng(0))
        again = source_video(rad, exposure, gains, np.random.default_rng(1))
        assert shot.shape == ideal.shape == (f, f, 3)
        assert sharpness(shot) < 0.8 * sharpness(ideal)
        assert 0.002 < float(np.abs(shot - again).mean()) < 0.03
