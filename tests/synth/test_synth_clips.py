"""The clip API of the synthetic benchmark: every attack species of the nine datasets renders,
deterministically, and each new instrument carries its physical cue (measured on the rendered
scene and compared with live renders, never against golden numbers)."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from synth import SPECIES, ClipSpec, clip_scene, render_clip
from synth.clips import RENDERERS, camera_index, identity_key, session_index

MACRO = {"live", "print", "replay", "mask", "makeup", "partial"}
MASKS = sorted(s for s, t in SPECIES.items() if t == "mask")
MAKEUP = sorted(s for s, t in SPECIES.items() if t == "makeup")
PARTIAL = sorted(s for s, t in SPECIES.items() if t == "partial")


def _spec(species: str, subject: int = 1, take: int = 0, dataset: str = "siw_m") -> ClipSpec:
    return ClipSpec(dataset, subject, 1 + subject % 3, 1 + subject % 9, species, take)


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 similarity that maps the eye pair ``src`` (2, 2) onto ``dst``."""
    z = complex(*(dst[1] - dst[0])) / complex(*(src[1] - src[0]))
    m = np.array([[z.real, -z.imag, 0.0], [z.imag, z.real, 0.0]])
    m[:, 2] = dst[0] - m[:, :2] @ src[0]
    return m


def _gray(radiance: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(radiance, 0, 1) ** (1 / 2.2), cv2.COLOR_RGB2GRAY)


def test_species_table_and_spec_validation() -> None:
    assert set(SPECIES.values()) == MACRO
    assert len(MASKS) == 6 and len(MAKEUP) == 3 and len(PARTIAL) == 5
    assert set(RENDERERS) == set(SPECIES)
    for alias in ("print", "print_warped", "print_cut", "replay", "replay3", "replay4"):
        assert alias in SPECIES
    with pytest.raises(ValueError, match="unknown species 'mask_rubber'.*mask_silicone"):
        ClipSpec("siw_m", 1, 1, 1, "mask_rubber")
    for bad in ({"subject": 0}, {"session": 0}, {"camera": -1}, {"take": -1}, {"dataset": ""}):
        fields = {"dataset": "siw", "subject": 1, "session": 1, "camera": 1, "species": "live"}
        with pytest.raises(ValueError, match=next(iter(bad))):
            ClipSpec(**{**fields, **bad})
    with pytest.raises(ValueError, match="frame_size"):
        render_clip(_spec("live"), 4, 8)
    # Devices and lights beyond OULU's are cycled, OULU's own keep their numbers.
    assert [camera_index(c) for c in (1, 6, 7, 9, 10)] == [1, 6, 7, 9, 1]
    assert [session_index(s) for s in (1, 3, 4)] == [1, 3, 4] and session_index(40) >= 4


