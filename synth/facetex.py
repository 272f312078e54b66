"""Texture-space surgery on a face model: what a mask, makeup or a printed patch changes.

Every instrument worn on the head lives in the face's (v, u) texture: it moves rigidly with the
head because the renderer moves the texture. A new surface is an albedo, a height, a sheen and a
coverage blended over the model where it covers it; the rest stays the live face.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .attacks import PRINTERS, halftone
from .common import LUMA, SUPERSAMPLE, band_noise
from .faces import SKIN_SPECULAR, U_RANGE, V_RANGE, FaceModel, face_height, make_identity

#: Texels per output pixel of a face model built at ``face_tpu`` (faces are rendered at
#: FACE_SCALE of the frame with 1.2 texels per supersampled pixel).
TEXELS_PER_OUTPUT_PX = 1.2 * SUPERSAMPLE
#: Photos printed on worn pieces: the ambient share of the light baked into them.
PHOTO_AMBIENT = 0.35


def grid(tpu: float) -> tuple[np.ndarray, np.ndarray]:
    """Face-unit coordinates (u, v) of every texel of a model built at ``tpu`` (as build_face)."""
    tau = 1.0 / tpu
    us = U_RANGE[0] + (np.arange(int((U_RANGE[1] - U_RANGE[0]) * tpu)) + 0.5) * tau
    vs = V_RANGE[0] + (np.arange(int((V_RANGE[1] - V_RANGE[0]) * tpu)) + 0.5) * tau
    u, v = np.meshgrid(us, vs)
    return u.astype(np.float32), v.astype(np.float32)


@lru_cache(maxsize=4)
def face_skin(seed: int, user: int, tpu: float) -> np.ndarray:
    """Soft coverage (H, W) of the face layer (brows to chin, ear to ear; not hair or neck)."""
    idt = make_identity(seed, user)
    u, v = grid(tpu)
    layers = face_height(idt, u.astype(np.float64), v.astype(np.float64), 1.0 / tpu)
    alphas = np.stack([a for a, _ in layers])
    zs = np.stack([np.broadcast_to(z, u.shape) for _, z in layers])
    layer = np.argmax(np.where(alphas > 0.5, zs, -9.0), axis=0)
    out = (alphas[1] * (layer == 1)).astype(np.float32)
    out.setflags(write=False)
    return out


def blur(x: np.ndarray, sigma_units: float, tpu: float) -> np.ndarray:
    """Gaussian blur of a texture by ``sigma_units`` face units."""
    return cv2.GaussianBlur(np.ascontiguousarray(x, np.float32), (0, 0), sigma_units * tpu)


def normals(z: np.ndarray, tpu: float) -> np.ndarray:
    """Unit normals (H, W, 3) of a height field, as build_face computes them."""
    zb = cv2.GaussianBlur(z.astype(np.float32), (0, 0), 0.8)
    gy, gx = np.gradient(zb, 1.0 / tpu)
    n = np.stack([-gx, -gy, np.ones_like(gx)], -1)
    return (n / np.linalg.norm(n, axis=-1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class Surface:
    """A surface laid over the face where ``cover`` > 0 (each field None keeps the face's own)."""

    cover: np.ndarray  # (H, W) in [0, 1]
    albedo: np.ndarray | None = None  # (H, W, 3): the same with eyes open or closed (no lids)
    z: np.ndarray | None = None  # (H, W) height
    sheen: float | np.ndarray | None = None  # specular strength (SKIN_SPECULAR is skin)
    opaque: bool = False  # covers the background too (a sheet larger than the head)
    hides_eyes: bool = True  # no eye opening under it (no cornea, no blink)


def overlay(model: FaceModel, s: Surface) -> FaceModel:
    """The face model with the surface laid over it."""
    c = np.clip(s.cover, 0, 1).astype(np.float32)
    c3 = c[..., None]
    a_open, a_closed = model.alb_open.copy(), model.alb_closed.copy()
    geom, z = model.geom.copy(), model.zmap.copy()
    if s.albedo is not None:
        a_open[..., :3] += c3 * (s.albedo - a_open[..., :3])
        a_closed[..., :3] += c3 * (s.albedo - a_closed[..., :3])
    if s.hides_eyes:
        a_open[..., 3] = np.where(c > 0.5, 9.0, a_open[..., 3])
    if s.opaque:
        a_closed[..., 3] = np.maximum(a_closed[..., 3], c)
    if s.z is not None:
        z += c * (s.z - z)
        geom[..., :3] += c3 * (normals(z, model.tpu) - geom[..., :3])
        geom[..., :3] /= np.linalg.norm(geom[..., :3], axis=-1, keepdims=True) + 1e-12
    if s.sheen is not None:  # the coverage channel scales the renderer's sheen
        geom[..., 3] += c * (np.float32(s.sheen) / np.float32(SKIN_SPECULAR) - geom[..., 3])
    out = FaceModel(model.tpu, a_open, a_closed, geom, z, float(max(z.max(), model.z_max)),
                    model.eye_z)  # fmt: skip
    for a in (out.alb_open, out.alb_closed, out.geom, out.zmap):
        a.setflags(write=False)
    return out


def photo_albedo(model: FaceModel, direction: np.ndarray, backdrop: float = 0.3) -> np.ndarray:
    """A photo of the face in texture space: albedo under the light it was taken with (the
    shading is baked in and will not change when the print moves), exposed to mid grey, in
    front of a plain ``backdrop`` (linear grey)."""
    alb = model.alb_open[..., :3]  # eyes open in the photo
    lam = np.clip(model.geom[..., :3] @ direction.astype(np.float32), 0, None)
    lin = alb * (PHOTO_AMBIENT + lam)[..., None]
    alpha = model.alb_closed[..., 3:4]
    covered = alpha[..., 0] > 0.5
    mean = float((lin @ LUMA)[covered].mean()) if covered.any() else 0.2
    lin = lin * np.float32(0.2 / max(mean, 1e-4))
    return (alpha * lin + (1 - alpha) * np.float32(backdrop)).astype(np.float32)


def printed(lin: np.ndarray, printer: int, rng: np.random.Generator) -> np.ndarray:
    """Reflectance (H, W, 3) of a linear image printed on paper by ``printer``, at the texel
    density of a face model (halftone pitch and dot gain in output pixels, as attacks.print_sheet)."""
    pr = PRINTERS[printer]
    tpp = TEXELS_PER_OUTPUT_PX
    srgb = np.power(np.clip(lin, 0, 1), np.float32(1 / 2.2))
    ink = 1 - np.power(srgb, np.float32(2.2 * pr.tone_gamma))
    cov = halftone(ink.astype(np.float32), printer, pr.pitch_px * tpp)
    cov = cv2.GaussianBlur(cov, (0, 0), max(pr.dot_gain_px * tpp, 0.3))
    refl = np.ones_like(cov)
    for c in range(3):
        refl *= 1 - np.asarray(pr.inks[c], np.float32) * cov[..., c : c + 1]
    grain = 1 + pr.grain * band_noise(rng, lin.shape[:2], 0.8 * tpp)
    return (refl * np.asarray(pr.paper, np.float32) * grain[..., None]).astype(np.float32)


def ellipse(
    u: np.ndarray, v: np.ndarray, cu: float, cv: float, ru: float, rv: float, tpu: float
) -> np.ndarray:
    """Anti-aliased coverage of an ellipse (face units)."""
    r = np.sqrt(((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2)
    return np.clip((1 - r) * min(ru, rv) * tpu + 0.5, 0, 1).astype(np.float32)


def box(
    u: np.ndarray, v: np.ndarray, u0: float, u1: float, v0: float, v1: float, tpu: float
) -> np.ndarray:
    """Anti-aliased coverage of an axis-aligned rectangle (face units)."""
    a = np.clip((u - u0) * tpu + 0.5, 0, 1) * np.clip((u1 - u) * tpu + 0.5, 0, 1)
    return (a * np.clip((v - v0) * tpu + 0.5, 0, 1) * np.clip((v1 - v) * tpu + 0.5, 0, 1)).astype(
        np.float32
    )
