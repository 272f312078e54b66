"""Approximate rank pooling (Bilen et al., dynamic images) and the NAS-FAS static-dynamic input.

A dynamic image summarises a short clip's temporal evolution in one image: a fixed weighted sum of
its frames whose weights approximate the first step of rank-SVM pooling. NAS-FAS adds it to the
clip's first (static) frame, so a single 2D network sees appearance and motion cues together.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Representation = Literal["static", "dynamic", "static_dynamic"]
REPRESENTATIONS: tuple[str, ...] = ("static", "dynamic", "static_dynamic")


def rank_pool_weights(t: int) -> np.ndarray:
    """α_1..α_T with α_t = Σ_{j=t..T} (2j − T − 1)/j (float64, length T).

    The original coefficients of approximate rank pooling; note that (2j − T)/j, found in one
    popular port, is a different weighting. The weights sum to zero, so a static scene gives a
    zero dynamic image.
    """
    if t < 1:
        raise ValueError(f"rank pooling needs at least one frame, got T={t}")
    j = np.arange(1, t + 1, dtype=np.float64)
    terms = (2.0 * j - t - 1.0) / j
    return np.cumsum(terms[::-1])[::-1].copy()


def dynamic_image(frames: np.ndarray) -> np.ndarray:
    """Σ_t α_t · frame_t over the first axis: (K, H, W, C) -> (H, W, C) float32, unnormalised."""
    frames = np.asarray(frames)
    if frames.ndim < 2:
        raise ValueError(f"expected (K, ...) frames, got shape {frames.shape}")
    alpha = rank_pool_weights(frames.shape[0]).astype(np.float32)
    return np.tensordot(alpha, frames.astype(np.float32, copy=False), axes=1)


def minmax(image: np.ndarray) -> np.ndarray:
    """Scale one image (all channels jointly) to [0, 1]; a constant image becomes all zeros."""
    image = np.asarray(image, dtype=np.float32)
    lo, hi = float(image.min()), float(image.max())
    if not np.isfinite(lo) or not np.isfinite(hi):
        raise ValueError("image holds NaN or inf")
    span = hi - lo
    if span <= 1e-12:
        return np.zeros_like(image)
    return (image - lo) / span


def static_dynamic(static: np.ndarray, dynamic: np.ndarray) -> np.ndarray:
    """min-max(static + min-max(dynamic)): the NAS-FAS static-dynamic image, in [0, 1].

    ``static`` is the clip's first frame scaled to [0, 1]; ``dynamic`` the raw dynamic image.
    Normalisation is per image over all channels, which keeps the colour balance of the frame.
    """
    static = np.asarray(static, dtype=np.float32)
    if static.shape != np.shape(dynamic):
        raise ValueError(f"static {static.shape} and dynamic {np.shape(dynamic)} shapes differ")
    return minmax(static + minmax(dynamic))


def represent(clip: np.ndarray, representation: str) -> np.ndarray:
    """One network input (H, W, C) float32 in [0, 1] from a clip (K, H, W, C) of uint8 frames.

    "static": the first frame; "dynamic": the min-max normalised dynamic image of the clip;
    "static_dynamic": the first frame plus the dynamic image, min-max normalised.
    """
    if representation not in REPRESENTATIONS:
        raise ValueError(
            f"unknown representation {representation!r}; valid: {', '.join(REPRESENTATIONS)}"
        )
    clip = np.asarray(clip)
    static = clip[0].astype(np.float32) / 255.0
    if representation == "static":
        return static
    dyn = dynamic_image(clip.astype(np.float32) / 255.0)
    if representation == "dynamic":
        return minmax(dyn)
    return static_dynamic(static, dyn)
