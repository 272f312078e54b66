"""3D masks worn over the face: resin, silicone, transparent, papercraft, mannequin, half masks.

A mask is a real 3D surface (it shades and shows parallax like a face) but it is made, not
grown: its albedo is painted or printed (no pores, no mottling), it is smoother than the face it
copies, it has a plastic sheen, an edge where it ends, and it moves only rigidly with the head
(no blinks, no expression). The mask depicts the subject of the clip.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .common import rng_for, unit
from .faces import FaceModel, build_face, make_identity
from .facetex import Surface, blur, face_skin, grid, overlay, photo_albedo, printed

#: Height of the mask shell above the skin it rests on (face units).
MASK_THICKNESS = 0.02


@dataclass(frozen=True)
class MaskKind:
    """How a kind of mask is made (lengths in face units)."""

    texture: float  # share of the skin's fine texture kept in the paint (silicone keeps some)
    smooth: float  # blur of the painted albedo
    relief: float  # blur of the geometry (a cast or a printed shell is smoother than a face)
    sheen: float  # specular strength (skin: 0.05)
    shininess: int  # specular lobe exponent (power of two; skin: 16)
    tint: tuple[float, float, float]  # colour of the material showing through the paint
    haze: float  # transparent masks: share of a milky layer over the wearer's face
    uniform: float  # mannequins: share of one plastic colour replacing the skin's variation
    flat: float  # papercraft: share of a cylinder wrapped around the head replacing the relief
    facet: float  # papercraft: size of the folded facets (0: smooth)
    printer: int  # papercraft: the printer of its texture (0: painted, not printed)
    upper_only: bool  # half masks end below the nose: the real mouth and chin stay visible
    eye_holes: bool  # the wearer's (unblinking) eyes show through holes
    seam: float  # darkening along the mask's edge (a gap and its shadow)


MASKS: dict[str, MaskKind] = {
    # A rigid resin mask (3DMAD / HKBU-MARs / CASIA-SURF 3DMask): printed paint on a shell.
    "mask_hard": MaskKind(0.0, 0.05, 0.05, 0.2, 64, (1.04, 1.0, 0.95), 0, 0, 0, 0, 0, False,
                          False, 0.5),
    "mask_silicone": MaskKind(0.45, 0.03, 0.02, 0.09, 16, (1.05, 0.97, 0.95), 0, 0, 0, 0, 0,
                              False, True, 0.3),
    "mask_transparent": MaskKind(0.0, 0.02, 0.03, 0.35, 128, (1.0, 1.0, 1.0), 0.45, 0, 0, 0, 0,
                                 False, True, 0.2),
    "mask_paper": MaskKind(0.0, 0.0, 0.05, 0.0, 16, (1.0, 1.0, 1.0), 0, 0, 0.7, 0.3, 1, False,
                           False, 0.6),
    "mask_mannequin": MaskKind(0.0, 0.06, 0.06, 0.25, 32, (1.08, 1.02, 0.96), 0, 0.8, 0, 0, 0,
                               False, False, 0.0),
    "mask_half": MaskKind(0.0, 0.05, 0.05, 0.2, 64, (0.95, 0.97, 1.05), 0, 0, 0, 0, 0, True,
                          True, 0.5),
}  # fmt: skip


def _facets(z: np.ndarray, size: float, tpu: float) -> np.ndarray:
    """Piecewise-bilinear height on a coarse grid: the folds of a papercraft model."""
    import cv2

    h, w = z.shape
    gh, gw = max(2, int(h / (size * tpu))), max(2, int(w / (size * tpu)))
    coarse = cv2.resize(z, (gw, gh), interpolation=cv2.INTER_AREA)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)


@lru_cache(maxsize=2)
def mask_model(seed: int, user: int, tpu: float, species: str) -> FaceModel:
    """The subject's face with a mask of kind ``species`` worn over it."""
    kind = MASKS[species]
    model = build_face(seed, user, tpu)
    idt = make_identity(seed, user)
    u, v = grid(tpu)
    cover = face_skin(seed, user, tpu).copy()
    if kind.upper_only:  # ends just below the nose
        cover *= np.clip((idt.nose_tip + 0.12 - v) * tpu + 0.5, 0, 1)
    base = model.alb_open[..., :3]
    skin = np.asarray(idt.skin, np.float32)
    if kind.printer:
        r = rng_for(seed, "mask-print", user, species)
        light = unit((r.uniform(-0.3, 0.3), r.uniform(-0.5, -0.2), 0.85))
        paint = printed(photo_albedo(model, light), kind.printer, r)
    else:
        smooth = blur(base, kind.smooth, tpu)
        paint = kind.texture * base + (1 - kind.texture) * smooth
        if kind.uniform:
            plastic = np.clip(skin * 1.15, 0, 0.8)  # one even, slightly pale plastic
            paint = kind.uniform * plastic + (1 - kind.uniform) * paint
        if kind.haze:  # the wearer's face seen through a milky, glossy shell
            paint = (1 - kind.haze) * 0.8 * paint + kind.haze * np.float32(0.7)
    paint = paint * np.asarray(kind.tint, np.float32)
    if kind.eye_holes:  # the wearer's eyes through the holes, not painted over
        hole = (model.alb_open[..., 3] < 1.3).astype(np.float32)
        cover *= 1 - blur(hole, 0.02, tpu).clip(0, 1)
    if kind.seam:
        soft = blur(cover, 0.04, tpu)
        paint = paint * (1 - kind.seam * np.clip(4 * soft * (1 - soft), 0, 1))[..., None]
    z = blur(model.zmap, kind.relief, tpu)
    if kind.flat:
        ax = idt.head_ax * 1.05
        cyl = idt.head_az * 0.9 * np.sqrt(np.clip(1 - (u / ax) ** 2, 0, 1))
        z = kind.flat * cyl + (1 - kind.flat) * z
    if kind.facet:
        z = _facets(z.astype(np.float32), kind.facet, tpu)
    surface = Surface(cover, paint.astype(np.float32), (z + MASK_THICKNESS).astype(np.float32),
                      kind.sheen, hides_eyes=not kind.eye_holes)  # fmt: skip
    return overlay(model, surface)