@pytest.mark.parametrize("species", sorted(SPECIES))
def test_every_species_renders_deterministically(species: str) -> None:
    spec = _spec(species, subject=2, take=1)
    a = render_clip(spec, 4, 32, seed=3)
    assert a.frames.shape == (4, 32, 32, 3) and a.frames.dtype == np.uint8
    assert a.depth.shape == (4, 32, 32) and a.depth.dtype == np.uint8
    assert a.eyes.shape == (4, 4) and ((a.eyes >= 0) & (a.eyes < 32)).all()
    assert (a.eyes[:, 0] < a.eyes[:, 2]).all()  # image-left eye first
    assert a.frames.std() > 5  # a picture, not a blank
    # The pixel-wise label: live depth for bona fide, zeros for every attack.
    assert a.depth.any() if species == "live" else not a.depth.any()
    b = render_clip(spec, 4, 32, seed=3)
    for field in ("frames", "depth", "eyes"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    other_take = render_clip(_spec(species, subject=2, take=2), 4, 32, seed=3)
    assert not np.array_equal(a.frames, other_take.frames)
    assert not np.array_equal(a.frames, render_clip(spec, 4, 32, seed=4).frames)


def test_datasets_have_their_own_subjects() -> None:
    """Subject 1 of each dataset is another person: eye-aligned live faces of subject 1 differ
    across datasets far more than two takes of one subject do."""
    size = 24

    def face(dataset: str, take: int) -> np.ndarray:
        scene = clip_scene(ClipSpec(dataset, 1, 1, 1, "live", take), 2, 48)
        dst = np.array([[0.3, 0.35], [0.7, 0.35]]) * size
        crops = [
            cv2.warpAffine(np.clip(r, 0, 1) ** (1 / 2.2), _similarity(e, dst), (size, size),
                           flags=cv2.INTER_AREA)
            for r, e in zip(scene.radiance, scene.eyes, strict=True)
        ]  # fmt: skip
        return np.mean(crops, 0)

    datasets = ["oulu_npu", "siw", "casia_mfsd", "replay_attack", "3dmad"]
    faces = {(d, t): face(d, t) for d in datasets for t in (0, 1)}
    same = [np.abs(faces[d, 0] - faces[d, 1]).mean() for d in datasets]
    cross = [
        np.abs(faces[a, 0] - faces[b, 1]).mean() for a, b in itertools.combinations(datasets, 2)
    ]
    assert np.mean(cross) > 2 * np.mean(same)
    assert len({identity_key(d, 1) for d in datasets}) == len(datasets)
    assert identity_key("oulu_npu", 7) == 7  # the OULU tree's own users


def _blink_spikiness(scene) -> float:
    """Non-rigid motion in a clip: consecutive frames aligned by the eyes; the change around the
    eyes relative to the change over the rest of the face, its peak over its median. Rigid head
    motion changes both together; a blink changes the eyes alone, in one or two frames."""
    gray = [_gray(r) for r in scene.radiance]
    ratios = []
    for t in range(1, len(gray)):
        prev = scene.eyes[t - 1]
        d = float(np.hypot(*(prev[1] - prev[0])))
        eye = np.zeros(gray[0].shape, bool)
        for x, y in prev:
            eye[round(y - 0.15 * d) : round(y + 0.15 * d) + 1,
                round(x - 0.25 * d) : round(x + 0.25 * d) + 1] = True  # fmt: skip
        cx, cy = prev.mean(0)
        face = np.zeros(gray[0].shape, bool)
        face[int(cy - 0.5 * d) : int(cy + 1.2 * d), int(cx - 0.8 * d) : int(cx + 0.8 * d)] = True
        face &= ~eye
        m = _similarity(scene.eyes[t], prev)
        aligned = cv2.warpAffine(gray[t], m, gray[0].shape[::-1], flags=cv2.INTER_LINEAR)
        diff = cv2.GaussianBlur(np.abs(aligned - gray[t - 1]), (0, 0), 0.7)
        ratios.append(diff[eye].mean() / max(diff[face].mean(), 1e-6))
    return float(np.max(ratios) / np.median(ratios))


def test_masks_move_rigidly_live_faces_do_not() -> None:
    """One second at 30 fps: live faces blink (an eyes-only change), masks of every kind move
    only with the head."""
    subjects = range(1, 6)

    def spikiness(species: str) -> float:
        return float(np.median([
            _blink_spikiness(clip_scene(_spec(species, s), 30, 40, fps=30.0)) for s in subjects
        ]))  # fmt: skip

    live = spikiness("live")
    masks = {m: spikiness(m) for m in MASKS}
    assert live > 1.3 * max(masks.values()), (live, masks)


def _log_chroma_histogram(scene) -> np.ndarray:
    """Histogram of log(R/G), log(B/G) over the central face (brows to mouth, cheek to cheek)."""
    hists = []
    for rad, ((lx, ly), (rx, ry)) in zip(scene.radiance, scene.eyes, strict=True):
        d = float(np.hypot(rx - lx, ry - ly))
        cx, cy, h = (lx + rx) / 2, (ly + ry) / 2 + 0.45 * d, int(0.75 * d)
        face = rad[int(cy) - h : int(cy) + h, int(cx) - h : int(cx) + h].reshape(-1, 3)
        face = face.astype(np.float64).clip(1e-4)
        lc = np.log(face[:, [0, 2]] / face[:, 1:2])
        hist, _, _ = np.histogram2d(lc[:, 0], lc[:, 1], bins=16, range=[[-1.5, 1.5], [-2.5, 0.5]])
        hists.append(hist.ravel() / hist.sum())
    return np.mean(hists, 0)


def test_makeup_changes_the_colour_statistics_of_the_same_face() -> None:
    """Same subject, room and camera: other live takes move the face's colour distribution a
    little (pose and light jitter); foundation, pigments or another person's paint move it a
    lot more."""
    subjects = range(1, 5)

    def hist(species: str, subject: int, take: int = 0) -> np.ndarray:
        return _log_chroma_histogram(clip_scene(_spec(species, subject, take), 2, 48))

    live = {s: hist("live", s) for s in subjects}
    retake = np.mean(
        [np.abs(hist("live", s, t) - live[s]).sum() for s in subjects for t in (1, 2, 3)]
    )
    for species in MAKEUP:
        moved = np.mean([np.abs(hist(species, s) - live[s]).sum() for s in subjects])
        assert moved > 3 * retake, (species, moved, retake)


def _detail(g: np.ndarray, eyes: np.ndarray, v: tuple[float, float], u: tuple[float, float]):
    """High-pass energy relative to brightness in a window given in eye-distance units from the
    eye midpoint (v down, u right)."""
    (lx, ly), (rx, ry) = eyes
    d = float(np.hypot(rx - lx, ry - ly))
    cx, cy = (lx + rx) / 2, (ly + ry) / 2
    rows = slice(int(cy + v[0] * d), int(cy + v[1] * d))
    cols = slice(int(cx + u[0] * d), int(cx + u[1] * d))
    hp = g - cv2.GaussianBlur(g, (0, 0), 1.0)
    return float((hp[rows, cols] ** 2).mean() / g[rows, cols].mean() ** 2)


def _band_detail(scene) -> tuple[float, float]:
    """Detail in two face bands: just below the eyes (where glasses sit) and the lower cheeks."""
    under, cheek = [], []
    for rad, eyes in zip(scene.radiance, scene.eyes, strict=True):
        g = _gray(rad)
        under += [_detail(g, eyes, (0.13, 0.23), u) for u in ((-0.65, -0.35), (0.35, 0.65))]
        cheek += [_detail(g, eyes, (0.6, 0.85), u) for u in ((-0.75, -0.35), (0.35, 0.75))]
    return float(np.mean(under)), float(np.mean(cheek))


def test_partial_pieces_carry_halftone_where_they_cover_the_face() -> None:
    """Printed pieces put halftone dots in front of the camera on the part of the face they
    cover; the rest of the face stays as smooth as a live face."""
    subjects = range(1, 5)
    live = np.mean([_band_detail(clip_scene(_spec("live", s), 2, 64)) for s in subjects], 0)
    for species in PARTIAL:
        ratios = np.array([
            np.asarray(_band_detail(clip_scene(_spec(species, s), 2, 64))) / live for s in subjects
        ])  # fmt: skip
        assert ratios.max(1).mean() > 5, (species, ratios)  # the covered band
        # the other band: the median subject (an open eye's lid edge in one clip's band is
        # detail too, and one subject blinking in the live clip but not in this one shows it)
        assert np.median(ratios.min(1)) < 2.5, (species, ratios)
        if species == "partial_paper_eye":  # covers the eyes' band, not the cheeks
            assert (ratios[:, 0] > ratios[:, 1]).all(), ratios
        if species == "partial_paper_mouth":
            assert (ratios[:, 1] > ratios[:, 0]).all(), ratios
