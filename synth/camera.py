"""The capture side: six phone cameras (OULU phones 1-6) and three sessions (light + background).

Every cue a camera adds comes from the imaging chain: optics blur, pixel integration, sensor shot
and read noise, auto exposure and white balance, colour processing, sharpening and JPEG. The
session fixes the illumination (direction, colour temperature, intensity, ambient) and the room.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .common import (
    LUMA,
    SUPERSAMPLE,
    band_noise,
    cct_rgb,
    channels_first,
    channels_last,
    rng_for,
    unit,
)
from .faces import Light

#: Target linear mean (middle grey) of the face-weighted auto exposure, and its gain limits.
AE_TARGET = 0.2
AE_LIMITS = (0.3, 6.0)
#: The metering spot: phones expose for a detected face (portrait and front-camera video), not
#: for the room; a Gaussian weight at the face's place in the framing every video shares (eyes at
#: 0.42 of the height, the face's centre a little below), this wide (fraction of the frame). A
#: centre-weighted meter lets a bright window behind a live user darken the face, while a print
#: or screen, whose highlights are clipped, shows the same face brighter: a global shortcut.
AE_SPOT = (0.5, 0.5, 0.15)
#: The room behind the subject is out of focus (Gaussian sigma as a fraction of the frame width).
BACKGROUND_DEFOCUS = 0.025
#: The background canvas is this much larger than the frame; each video sees a shifted crop.
BACKGROUND_MARGIN = 0.12
#: Per-video jitter of the session light (direction components, relative intensity).
LIGHT_DIR_JITTER = 0.08
LIGHT_GAIN_JITTER = 0.1
#: Per-video spread of the phone's automatic processing, the same for every kind of scene: the
#: exposure target (log std), white-balance error per channel (log std) and tone-curve gamma
#: (relative std). Real phones meter and balance each video differently, so global brightness,
#: colour and contrast vary within a class as much as between live faces and attacks; without
#: it a linear model on global statistics separates the classes (see bench/bench_benchmark.py).
AE_JITTER = 0.25
WB_JITTER = 0.06
TONE_JITTER = 0.12


@dataclass(frozen=True)
class Phone:
    """A phone camera: noise (linear units), blur (output px), colour and compression."""

    read_noise: float
    shot_noise: float  # variance per unit of linear signal
    blur_px: float
    cast: tuple[float, float, float]  # residual white-balance error of its ISP
    saturation: float
    gamma: float
    sharpen: float
    jpeg_quality: int
    res_scale: float  # native video resolution relative to the frame (upscaled afterwards)
    awb_strength: float  # how much of the grey-world correction its AWB applies
    skip_sampling: bool  # video read out by line skipping (aliases) instead of pixel binning


#: OULU-NPU's six phones all film in full HD, so they differ in optics, noise and processing
#: far more than in resolution: their native scale stays within 0.85-1 of the frame (a lower one
#: would erase, at the small benchmark sizes, the print and screen textures real phones resolve).
PHONES: dict[int, Phone] = {
    1: Phone(0.003, 0.0005, 0.45, (1.03, 1.00, 0.96), 1.08, 2.2, 0.35, 90, 1.00, 0.7, False),
    2: Phone(0.006, 0.0011, 0.65, (0.96, 1.00, 1.06), 0.95, 2.1, 0.10, 80, 0.90, 0.6, False),
    3: Phone(0.004, 0.0008, 0.50, (1.06, 1.00, 0.93), 1.12, 2.3, 0.50, 85, 1.00, 0.5, False),
    4: Phone(0.008, 0.0015, 0.65, (0.98, 1.02, 1.00), 0.90, 2.2, 0.00, 75, 0.85, 0.8, True),
    5: Phone(0.005, 0.0010, 0.55, (1.00, 0.98, 1.05), 1.00, 2.4, 0.20, 88, 0.95, 0.6, False),
    6: Phone(0.007, 0.0013, 0.70, (1.05, 1.00, 1.00), 1.02, 2.0, 0.40, 70, 0.90, 0.7, True),
    # Beyond OULU's phones (used by the clip API for the other datasets' devices):
    # a low-resolution USB webcam (noisy, soft, heavily compressed, line-skipped readout),
    7: Phone(0.012, 0.0025, 0.95, (1.04, 1.00, 0.94), 0.85, 2.0, 0.15, 60, 0.50, 0.5, True),
    # a high-quality camera (large sensor: little noise, sharp, light compression),
    8: Phone(0.002, 0.0003, 0.35, (1.00, 1.00, 1.00), 1.05, 2.2, 0.25, 95, 1.00, 0.9, False),
    # a laptop webcam (bluish cast, moderate noise and compression).
    9: Phone(0.007, 0.0014, 0.75, (0.95, 1.00, 1.08), 0.92, 2.2, 0.30, 78, 0.75, 0.6, False),
}


@dataclass(frozen=True)
class Session:
    """A recording condition: key light, ambient, and the kind of room behind the user."""

    direction: tuple[float, float, float]
    cct: float
    intensity: float
    ambient: float
    ambient_cct: float
    room: str  # "office_window_behind" | "meeting_room" | "office_window_front" | "plain_wall"


SESSIONS: dict[int, Session] = {
    1: Session((0.25, -0.75, 0.6), 4300.0, 0.85, 0.30, 5500.0, "office_window_behind"),
    2: Session((-0.65, -0.45, 0.6), 3000.0, 0.55, 0.12, 3200.0, "meeting_room"),
    3: Session((0.5, -0.5, 0.71), 5600.0, 1.0, 0.25, 6300.0, "office_window_front"),
    # Beyond OULU's sessions (used by the clip API for the other datasets' recordings):
    4: Session((0.0, -0.3, 0.95), 4000.0, 0.80, 0.40, 4000.0, "plain_wall"),  # lab, frontal
    5: Session((0.8, -0.2, 0.55), 3400.0, 0.95, 0.08, 3000.0, "meeting_room"),  # hard side lamp
    6: Session((-0.2, -0.9, 0.4), 5600.0, 1.30, 0.45, 6500.0, "office_window_behind"),  # daylight
    7: Session((-0.45, -0.55, 0.7), 2700.0, 0.45, 0.15, 2700.0, "office_window_front"),  # dim, warm
    8: Session((0.1, -0.6, 0.8), 6500.0, 0.70, 0.50, 4500.0, "plain_wall"),  # cool, diffuse
}


def session_light(session: int, rng: np.random.Generator) -> Light:
    """The session's light with a small per-video jitter (the user sits a little differently)."""
    s = SESSIONS[session]
    d = unit(np.asarray(s.direction) + rng.uniform(-LIGHT_DIR_JITTER, LIGHT_DIR_JITTER, 3))
    gain = s.intensity * (1 + rng.uniform(-LIGHT_GAIN_JITTER, LIGHT_GAIN_JITTER))
    return Light(
        tuple(float(x) for x in d),
        tuple(float(x) for x in gain * cct_rgb(s.cct)),
        tuple(float(x) for x in s.ambient * cct_rgb(s.ambient_cct)),
    )


