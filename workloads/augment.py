"""Training augmentation of frame batches: horizontal flips and illumination jitter.

The plain definition is :func:`jitter_illumination` on one float image in [0, 1]: a random light
level, tone curve (gamma) and white balance, since protocols such as OULU-NPU P1 test under
lighting the training sessions never had. The batch path computes the same values cheaply: a
frame is still uint8 when it is flipped (with its map) and the jitter of a uint8 pixel depends
only on its value, image and channel, so each image's curve is a 256-entry table per channel and
the float conversion is one table lookup per pixel (``tests/workloads/test_datapath.py`` checks it
against the plain definition).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

#: Illumination jitter ranges: overall gain, log-gamma, per-channel white-balance gain.
GAIN, LOG_GAMMA, WHITE_BALANCE = (0.6, 1.4), (-0.4, 0.4), (0.8, 1.25)

_LEVELS = torch.arange(256, dtype=torch.float32)
_IDENTITY = (_LEVELS / 255.0).numpy()
_IDENTITY.flags.writeable = False


def _uniform(
    lo: float, hi: float, shape: tuple[int, ...], generator: torch.Generator | None
) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=generator)


@dataclass(frozen=True)
class Draw:
    """One batch's augmentation: flip (n,) bool, gamma (n,), gain (n, 3)."""

    flip: torch.Tensor
    gamma: torch.Tensor
    gain: torch.Tensor

    @classmethod
    def sample(cls, n: int, generator: torch.Generator | None = None) -> Draw:
        flip = torch.rand((n,), generator=generator) < 0.5
        gamma = torch.exp(_uniform(*LOG_GAMMA, (n,), generator))
        gain = _uniform(*GAIN, (n, 1), generator) * _uniform(*WHITE_BALANCE, (n, 3), generator)
        return cls(flip, gamma, gain)


def jitter_illumination(
    image: torch.Tensor,
    gamma: torch.Tensor | None = None,
    gain: torch.Tensor | None = None,
) -> torch.Tensor:
    """The plain jitter of a (3, S, S) image in [0, 1]: ``clamp(image ** gamma * gain, 0, 1)``
    with a scalar ``gamma`` and a (3,) ``gain`` (drawn from torch's RNG when not given)."""
    if gamma is None or gain is None:
        draw = Draw.sample(1)
        gamma, gain = draw.gamma[0], draw.gain[0]
    return (image.clamp_min(0).pow(gamma) * gain.view(3, 1, 1)).clamp_(0.0, 1.0)


def identity_table() -> np.ndarray:
    """uint8 value -> float32 in [0, 1], exactly ``value / 255`` as ``.float().div(255)``."""
    return _IDENTITY


def tone_tables(gamma: torch.Tensor, gain: torch.Tensor) -> np.ndarray:
    """(n, 3, 256) float32: the jittered value of each uint8 level, per image and channel."""
    levels = (_LEVELS / 255.0).view(1, 1, 256)
    out = levels.pow(gamma.view(-1, 1, 1)) * gain.view(-1, 3, 1)
    return out.clamp_(0.0, 1.0).numpy()


def to_float(images: np.ndarray, tables: np.ndarray | None = None) -> torch.Tensor:
    """uint8 (n, C, S, S) -> float32 in [0, 1] through per-image, per-channel tables
    ((n, C, 256), e.g. :func:`tone_tables`) or the plain ``/ 255`` when None."""
    if tables is None:
        return torch.from_numpy(images).float().div_(255.0)
    out = np.empty(images.shape, np.float32)
    for i in range(images.shape[0]):
        for c in range(images.shape[1]):  # a uint8 index never leaves the 256-entry table
            np.take(tables[i, c], images[i, c], out=out[i, c], mode="clip")
    return torch.from_numpy(out)
