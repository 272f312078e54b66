"""Planar presentation instruments (a print, a screen) held in front of a pinhole camera.

A hand holds the plane: it moves rigidly (rotation + translation), so the camera sees one
homography of the whole texture per frame. Light on a plane is (almost) uniform; a specular
reflection on glossy paper or glass moves with the plane's tilt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .common import wobble

#: Focal length in units of the (supersampled) frame width: a ~53 degree field of view.
FOCAL = 1.0
#: Hand motion: static tilt range and tremor/sway RMS (degrees), sway in output px, distance.
HAND_TILT_DEG = 6.0
HAND_ROLL_DEG = 4.0
HAND_SWAY_DEG = 1.2
HAND_SWAY_PX = 0.8
HAND_DEPTH = 0.015
HAND_TREMOR_PX = 0.15
#: Grid size on which smooth quantities over a plane (shading, highlights) are computed.
COARSE = 16


@dataclass(frozen=True)
class Track:
    """A plane's pose in every frame: texture -> image homographies and the 3D poses."""

    homographies: np.ndarray  # (T, 3, 3), texel (x, y) -> supersampled image (x, y)
    rotations: np.ndarray  # (T, 3, 3), plane -> camera (X right, Y down, Z forward)
    centres: np.ndarray  # (T, 3), plane centre in camera coordinates (texel units)
    size: int
    tex_hw: tuple[int, int]


def hand_motion(rng: np.random.Generator, n: int, fps: float, supersample: int) -> np.ndarray:
    """Per-frame (rx, ry, rz rad, ox, oy image px, relative distance) of a hand-held plane."""
    t = np.arange(n) / fps
    sway = math.radians(HAND_SWAY_DEG)
    rx = math.radians(rng.uniform(-HAND_TILT_DEG, HAND_TILT_DEG)) + wobble(rng, t, sway, 0.3, 1.5)
    ry = math.radians(rng.uniform(-HAND_TILT_DEG, HAND_TILT_DEG)) + wobble(rng, t, sway, 0.3, 1.5)
    rz = math.radians(rng.uniform(-HAND_ROLL_DEG, HAND_ROLL_DEG)) + wobble(rng, t, sway, 0.3, 1.5)
    px = HAND_SWAY_PX * supersample
    trem = HAND_TREMOR_PX * supersample
    ox = wobble(rng, t, px, 0.3, 1.5) + wobble(rng, t, trem, 6.0, 11.0)
    oy = wobble(rng, t, px, 0.3, 1.5) + wobble(rng, t, trem, 6.0, 11.0)
    dz = 1 + wobble(rng, t, HAND_DEPTH, 0.2, 1.0)
    return np.stack([rx, ry, rz, ox, oy, dz], 1)


