"""Makeup attacks: the live face (3D, blinking, moving) with a painted albedo.

The cue is the paint, not the shape: foundation smooths the skin's pores and mottling, pigments
move the colour statistics, contouring draws light and shadow that do not follow the real relief,
and an impersonator paints another person's brows, lips and skin tone onto their own face.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .common import rng_for
from .faces import FaceModel, build_face, make_identity
from .facetex import blur, face_skin, grid

MAKEUP = ("makeup_obfuscation", "makeup_impersonation", "makeup_cosmetic")
_SHADOWS = [(0.22, 0.12, 0.08), (0.2, 0.1, 0.25), (0.1, 0.14, 0.25), (0.3, 0.2, 0.1)]
_LIPSTICK = [(0.42, 0.05, 0.08), (0.35, 0.08, 0.15), (0.5, 0.15, 0.12)]


def _gauss(u: np.ndarray, v: np.ndarray, cu: float, cv: float, su: float, sv: float) -> np.ndarray:
    return np.exp(-0.5 * (((u - cu) / su) ** 2 + ((v - cv) / sv) ** 2)).astype(np.float32)


def _pair(u: np.ndarray, v: np.ndarray, cu: float, cv: float, su: float, sv: float) -> np.ndarray:
    """A patch on both sides of the face."""
    return _gauss(np.abs(u), v, cu, cv, su, sv)


class _Paint:
    """Layers of pigment: each ``add`` covers a weighted area with a colour."""

    def __init__(self, base: np.ndarray) -> None:
        self.rgb = base.copy()

    def add(self, weight: np.ndarray, colour) -> None:
        w = np.clip(weight, 0, 1)[..., None]
        self.rgb += w * (np.asarray(colour, np.float32) - self.rgb)


def target_key(seed: int, user: int, what: str) -> int:
    """Another person's identity key (an impersonation target), distinct from dataset ids."""
    return int(rng_for(seed, what, user).integers(2**40, 2**41))


def _paint(seed: int, user: int, tpu: float, species: str, base: np.ndarray) -> np.ndarray:
    idt = make_identity(seed, user)
    u, v = grid(tpu)
    r = rng_for(seed, "makeup", user, species)
    skin = np.asarray(idt.skin, np.float32)
    p = _Paint(base)
    lips = np.clip((1 - np.hypot(u / (0.55 * idt.mouth_w), (v - idt.mouth_v) / 0.09)) * 8, 0, 1)
    if species == "makeup_cosmetic":  # foundation, eye shadow, liner, blush, lipstick
        foundation = 0.5 * blur(base, 0.06, tpu) + 0.5 * skin * np.float32(1.05)
        p.rgb = 0.45 * base + 0.55 * foundation
        p.add(0.6 * _pair(u, v, 0.5, -0.1, 0.2, 0.07), _SHADOWS[r.integers(len(_SHADOWS))])
        p.add(0.7 * _pair(u, v, 0.5, -idt.eye_h - 0.01, 0.18, 0.012), (0.02, 0.02, 0.02))
        p.add(0.25 * _pair(u, v, 0.62, 0.5, 0.18, 0.16), (0.7, 0.28, 0.3))
        p.add(0.8 * lips, _LIPSTICK[r.integers(len(_LIPSTICK))])
    elif species == "makeup_obfuscation":  # heavy base, contour, concealed brows, colour patches
        p.rgb = 0.2 * base + 0.8 * blur(base, 0.08, tpu)
        p.add(0.9 * _pair(u, v, 0.5, idt.brow_v, 0.3, 0.06), skin)  # brows concealed
        p.add(0.8 * _pair(u, v, 0.55, idt.brow_v - r.uniform(0.1, 0.2), 0.25, 0.025), (0.03,) * 3)
        p.add(0.7 * _pair(u, v, 0.78, 0.7, 0.12, 0.3), (0.12, 0.07, 0.05))  # cheek hollows
        p.add(0.6 * _pair(u, v, 0.16, 0.35, 0.05, 0.25), (0.12, 0.07, 0.05))  # nose sides
        p.add(0.5 * _gauss(u, v, 0, 0.2, 0.05, 0.3), (0.8, 0.75, 0.7))  # bridge highlight
        p.add(0.4 * _gauss(u, v, 0, -0.6, 0.3, 0.12), (0.8, 0.75, 0.7))  # forehead highlight
        for _ in range(int(r.integers(3, 6))):  # saturated patches over identity cues
            cu, cv = r.uniform(-0.8, 0.8), r.uniform(-0.6, 1.3)
            ru, rv = r.uniform(0.12, 0.35), r.uniform(0.12, 0.35)
            blob = np.clip((1 - np.hypot((u - cu) / ru, (v - cv) / rv)) * 6, 0, 1)
            colour = np.zeros(3)
            colour[r.permutation(3)[:2]] = r.uniform(0.05, 0.6, 2)
            p.add(0.85 * blob, colour)
        p.add(0.9 * lips, r.uniform(0.0, 0.3, 3))
    elif species == "makeup_impersonation":  # another person's skin, brows and lips
        other = build_face(seed, target_key(seed, user, "impersonated"), tpu)
        theirs = other.alb_open[..., :3]
        their_skin = np.asarray(make_identity(seed, target_key(seed, user, "impersonated")).skin)
        theirs = np.where((other.alb_open[..., 3] < 1.3)[..., None], their_skin, theirs)
        p.rgb = 0.15 * base + 0.85 * blur(theirs, 0.015, tpu)
    else:
        raise ValueError(f"unknown makeup species {species!r}; valid: {', '.join(MAKEUP)}")
    return p.rgb


@lru_cache(maxsize=2)
def makeup_model(seed: int, user: int, tpu: float, species: str) -> FaceModel:
    """The subject's face wearing makeup ``species`` (eyes and their lids keep blinking)."""
    model = build_face(seed, user, tpu)
    face = face_skin(seed, user, tpu)[..., None]
    a_open, a_closed = model.alb_open.copy(), model.alb_closed.copy()
    eye = (a_open[..., 3:4] < 1).astype(np.float32)
    # The same pigments over the open eyes' surroundings and over the closed lids.
    a_open[..., :3] += face * (1 - eye) * (_paint(seed, user, tpu, species, a_open[..., :3])
                                           - a_open[..., :3])  # fmt: skip
    a_closed[..., :3] += face * (_paint(seed, user, tpu, species, a_closed[..., :3])
                                 - a_closed[..., :3])  # fmt: skip
    out = FaceModel(model.tpu, a_open, a_closed, model.geom, model.zmap, model.z_max, model.eye_z)
    for a in (out.alb_open, out.alb_closed):
        a.setflags(write=False)
    return out