def _rect(
    img: np.ndarray, x0: float, y0: float, x1: float, y1: float, value: np.ndarray, n: int
) -> None:
    a, b = int(round(y0 * n)), int(round(y1 * n))
    c, d = int(round(x0 * n)), int(round(x1 * n))
    img[max(a, 0) : max(b, 0), max(c, 0) : max(d, 0)] = value


@lru_cache(maxsize=8)
def session_background(seed: int, session: int, size: int) -> np.ndarray:
    """The room behind the user (linear radiance, square canvas of ``size`` px), defocused."""
    s = SESSIONS[session]
    r = rng_for(seed, "room", session)
    n = int(round(size * (1 + BACKGROUND_MARGIN)))
    wall = r.uniform(0.35, 0.65) * np.array([1.0, 0.95, 0.85]) * r.uniform(0.9, 1.1, 3)
    alb = np.empty((n, n, 3), np.float32)
    alb[:] = wall
    emit = np.zeros((n, n, 3), np.float32)
    if s.room == "office_window_behind":
        x0 = r.uniform(0.0, 0.5)
        _rect(emit, x0, -0.1, x0 + r.uniform(0.35, 0.5), 0.55, 1.6 * cct_rgb(6500), n)
        for _ in range(3):  # partitions and desks
            x, y = r.uniform(-0.2, 0.9), r.uniform(0.45, 0.8)
            _rect(alb, x, y, x + r.uniform(0.2, 0.5), 1.1, r.uniform(0.1, 0.5, 3), n)
    elif s.room == "meeting_room":
        x = r.uniform(-0.1, 0.5)
        _rect(alb, x, 0.1, x + 0.55, 0.5, np.array([0.8, 0.8, 0.78]), n)  # whiteboard
        xd = r.choice([0.02, 0.75])
        _rect(alb, xd, 0.05, xd + 0.22, 1.1, np.array([0.3, 0.18, 0.1]), n)  # door
        _rect(alb, -0.1, 0.82, 1.1, 1.1, np.array([0.22, 0.15, 0.1]), n)  # table
    elif s.room == "plain_wall":  # a controlled recording: a uniform wall, a faint shadow
        y = r.uniform(0.55, 0.8)
        _rect(alb, -0.1, y, 1.1, 1.1, wall * r.uniform(0.6, 0.85), n)
    else:
        for row in range(3):  # a shelf of books
            y = 0.1 + 0.22 * row
            x = 0.0
            while x < 0.45:
                w = r.uniform(0.02, 0.05)
                _rect(alb, x, y + r.uniform(0, 0.05), x + w, y + 0.18, r.uniform(0.05, 0.6, 3), n)
                x += w + 0.004
        _rect(alb, 0.62, 0.15, 0.9, 0.42, r.uniform(0.1, 0.7, 3), n)  # picture
    alb *= (1 + 0.04 * band_noise(r, (n, n), n / 40))[..., None]
    grad = np.linspace(1.15, 0.8, n, dtype=np.float32)[:, None, None]  # light falls off downwards
    light = s.ambient * cct_rgb(s.ambient_cct) + 0.6 * s.intensity * cct_rgb(s.cct)
    rad = alb * grad * light + emit
    out = cv2.GaussianBlur(rad.astype(np.float32), (0, 0), BACKGROUND_DEFOCUS * size)
    out.setflags(write=False)
    return out


