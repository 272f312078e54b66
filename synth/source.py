"""The source phone: the camera that shot what an attack presents (the photo printed, the video
replayed), as OULU-NPU's attack sources were shot with a high-quality phone's rear camera."""

from __future__ import annotations

import numpy as np

from .camera import PHONES, add_sensor_noise, jpeg_roundtrip, sense
from .common import LUMA, SUPERSAMPLE, channels_first, channels_last

#: The camera that shot the attack sources (OULU-NPU: a high-quality phone's rear camera).
SOURCE_CAMERA = 8
#: Blend of an S-curve into the sources' tone (0: the plain gamma of a video frame).
SOURCE_CONTRAST = 0.5


def encode_source(lin: np.ndarray, exposure: float, gains: np.ndarray) -> np.ndarray:
    """The source phone's output, processed like a phone portrait: face-weighted exposure, the
    phone's partial grey-world white balance, its saturation and gamma, and the moderate S-curve
    (``SOURCE_CONTRAST``) phones give stills. The S-curve makes up for the contrast a print or a
    screen loses on the way (paper and ink, panel resolution, glass): the attack's face then
    keeps about a live face's contrast, and what gives it away is local."""
    cam = PHONES[SOURCE_CAMERA]
    x = channels_first(lin)  # channels-first (see channels_first); the luma stays the same matmul
    x *= np.asarray(gains)[:, None, None]
    x *= np.float32(exposure)
    np.clip(x, 0, None, out=x)
    luma = channels_last(x) @ LUMA
    x = np.clip(luma + np.float32(cam.saturation) * (x - luma), 0, 1)
    v = np.power(x, np.float32(1 / cam.gamma))
    return channels_last((1 - SOURCE_CONTRAST) * v + SOURCE_CONTRAST * v * v * (3 - 2 * v))


def source_video(
    rad: np.ndarray, exposure: float, gains: np.ndarray, r: np.random.Generator
) -> np.ndarray:
    """One frame of the source phone's video of supersampled radiance ``rad``: its optics blur,
    pixels at the frame size (OULU-NPU's source videos are full HD, like the capturing phones'),
    sensor noise (the capturing phones' ``sense`` and ``add_sensor_noise``), colour processing
    (``encode_source``) and its compression."""
    cam = PHONES[SOURCE_CAMERA]
    x = add_sensor_noise(sense(rad, cam, rad.shape[0] // SUPERSAMPLE), cam, r, exposure)
    rgb = np.clip(encode_source(x, exposure, gains) * 255 + 0.5, 0, 255).astype(np.uint8)
    return jpeg_roundtrip(rgb[..., ::-1], cam.jpeg_quality)[..., ::-1].astype(np.float32) / 255
