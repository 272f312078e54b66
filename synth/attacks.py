"""Presentation attack instruments: two printers (print 1/2) and four displays (replay 1-4).

A print is a still photo of the user, taken elsewhere under another light, half-toned by a
printer onto paper; a replay is a recorded live video of the user shown on a screen. The cues are
what making and capturing them leaves: halftone dots and paper, reduced gamut and contrast, the
screen's subpixel lattice (aliased by the camera into moire), display gamma, refresh flicker and a
rolling band, a bezel and glare from glass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .camera import PHONES, auto_exposure, background_crop, session_light, white_balance
from .common import LUMA, SUPERSAMPLE, band_noise, channels_first, channels_last, rng_for
from .faces import Light, Pose, build_face, micro_motion, render_subject
from .source import SOURCE_CAMERA, encode_source, source_video

#: Print/screen textures carry this many texels per output pixel (at the nominal distance).
PRINT_TEXELS_PER_PX = 4
#: Photo framing: printed photo width relative to the frame, aspect, white margin of the sheet.
PHOTO_WIDTH = 1.0
PHOTO_ASPECT = 1.25
PAPER_MARGIN = 0.02
#: Face framing shared by live video, photo and recording: d = FACE_SCALE x width, eyes at
#: (0.5, FACE_Y) of the width/height.
FACE_SCALE = 0.21
FACE_Y = 0.42
#: The photo (print source) and the replayed video were shot earlier in the same session's room
#: and light as the attack's recording (as OULU-NPU's attack sources were shot in its sessions),
#: and under the same key light as the live videos (a brighter key on the face only in the
#: sources would make every attack's face brighter than its surroundings, a global cue). A source
#: shot in another room would let a model tell attacks by their backdrop: with sessions 1-2 for
#: training, session 3's room would appear only in attacks, and the live faces of a session-3
#: test would be called attacks.


#: Inks are photo-grade (little cross-absorption) and the sheet nearly borderless: a print keeps
#: roughly a live face's tonal range, so what gives it away is local (halftone, paper, flatness),
#: not a washed-out colour or a white frame that a global statistic would catch. Halftone pitch
#: and paper grain are those of real prints filmed at arm's length by a full-HD phone: the dots
#: (a few output px) and the fibres stay resolvable after the face crop is scaled to a small
#: network input, as real prints' are at the papers' input sizes.
@dataclass(frozen=True)
class Printer:
    """Print process: halftone kind and pitch (output px), inks (gamut), paper."""

    screen: str  # "am": clustered dots on rotated screens (laser); "fm": stochastic drops (inkjet)
    pitch_px: float
    inks: tuple[tuple[float, float, float], ...]  # absorption of C, M, Y inks in R, G, B
    tone_gamma: float  # the driver's tone curve (contrast/gamut compression)
    paper: tuple[float, float, float]  # paper white reflectance (< 1: contrast loss)
    grain: float  # relative std of paper fibre texture
    gloss: float  # specular reflectance of the surface
    dot_gain_px: float  # ink spread (blur), output px


PRINTERS: dict[int, Printer] = {
    # A colour laser printer on coated paper: clustered dots, good inks, a little gloss.
    1: Printer("am", 2.0, ((0.985, 0.05, 0.02), (0.035, 0.98, 0.06), (0.01, 0.04, 0.98)),
               1.0, (0.91, 0.91, 0.89), 0.04, 0.08, 0.25),
    # An inkjet on plain paper: fine stochastic drops that bleed, duller inks, warmer paper.
    2: Printer("fm", 0.6, ((0.965, 0.09, 0.04), (0.06, 0.96, 0.10), (0.02, 0.06, 0.96)),
               1.1, (0.88, 0.87, 0.82), 0.04, 0.0, 0.5),
}  # fmt: skip


@dataclass(frozen=True)
class Display:
    """A screen: panel pitch (output px), tone, emission, refresh artefacts and glass."""

    pitch_px: float
    gamma: float
    white: float  # peak emitted radiance relative to white paper under unit light
    black: float  # black level relative to white (backlight leakage)
    saturation: float
    fill: float  # lit fraction of a subpixel stripe (the rest is black matrix)
    flicker_amp: float  # frame-to-frame brightness beat (backlight PWM vs. camera exposure)
    flicker_hz: float
    band_amp: float  # rolling-shutter band amplitude
    band_cycles: float  # bands per frame height
    band_hz: float  # band drift
    glare: float  # glass reflectance of the light's mirror image
    glare_sharpness: float  # larger = broader highlight (matte coating)
    ambient_reflect: float  # diffuse reflection of the room by the glass
    bezel: float  # bezel width relative to the screen width


DISPLAYS: dict[int, Display] = {
    # A 19" LCD monitor: coarse pitch, low gamma, matte, PWM backlight flicker.
    1: Display(1.5, 2.0, 1.0, 0.025, 0.9, 0.7, 0.035, 7.0, 0.03, 2.5, 3.0, 0.04, 0.3, 0.02, 0.06),
    # A high-density laptop screen: fine pitch, higher gamma and brightness, glossy glass.
    2: Display(0.75, 2.4, 1.4, 0.01, 1.05, 0.8, 0.012, 11.0, 0.01, 4.0, 5.0, 0.1, 0.05, 0.04, 0.04),
    # Beyond OULU's displays (clip API): a phone OLED (very fine pitch, deep black, saturated,
    # strong low-brightness PWM flicker, glossy) and a tablet IPS (medium pitch, high gamma).
    3: Display(0.62, 2.2, 1.2, 0.002, 1.15, 0.6, 0.06, 4.0, 0.05, 6.0, 8.0, 0.12, 0.04, 0.05, 0.05),
    4: Display(1.15, 2.6, 1.1, 0.02, 1.0, 0.75, 0.02, 9.0, 0.02, 1.5, 2.0, 0.07, 0.12, 0.03, 0.05),
}
#: The screen is 16:10; the square recorded video is pillar-boxed in it.
SCREEN_ASPECT = 1.6
SCREEN_HEIGHT = 1.0  # screen height relative to the frame at the nominal distance
BEZEL_ALBEDO = 0.05


def face_tpu(size: int) -> float:
    """Texels per face unit for a face rendered at FACE_SCALE of a ``size`` px image."""
    return round(1.2 * FACE_SCALE * size, 1)


def _source_conditions(
    seed: int, user: int, tag: str, h: int, w: int, session: int, room: int
) -> tuple[Light, np.ndarray]:
    """Light and background of the earlier capture of a user's photo or video: the session's
    light (its own jitter) and a crop of the session's room (``room``: the room seed)."""
    r = rng_for(seed, tag, user, session)
    light = session_light(session, r)
    bg = background_crop(room, session, max(h, w), r)
    return light, np.ascontiguousarray(bg[:h, (bg.shape[1] - w) // 2 :][:, :w])


@lru_cache(maxsize=2)
def photo(
    seed: int, user: int, width: int, session: int, room: int
) -> tuple[np.ndarray, np.ndarray]:
    """The still photo printed for a user in a session (sRGB float, portrait) and its eyes (px)."""
    r = rng_for(seed, "photo", user, session)
    h = int(round(width * PHOTO_ASPECT))
    model = build_face(seed, user, face_tpu(width))
    pose = Pose(width / 2 + r.normal(0, 0.01 * width), FACE_Y * h, FACE_SCALE * width,
                r.normal(0, 0.03), r.normal(0, 0.06), r.normal(0, 0.04), 0.0)  # fmt: skip
    light, bg = _source_conditions(seed, user, "photo-room", h, width, session, room)
    rad, _, eyes = render_subject(model, pose, light, bg)
    return encode_source(rad, auto_exposure(rad), white_balance(rad, PHONES[SOURCE_CAMERA])), eyes


FM_TILE = 64
#: Samples per axis of one AM screen period for its tone-reproduction curve.
AM_TONE_SAMPLES = 256


@lru_cache(maxsize=8)
def am_tone_curve(edge: float) -> tuple[np.ndarray, np.ndarray]:
    """(mean coverage, screen input) of the AM screen with dot edges ``edge`` wide: the rotated
    cosine spot function has no uniform threshold distribution, so raw ink amounts would print
    along its S-shaped cumulative curve (mid-tones pushed to the extremes, the mean tone of a
    face shifted). Printer drivers calibrate that away; ``halftone`` feeds the screen the input
    whose mean coverage is the wanted ink amount, so each flat tone prints at its own level."""
    a = (np.arange(AM_TONE_SAMPLES) + 0.5) * (2 * np.pi / AM_TONE_SAMPLES)
    thr = (0.5 - 0.25 * (np.cos(a)[:, None] + np.cos(a)[None, :])).ravel()
    v = np.linspace(-edge, 1 + edge, 321)
    cov = np.clip((v[:, None] - thr[None, :]) / edge + 0.5, 0, 1).mean(1)
    return cov.astype(np.float32), v.astype(np.float32)


@lru_cache(maxsize=2)
def fm_screen(printer: int, n: int = FM_TILE, sigma: float = 1.5) -> np.ndarray:
    """The inkjet driver's stochastic screen: a toroidal blue-noise threshold matrix in (0, 1).

    Void-and-cluster (Ulichney): drops are ranked so that every coverage level spreads them as
    evenly as possible, which is why FM prints show fine grain rather than blotches.
    """
    r = rng_for("fm-screen", printer)
    d = np.minimum(np.arange(n), n - np.arange(n))
    kern = np.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2 * sigma**2))

    def add(e: np.ndarray, idx: int, sign: float) -> None:
        y, x = divmod(idx, n)
        e += sign * np.roll(kern, (y, x), (0, 1))

    b = np.zeros((n, n))
    b.flat[r.choice(n * n, n * n // 10, replace=False)] = 1
    e = np.real(np.fft.ifft2(np.fft.fft2(b) * np.fft.fft2(kern)))
    for _ in range(n * n // 4):  # relax: move the tightest cluster into the largest void
        c = int(np.argmax(np.where(b == 1, e, -np.inf)))
        b.flat[c] = 0
        add(e, c, -1)
        v = int(np.argmin(np.where(b == 0, e, np.inf)))
        b.flat[v] = 1
        add(e, v, 1)
        if v == c:
            break
    rank = np.zeros(n * n, np.int64)
    b1, e1 = b.copy(), e.copy()
    for k in range(int(b.sum()) - 1, -1, -1):  # remove tightest clusters: ranks below the start
        c = int(np.argmax(np.where(b1 == 1, e1, -np.inf)))
        b1.flat[c] = 0
        add(e1, c, -1)
        rank[c] = k
    for k in range(int(b.sum()), n * n):  # fill the largest voids: ranks above
        v = int(np.argmin(np.where(b == 0, e, np.inf)))
        b.flat[v] = 1
        add(e, v, 1)
        rank[v] = k
    out = ((rank + 0.5) / (n * n)).reshape(n, n).astype(np.float32)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=4)
def screen_thresholds(printer: int, h: int, w: int, texels_per_pitch: float) -> np.ndarray:
    """The printer's halftone screen over an (h, w) texture: one threshold map per ink (3, h, w),
    rotated cosine spots for AM (float64), the shifted blue-noise tile for FM (float32)."""
    if PRINTERS[printer].screen == "am":
        out = np.empty((3, h, w))
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        k = np.float32(2 * np.pi / texels_per_pitch)
        for c, ang in enumerate(np.radians([15.0, 75.0, 0.0])):
            xr = xs * np.cos(ang) + ys * np.sin(ang)
            yr = -xs * np.sin(ang) + ys * np.cos(ang)
            out[c] = 0.5 - 0.25 * (np.cos(k * xr) + np.cos(k * yr))
    else:
        out = np.empty((3, h, w), np.float32)
        tile = fm_screen(printer)
        gh, gw = max(1, int(h / texels_per_pitch)), max(1, int(w / texels_per_pitch))
        reps = (gh // FM_TILE + 1, gw // FM_TILE + 1)
        for c in range(3):  # one screen, shifted per ink so the inks' drops do not coincide
            grid = np.tile(np.roll(tile, (21 * c, 37 * c), (0, 1)), reps)
            out[c] = cv2.resize(grid[:gh, :gw], (w, h), interpolation=cv2.INTER_NEAREST)
    out.setflags(write=False)
    return out


def halftone(values: np.ndarray, printer: int, texels_per_pitch: float) -> np.ndarray:
    """Ink coverage (H, W, 3) of C, M, Y from ink amounts in [0, 1] (H, W, 3)."""
    h, w = values.shape[:2]
    cov = np.empty_like(values)
    thr = screen_thresholds(printer, h, w, texels_per_pitch)
    if PRINTERS[printer].screen == "am":
        edge = 1.6 / texels_per_pitch  # threshold change over ~one texel: soft dot edges
        cov_curve, inputs = am_tone_curve(round(edge, 4))
        values = np.interp(values, cov_curve, inputs).astype(np.float32)
        for c in range(3):
            cov[..., c] = np.clip((values[..., c] - thr[c]) / edge + 0.5, 0, 1)
    else:
        for c in range(3):
            cov[..., c] = (values[..., c] > thr[c]).astype(np.float32)
    return cov


@lru_cache(maxsize=2)
def print_sheet(
    seed: int, user: int, printer: int, frame_size: int, session: int, room: int
) -> tuple[np.ndarray, np.ndarray]:
    """A printed sheet of the session's photo: linear reflectance RGBA texture, eyes (texels)."""
    pr = PRINTERS[printer]
    r = rng_for(seed, "print", user, printer, session)
    tpp = PRINT_TEXELS_PER_PX
    pw = int(round(PHOTO_WIDTH * frame_size * SUPERSAMPLE))
    src, eyes = photo(seed, user, pw, session, room)
    up = tpp / SUPERSAMPLE
    ph_h, ph_w = int(round(src.shape[0] * up)), int(round(src.shape[1] * up))
    img = cv2.resize(src, (ph_w, ph_h), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    ink = 1 - np.power(img, np.float32(2.2 * pr.tone_gamma))  # ink amount from the driver curve
    cov = halftone(ink, printer, pr.pitch_px * tpp)
    cov = cv2.GaussianBlur(cov, (0, 0), max(pr.dot_gain_px * tpp, 0.3))
    cov = channels_first(cov)  # mixed channels-first (see channels_first)
    m = int(round(PAPER_MARGIN * ph_w))
    sh, sw = ph_h + 2 * m, ph_w + 2 * m
    sheet = np.ones((4, sh, sw), np.float32)
    refl = sheet[:3, m : m + ph_h, m : m + ph_w]
    for c in range(3):  # subtractive mixing: each ink layer absorbs part of each band
        refl *= 1 - np.asarray(pr.inks[c], np.float32)[:, None, None] * cov[c]
    grain = 1 + pr.grain * band_noise(r, (sh, sw), 0.8 * tpp)
    sheet[:3] *= np.asarray(pr.paper, np.float32)[:, None, None] * grain
    sheet = channels_last(sheet)
    eyes_tex = (eyes + 0.5) * up - 0.5 + m
    sheet.setflags(write=False)
    return sheet, eyes_tex


@lru_cache(maxsize=2)
def recording(
    seed: int, user: int, size: int, n: int, fps: float, session: int, room: int
) -> tuple[np.ndarray, np.ndarray]:
    """The live video of the user in a session, later replayed: sRGB frames (n, size /
    SUPERSAMPLE, size / SUPERSAMPLE, 3) and eyes (px of ``size``).

    It is a video the source phone shot (``source_video``): what a screen replays has already
    passed through one camera's optics, resolution and compression, and is captured a second time."""
    r = rng_for(seed, "recording", user, session)
    model = build_face(seed, user, face_tpu(size))
    poses = micro_motion(r, n, fps, size / 2, FACE_Y * size, FACE_SCALE * size)
    light, bg = _source_conditions(seed, user, "recording-room", size, size, session, room)
    frames, eyes = [], []
    exposure, gains = None, None
    for pose in poses:
        rad, _, e = render_subject(model, pose, light, bg)
        if exposure is None:  # locked on the first frame, like the capturing phones
            exposure, gains = auto_exposure(rad), white_balance(rad, PHONES[SOURCE_CAMERA])
        frames.append(source_video(rad, exposure, gains, r))
        eyes.append(e)
    out = np.stack(frames)
    out.setflags(write=False)
    return out, np.stack(eyes)


@lru_cache(maxsize=4)
def _subpixel_mask(fill: float, ph: int, pw: int) -> np.ndarray:
    """RGB-stripe panel: per pixel a 3x3 texel cell, one column per primary, one row of black
    matrix; normalised so each primary keeps its mean emission."""
    m = np.zeros((3, 3, 3), np.float32)
    for c in range(3):
        m[:, c, c] = fill
    m[2] *= 0.35
    m /= m.reshape(-1, 3).mean(0)
    out = np.tile(m, (ph, pw, 1))
    out.setflags(write=False)
    return out


def screen_geometry(display: int, frame_size: int) -> tuple[int, int, int, int]:
    """Panel pixels (height, width), content width in panel px, bezel width in texels."""
    d = DISPLAYS[display]
    ph = max(8, int(round(SCREEN_HEIGHT * frame_size / d.pitch_px)))
    pw = int(round(ph * SCREEN_ASPECT))
    return ph, pw, ph, int(round(d.bezel * pw * 3))


@lru_cache(maxsize=2)
def screen_panel(
    display: int, frame_size: int, seed: int, user: int, size: int, n: int, fps: float,
    session: int, room: int,
) -> np.ndarray:  # fmt: skip
    """The screen showing ``recording(seed, user, size, n, fps, session, room)`` before the
    backlight: linear emission per panel pixel (n, ph, pw, 3), black level included (the replay
    videos of a user's session on one display share it; each adds its own backlight gain)."""
    d = DISPLAYS[display]
    frames = recording(seed, user, size, n, fps, session, room)[0]
    ph, pw, cw, _ = screen_geometry(display, frame_size)
    panel = np.zeros((n, ph, pw, 3), np.float32)
    x0 = (pw - cw) // 2
    scaling = cv2.INTER_AREA if ph < frames.shape[1] else cv2.INTER_LINEAR
    for i in range(n):  # the player scales the video to the panel
        panel[i, :, x0 : x0 + cw] = cv2.resize(frames[i], (cw, ph), interpolation=scaling)
    lin = np.power(np.clip(panel, 0, 1), np.float32(d.gamma))
    luma = (lin @ LUMA)[..., None]
    lin = np.clip(luma + np.float32(d.saturation) * (lin - luma), 0, None)
    out = np.float32(d.black) + np.float32(1 - d.black) * lin
    out.setflags(write=False)
    return out


def screen_emission(
    display: int, panel: np.ndarray, gains: np.ndarray
) -> Callable[[int], np.ndarray]:
    """The screen showing ``panel`` (``screen_panel``): frame i -> emitted radiance texture (3x3
    texels per panel pixel), with the backlight's per-frame gain."""
    d = DISPLAYS[display]
    n, ph, pw = panel.shape[:3]
    gain = np.asarray(gains, np.float32).reshape(-1, 1, 1, 1) * np.float32(d.white)
    mask = _subpixel_mask(d.fill, ph, pw)

    def frame(i: int) -> np.ndarray:
        # nearest-neighbour upscaling copies values: the gain is applied before it, to 9x fewer
        tex = cv2.resize(panel[i] * gain[i], (3 * pw, 3 * ph), interpolation=cv2.INTER_NEAREST)
        tex *= mask
        return tex

    return frame