def background_crop(seed: int, session: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A per-video crop of the session's room (the phone is held slightly differently each time)."""
    bg = session_background(seed, session, size)
    m = bg.shape[0] - size
    y, x = rng.integers(0, m + 1, 2)
    return np.ascontiguousarray(bg[y : y + size, x : x + size])


@lru_cache(maxsize=4)
def _metering_weight(h: int, w: int) -> tuple[np.ndarray, float]:
    """The metering spot's weight per pixel of an (h, w) frame, and its sum."""
    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy, r = AE_SPOT
    wgt = np.exp(-(((xx - cx * w) / (r * w)) ** 2 + ((yy - cy * h) / (r * h)) ** 2))
    wgt.setflags(write=False)
    return wgt, wgt.sum()


def auto_exposure(scene: np.ndarray) -> float:
    """Face-weighted exposure gain (``AE_SPOT``), locked on the first frame like a phone's AE."""
    wgt, total = _metering_weight(*scene.shape[:2])
    lum = scene @ LUMA
    mean = float((lum * wgt).sum() / total)
    return float(np.clip(AE_TARGET / max(mean, 1e-4), *AE_LIMITS))


def white_balance(scene: np.ndarray, phone: Phone) -> np.ndarray:
    """Grey-world AWB (partial, per phone) times the phone's residual cast, locked on frame 0."""
    mean = scene.reshape(-1, 3).mean(0).astype(np.float64)
    gw = float(mean @ LUMA) / np.maximum(mean, 1e-4)
    gains = np.asarray(phone.cast) * gw**phone.awb_strength
    return (gains / float(gains @ LUMA)).astype(np.float32)


def capture(
    scenes: list[np.ndarray], phone: Phone, rng: np.random.Generator, frame_size: int
) -> np.ndarray:
    """Film supersampled linear scenes with a phone: uint8 BGR frames (T, F, F, 3).

    Exposure and white balance lock on the first frame; then per frame: optics blur, pixel
    integration at the native resolution, shot + read noise, ISP (gains, saturation, tone curve,
    sharpening), JPEG, and the upscale to the frame size.
    """
    f = frame_size
    exposure, gains = auto_exposure(scenes[0]), white_balance(scenes[0], phone)
    exposure *= float(np.exp(rng.normal(0, AE_JITTER)))
    gains = gains * np.exp(rng.normal(0, WB_JITTER, 3)).astype(np.float32)
    gamma = phone.gamma * float(np.clip(1 + rng.normal(0, TONE_JITTER), 0.7, 1.3))
    native = max(16, int(round(f * phone.res_scale)))
    readout = cv2.INTER_NEAREST if phone.skip_sampling else cv2.INTER_AREA
    x = np.stack([sense(sc, phone, native, readout) for sc in scenes]) * np.float32(exposure)
    add_sensor_noise(x, phone, rng)
    # colour processing channels-first (see channels_first); the luma stays the same matmul
    planes = channels_first(x)
    planes *= gains[:, None, None, None]
    luma = channels_last(planes) @ LUMA
    planes -= luma
    planes *= np.float32(phone.saturation)
    planes += luma
    np.clip(planes, 0, 1, out=planes)
    np.power(planes, np.float32(1 / gamma), out=planes)
    x = channels_last(planes)
    if phone.sharpen:
        blur = np.stack([cv2.GaussianBlur(fr, (0, 0), 1.0) for fr in x])
        detail = np.subtract(x, blur, out=blur)
        detail *= np.float32(phone.sharpen)
        x += detail
    x *= 255
    x += 0.5
    imgs = np.clip(x, 0, 255, out=x).astype(np.uint8)
    out = np.empty((len(scenes), f, f, 3), np.uint8)
    for i, rgb in enumerate(imgs):
        img = jpeg_roundtrip(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), phone.jpeg_quality)
        out[i] = img if native == f else cv2.resize(img, (f, f), interpolation=cv2.INTER_LINEAR)
    return out


