"""Small shared helpers: keyed random streams, smooth trajectories, light colour, masks."""

from __future__ import annotations

import zlib

import cv2
import numpy as np

#: The scene is composed at this many samples per output pixel (per axis) before the camera
#: integrates it: fine periodic structure (halftone dots, display subpixels) then aliases the way
#: a real sensor does instead of being pre-filtered away.
SUPERSAMPLE = 2

#: Correlated colour temperature (K) -> linear RGB of a blackbody-like source, normalised below to
#: unit luminance (approximate values, enough to give warm and cool casts).
_CCT_K = np.array([2700.0, 3200.0, 4000.0, 5000.0, 6500.0, 8000.0])
_CCT_RGB = np.array(
    [
        [1.00, 0.56, 0.24],
        [1.00, 0.65, 0.36],
        [1.00, 0.77, 0.56],
        [1.00, 0.88, 0.76],
        [1.00, 1.00, 1.00],
        [0.86, 0.93, 1.10],
    ]
)
LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def rng_for(*keys: int | str) -> np.random.Generator:
    """An independent random stream per key tuple: any video renders the same in any order."""
    words = [k if isinstance(k, int) else zlib.crc32(k.encode()) for k in keys]
    if any(w < 0 for w in words):
        raise ValueError(f"random keys must be non-negative: {keys}")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(words)))


def cct_rgb(kelvin: float) -> np.ndarray:
    """Linear RGB (unit luminance) of a light of the given colour temperature."""
    rgb = np.array([np.interp(kelvin, _CCT_K, _CCT_RGB[:, c]) for c in range(3)])
    return (rgb / float(rgb @ LUMA)).astype(np.float32)


def wobble(
    rng: np.random.Generator, t: np.ndarray, amp: float, f_lo: float, f_hi: float, n: int = 2
) -> np.ndarray:
    """A smooth random motion (sum of sinusoids, RMS ``amp``) sampled at times ``t`` seconds."""
    out = np.zeros_like(t, dtype=np.float64)
    for _ in range(n):
        f = rng.uniform(f_lo, f_hi)
        out += np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return (out * amp * np.sqrt(2.0 / n)).astype(np.float64)


def band_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Zero-mean, unit-std noise low-passed at ``sigma`` pixels (texture, grain, mottling)."""
    n = rng.standard_normal(shape).astype(np.float32)
    if sigma > 0:
        n = cv2.GaussianBlur(n, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return n / max(float(n.std()), 1e-6)


def unit(v: np.ndarray | tuple[float, ...]) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def channels_first(x: np.ndarray) -> np.ndarray:
    """(..., C) -> a contiguous (C, ...) copy.

    Per-pixel weights (H, W) and per-channel constants (C, 1, 1) then broadcast over long
    contiguous runs; on (H, W, C) images numpy loops over the C channels innermost, several times
    slower. The values are copied, not computed: arithmetic on either layout gives the same bits.
    """
    c = x.shape[-1]  # OpenCV's transpose and merge copy faster than numpy's strided copies
    return cv2.transpose(np.ascontiguousarray(x).reshape(-1, c)).reshape(c, *x.shape[:-1])


def channels_last(x: np.ndarray) -> np.ndarray:
    """(C, ..., W) -> a contiguous (..., W, C) copy (the layout OpenCV reads)."""
    merged = cv2.merge([np.ascontiguousarray(p).reshape(-1, x.shape[-1]) for p in x])
    return merged.reshape(*x.shape[1:], len(x))
