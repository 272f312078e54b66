"""Renderers of the instruments worn on the head (masks, makeup, printed pieces) for clips.

They share the live face's pipeline (3D height field, session light, room): only the face model
changes, and masks take the head's rigid motion without blinks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

import numpy as np

from .attacks import FACE_SCALE, face_tpu
from .faces import SKIN_SHININESS, FaceModel, Light, micro_motion, render_subject
from .makeup import MAKEUP, makeup_model
from .masks import MASKS, mask_model
from .partial import PARTIAL, piece_model
from .render import VideoSpec
from .sizes import SynthSize


class Context(Protocol):
    """What a worn-instrument renderer reads of its clip's context (``clips.Context``)."""

    seed: int
    video: VideoSpec
    size: SynthSize
    rng: np.random.Generator
    light: Light
    background: np.ndarray
    target: tuple[float, float]
    scale: float


Parts = tuple[list[np.ndarray], list[np.ndarray] | None, list[np.ndarray]]


def worn(ctx: Context, model: FaceModel, rigid: bool, shininess: int = SKIN_SHININESS) -> Parts:
    """Film the subject wearing ``model``'s surfaces; ``rigid`` freezes the eyelids."""
    s = ctx.background.shape[0]
    poses = micro_motion(ctx.rng, ctx.size.n_frames, ctx.size.fps, ctx.target[0], ctx.target[1],
                         FACE_SCALE * s * ctx.scale)  # fmt: skip
    if rigid:
        poses = [replace(p, blink=0.0) for p in poses]
    out = [render_subject(model, p, ctx.light, ctx.background, shininess) for p in poses]
    return [o[0] for o in out], [o[1] for o in out], [o[2] for o in out]


def _mask(species: str) -> Callable[[Context], Parts]:
    def render(ctx: Context) -> Parts:
        tpu = face_tpu(ctx.background.shape[0])
        model = mask_model(ctx.seed, ctx.video.user, tpu, species)
        return worn(ctx, model, rigid=True, shininess=MASKS[species].shininess)

    return render


def _makeup(species: str) -> Callable[[Context], Parts]:
    def render(ctx: Context) -> Parts:
        tpu = face_tpu(ctx.background.shape[0])
        return worn(ctx, makeup_model(ctx.seed, ctx.video.user, tpu, species), rigid=False)

    return render


def _piece(species: str, half: int | None = None) -> Callable[[Context], Parts]:
    """A printed piece; ``half`` fixes the paper patch over the eyes (0) or the mouth (1),
    otherwise the clip draws it."""

    def render(ctx: Context) -> Parts:
        tpu = face_tpu(ctx.background.shape[0])
        choice = 0
        if species == "partial_paper":
            choice = int(ctx.rng.integers(2)) if half is None else half
        model = piece_model(ctx.seed, ctx.video.user, tpu, species, choice)
        return worn(ctx, model, rigid=False)

    return render


RENDERERS: dict[str, Callable[[Context], Parts]] = {
    **{name: _mask(name) for name in MASKS},
    **{name: _makeup(name) for name in MAKEUP},
    **{name: _piece(name) for name in PARTIAL},
    # SiW-M's two partial paper attacks: the eye region or the mouth region covered.
    "partial_paper_eye": _piece("partial_paper", 0),
    "partial_paper_mouth": _piece("partial_paper", 1),
}
