"""Printed pieces worn on the live face: novelty and paper glasses, a paper patch, a cut photo.

The piece is a flat (or gently bent) printed sheet held in front of the face: halftone dots,
paper, baked-in photo shading, no sheen of skin, no depth relief; it moves rigidly with the head.
Everything it does not cover is the live face, blinking and moving (through the holes of a cut
photo the attacker's real eyes and mouth show).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .attacks import PRINTERS
from .common import rng_for, unit
from .faces import FaceModel, build_face, make_identity
from .facetex import Surface, box, ellipse, grid, overlay, photo_albedo, printed
from .makeup import target_key

PARTIAL = ("partial_funny_eye", "partial_paper_glasses", "partial_paper", "print_cut")
#: The sheet floats this far in front of the nearest skin it covers (face units).
STANDOFF = 0.03
#: Printer of each piece: novelty glasses are glossy laser prints, paper pieces inkjet or laser.
PIECE_PRINTER = {"partial_funny_eye": 1, "partial_paper_glasses": 1, "partial_paper": 1,
                 "print_cut": 1}  # fmt: skip
#: A cut photo is bent a little about the vertical axis (height drop at |u| = 1, face units).
CUT_PHOTO_BEND = 0.12


def _photo(seed: int, user: int, tpu: float, tag: str) -> np.ndarray:
    """A photo of ``user`` in texture space, lit by a light of its own."""
    r = rng_for(seed, tag, user)
    light = unit((r.uniform(-0.4, 0.4), r.uniform(-0.6, -0.2), 0.8))
    return photo_albedo(build_face(seed, user, tpu), light)


def _cartoon_eyes(u: np.ndarray, v: np.ndarray, tpu: float, r: np.random.Generator) -> np.ndarray:
    """Printed cartoon eyes on coloured novelty glasses (linear reflectance)."""
    img = np.empty(u.shape + (3,), np.float32)
    img[:] = r.uniform(0.1, 0.5, 3)  # the printed frame colour
    iris = r.uniform(0.05, 0.4, 3).astype(np.float32)
    du, dv = r.uniform(-0.08, 0.08), r.uniform(-0.05, 0.05)
    for cu in (-0.5, 0.5):
        for cover, colour in (
            (ellipse(u, v, cu, -0.03, 0.26, 0.26, tpu), (0.5, 0.5, 0.45)),  # off-white, shaded
            (ellipse(u, v, cu + du, -0.03 + dv, 0.14, 0.14, tpu), iris),
            (ellipse(u, v, cu + du, -0.03 + dv, 0.065, 0.065, tpu), (0.02, 0.02, 0.02)),
            (ellipse(u, v, cu + du + 0.04, dv - 0.08, 0.025, 0.025, tpu), (0.9, 0.9, 0.9)),
        ):
            img += cover[..., None] * (np.asarray(colour, np.float32) - img)
    return img


def _piece(seed: int, user: int, tpu: float, species: str, choice: int) -> tuple:
    """(cover, linear content, bend) of a piece in texture space."""
    idt = make_identity(seed, user)
    u, v = grid(tpu)
    r = rng_for(seed, "piece", user, species)
    if species == "partial_funny_eye":
        lenses = np.maximum(ellipse(u, v, -0.5, -0.03, 0.3, 0.3, tpu),
                            ellipse(u, v, 0.5, -0.03, 0.3, 0.3, tpu))  # fmt: skip
        cover = np.maximum(lenses, box(u, v, -0.25, 0.25, -0.1, -0.02, tpu))
        return cover, _cartoon_eyes(u, v, tpu, r), 0.0
    if species == "partial_paper_glasses":
        cover = np.maximum.reduce([box(u, v, -0.82, -0.18, -0.24, 0.26, tpu),
                                   box(u, v, 0.18, 0.82, -0.24, 0.26, tpu),
                                   box(u, v, -0.2, 0.2, -0.14, -0.06, tpu)])  # fmt: skip
        inner = np.maximum(box(u, v, -0.78, -0.22, -0.2, 0.22, tpu),
                           box(u, v, 0.22, 0.78, -0.2, 0.22, tpu))  # fmt: skip
        content = _photo(seed, target_key(seed, user, "glasses"), tpu, "glasses-photo")
        content = content + (1 - inner)[..., None] * (np.float32(0.03) - content)  # printed rim
        return cover, content, 0.0
    if species == "partial_paper":
        split = 0.42  # across the nose, between the eyes and the mouth
        v0, v1 = ((-0.8, split), (split, idt.mouth_v + 0.45))[choice]
        cover = box(u, v, -1.0, 1.0, v0, v1, tpu)
        return cover, _photo(seed, target_key(seed, user, "patch"), tpu, "patch-photo"), 0.0
    if species == "print_cut":
        holes = np.maximum.reduce(
            [
                ellipse(u, v, -0.5, 0.0, 0.25, 0.13, tpu),
                ellipse(u, v, 0.5, 0.0, 0.25, 0.13, tpu),
                ellipse(u, v, 0.0, idt.mouth_v, 0.6 * idt.mouth_w, 0.11, tpu),
            ]
        )
        cover = box(u, v, -1.35, 1.35, -1.5, 2.2, tpu) * (1 - holes)  # fmt: skip
        return cover, _photo(seed, user, tpu, "cut-photo"), CUT_PHOTO_BEND
    raise ValueError(f"unknown printed piece {species!r}; valid: {', '.join(PARTIAL)}")


@lru_cache(maxsize=2)
def piece_model(seed: int, user: int, tpu: float, species: str, choice: int = 0) -> FaceModel:
    """The subject's live face with a printed piece in front of it (``choice`` 0/1 picks the
    upper or lower half for ``partial_paper``)."""
    model = build_face(seed, user, tpu)
    cover, content, bend = _piece(seed, user, tpu, species, choice)
    u, _ = grid(tpu)
    covered = cover > 0.5
    z0 = float(model.zmap[covered].max()) + STANDOFF
    z = (z0 - bend * u**2).astype(np.float32)
    printer = PIECE_PRINTER[species]
    r = rng_for(seed, "piece-print", user, species)
    refl = printed(content, printer, r)
    sheen = PRINTERS[printer].gloss
    return overlay(model, Surface(cover, refl, z, sheen, opaque=True, hides_eyes=True))