def _rotations(rx: np.ndarray, ry: np.ndarray, rz: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations Rz @ Ry @ Rx."""
    n = len(rx)
    out = np.zeros((3, n, 3, 3))
    for k, (ang, (a, b)) in enumerate(zip((rx, ry, rz), ((1, 2), (2, 0), (0, 1)), strict=True)):
        c, s = np.cos(ang), np.sin(ang)
        out[k, :, 3 - a - b, 3 - a - b] = 1
        out[k, :, a, a], out[k, :, b, b] = c, c
        out[k, :, a, b], out[k, :, b, a] = -s, s
    return out[2] @ out[1] @ out[0]


def track(
    tex_hw: tuple[int, int],
    anchors: np.ndarray,
    target: tuple[float, float],
    px_per_texel: float,
    size: int,
    motion: np.ndarray,
) -> Track:
    """Hold the plane so that texel ``anchors[t]`` lands near image point ``target``, moving."""
    h, w = tex_hw
    f = FOCAL * size
    anchors = np.asarray(anchors, np.float64).reshape(-1, 2)
    z = f / px_per_texel * motion[:, 5]
    cw, ch = (w - 1) / 2.0, (h - 1) / 2.0
    centres = np.stack(
        [(target[0] + motion[:, 3] - size / 2) * z / f - (anchors[:, 0] - cw),
         (target[1] + motion[:, 4] - size / 2) * z / f - (anchors[:, 1] - ch), z], 1
    )  # fmt: skip
    rots = _rotations(motion[:, 0], motion[:, 1], motion[:, 2])
    src = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
    local = np.column_stack([src[:, 0] - cw, src[:, 1] - ch, np.zeros(4)])
    cam = np.einsum("kj,tij->tki", local, rots) + centres[:, None]
    dst = f * cam[..., :2] / cam[..., 2:3] + size / 2
    homs = np.stack([
        cv2.getPerspectiveTransform(src.astype(np.float32), d.astype(np.float32)) for d in dst
    ])  # fmt: skip
    return Track(homs, rots, centres, size, (h, w))


def project(tr: Track, i: int, pts: np.ndarray) -> np.ndarray:
    """Texel points (N, 2) -> supersampled image points (N, 2) in frame ``i``."""
    p = np.column_stack([pts, np.ones(len(pts))]) @ tr.homographies[i].T
    return p[:, :2] / p[:, 2:3]


def to_camera_light(direction) -> np.ndarray:
    """Scene light direction (z towards the camera) in camera coordinates (Z forward)."""
    d = np.asarray(direction, np.float64)
    return np.array([d[0], d[1], -d[2]])


def _bent_normals(xn: np.ndarray, bend: float) -> np.ndarray:
    n = np.stack([bend * xn, np.zeros_like(xn), -np.ones_like(xn)], -1)
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def wrap_sheet(tex: np.ndarray, pts: np.ndarray, bend: float) -> tuple[np.ndarray, np.ndarray]:
    """A sheet bent about its vertical axis, seen face-on: the arc whose edges tilt by slope
    ``bend`` (as in ``lambert``) foreshortens towards the sides. Returns the texture as the plane
    sees it (transparent outside the arc) and texel points (N, 2) moved with it."""
    h, w = tex.shape[:2]
    cw = (w - 1) / 2.0
    theta = max(math.atan(abs(bend)), 1e-6)
    radius = cw / theta
    xs = (np.arange(w, dtype=np.float64) - cw) / radius
    src_x = np.where(np.abs(xs) <= math.sin(theta), cw + radius * np.arcsin(np.clip(xs, -1, 1)), -9)
    mx = np.broadcast_to(src_x.astype(np.float32)[None], (h, w))
    my = np.broadcast_to(np.arange(h, dtype=np.float32)[:, None], (h, w))
    out = cv2.remap(tex, np.ascontiguousarray(mx), np.ascontiguousarray(my), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)  # fmt: skip
    moved = np.array(pts, np.float64)
    moved[:, 0] = cw + radius * np.sin((moved[:, 0] - cw) / radius)
    return out, moved


def lambert(tr: Track, light_dir, n_cols: int, bend: float) -> np.ndarray:
    """(T, n_cols) Lambert factor across the plane's columns: flat, or bent about the vertical."""
    normals = _bent_normals((np.arange(n_cols) + 0.5) / n_cols * 2 - 1, bend)
    n_cam = np.einsum("cj,tij->tci", normals, tr.rotations)
    return np.clip(n_cam @ to_camera_light(light_dir), 0, None).astype(np.float32)


def specular(tr: Track, light_dir, sharpness: float, bend: float = 0.0) -> np.ndarray:
    """(T, COARSE, COARSE) mirror reflection of the distant light seen by the camera, in [0, 1].

    Smooth over the plane, so a coarse grid (see ``warp_coarse``) is enough; the highlight moves
    with the tilt (a pinhole camera sees each point of the plane from a different direction).
    """
    h, w = tr.tex_hw
    cw, ch = (w - 1) / 2.0, (h - 1) / 2.0
    xs = (np.arange(COARSE) + 0.5) * w / COARSE - 0.5
    ys = (np.arange(COARSE) + 0.5) * h / COARSE - 0.5
    xs, ys = np.meshgrid(xs, ys)
    local = np.stack([xs - cw, ys - ch, np.zeros_like(xs)], -1)
    normals = _bent_normals((xs - cw) / max(cw, 1), bend)
    p = np.einsum("yxj,tij->tyxi", local, tr.rotations) + tr.centres[:, None, None]
    n = np.einsum("yxj,tij->tyxi", normals, tr.rotations)
    view = -p / np.linalg.norm(p, axis=-1, keepdims=True)
    refl = 2 * (n * view).sum(-1, keepdims=True) * n - view
    cosang = refl @ to_camera_light(light_dir)
    return np.exp((cosang - 1) / max(sharpness, 1e-4)).astype(np.float32)


def warp_coarse(grid: np.ndarray, tr: Track, i: int) -> np.ndarray:
    """Image a smooth quantity given on the COARSE grid over the plane (edges replicated)."""
    h, w = tr.tex_hw
    sx, sy = w / COARSE, h / COARSE
    a = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]])
    return cv2.warpPerspective(
        grid, tr.homographies[i] @ a, (tr.size, tr.size), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip


def warp_rgba(
    tex: np.ndarray, tr: Track, i: int, offset: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """Image a texture lying on the plane at texel ``offset`` (bilinear point sampling: fine
    patterns alias like on a real sensor); zero outside it."""
    hom = tr.homographies[i]
    if offset != (0.0, 0.0):
        hom = hom @ np.array([[1, 0, offset[0]], [0, 1, offset[1]], [0, 0, 1]], np.float64)
    return cv2.warpPerspective(
        tex, hom, (tr.size, tr.size), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )  # fmt: skip