def sense(
    scene: np.ndarray, phone: Phone, native: int, readout: int = cv2.INTER_AREA
) -> np.ndarray:
    """What reaches a phone's pixels of one supersampled linear scene: its optics blur, then
    integration over ``native`` x ``native`` pixels (``readout``: area, or nearest for a sensor
    that skips rows and columns)."""
    blurred = cv2.GaussianBlur(scene, (0, 0), phone.blur_px * SUPERSAMPLE)
    return cv2.resize(blurred, (native, native), interpolation=readout)


def add_sensor_noise(
    x: np.ndarray, phone: Phone, rng: np.random.Generator, exposure: float = 1.0
) -> np.ndarray:
    """Add a phone's shot and read noise to a linear signal ``x`` (float32, in place; returned).

    The noise is that of the exposed signal ``e = exposure * x``: Gaussian with variance
    ``shot_noise * e + read_noise**2``, added in ``x``'s units (divided by ``exposure``)."""
    sigma = x * np.float32(exposure)
    np.clip(sigma, 0, None, out=sigma)
    sigma *= np.float32(phone.shot_noise)
    sigma += np.float32(phone.read_noise**2)
    noise = rng.standard_normal(x.shape, dtype=np.float32)
    noise *= np.sqrt(sigma, out=sigma)
    if exposure != 1:
        noise /= np.float32(exposure)
    x += noise
    return x


def jpeg_roundtrip(bgr: np.ndarray, quality: int) -> np.ndarray:
    """A uint8 BGR image as a phone stores it: JPEG at ``quality``, decoded again."""
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)
