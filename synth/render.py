"""One video of the benchmark: scene (live face, print or replay) -> phone camera -> frames.

Every video is a pure function of (seed, size, spec): random streams are keyed by the video, so
videos can be rendered in any order or in parallel and stay bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .attacks import (
    BEZEL_ALBEDO,
    DISPLAYS,
    FACE_SCALE,
    FACE_Y,
    PRINT_TEXELS_PER_PX,
    PRINTERS,
    face_tpu,
    print_sheet,
    recording,
    screen_emission,
    screen_geometry,
    screen_panel,
)
from .camera import PHONES, Phone, background_crop, capture, session_light
from .common import SUPERSAMPLE, channels_first, channels_last, rng_for
from .faces import Light, build_face, micro_motion, render_subject
from .planar import (
    COARSE,
    hand_motion,
    lambert,
    project,
    specular,
    track,
    warp_coarse,
    warp_rgba,
    wrap_sheet,
)
from .sizes import SynthSize, resolve_size

#: OULU-NPU file codes: 1 real, 2/3 print 1/2, 4/5 replay 1/2.
FILE_KINDS = {1: ("live", 0), 2: ("print", 1), 3: ("print", 2), 4: ("replay", 1), 5: ("replay", 2)}
#: Per-video framing jitter: eye-midpoint position (fraction of the frame), relative face size.
FRAMING_JITTER = 0.03
DISTANCE_JITTER = 0.1
#: Sharpness of the mirror highlight on glossy paper (larger = broader).
PAPER_GLOSS_SHARPNESS = 0.03
PAPER_BEND_MAX = 0.3


@dataclass(frozen=True)
class VideoSpec:
    """One OULU-NPU video: split, phone 1-6, session 1-3, user id, file code 1-5."""

    split: str
    phone: int
    session: int
    user: int
    file: int

    @property
    def stem(self) -> str:
        return f"{self.phone}_{self.session}_{self.user:02d}_{self.file}"


@dataclass(frozen=True)
class RenderedVideo:
    """Frames as the phone delivers them (before the video container re-encodes them)."""

    frames: np.ndarray  # (T, F, F, 3) uint8 BGR
    depth: np.ndarray  # (T, F, F) uint8, 0 = background/far, 255 = nearest; zeros for attacks
    eyes: np.ndarray  # (T, 4) int: image-left eye x, y, image-right eye x, y


#: (radiance per frame, depth per frame or None for planar attacks, eyes per frame)
Parts = tuple[list[np.ndarray], list[np.ndarray] | None, list[np.ndarray]]
Point = tuple[float, float]


def film_live(
    seed: int, spec: VideoSpec, size: SynthSize, r: np.random.Generator, light: Light,
    bg: np.ndarray, target: Point, scale: float,
) -> Parts:  # fmt: skip
    s = bg.shape[0]
    model = build_face(seed, spec.user, face_tpu(s))
    poses = micro_motion(r, size.n_frames, size.fps, target[0], target[1], FACE_SCALE * s * scale)
    out = [render_subject(model, p, light, bg) for p in poses]
    return [o[0] for o in out], [o[1] for o in out], [o[2] for o in out]


def film_print(
    seed: int, spec: VideoSpec, size: SynthSize, r: np.random.Generator, light: Light,
    bg: np.ndarray, target: Point, scale: float, printer: int,
    bend_range: tuple[float, float] = (0, PAPER_BEND_MAX), wrap: bool = False,
    room: int | None = None,
) -> Parts:  # fmt: skip
    """A hand-held print of a photo shot in this session's room (``room``: its seed, default
    ``seed``); ``wrap`` also foreshortens the content of the bent sheet (a strongly warped
    photo), otherwise the bend only shades it."""
    pr = PRINTERS[printer]
    s, n = bg.shape[0], size.n_frames
    room = seed if room is None else room
    sheet, eyes_tex = print_sheet(seed, spec.user, printer, size.frame_size, spec.session, room)
    motion = hand_motion(r, n, size.fps, SUPERSAMPLE)
    bend = r.uniform(*bend_range)
    if wrap:
        sheet, eyes_tex = wrap_sheet(sheet, eyes_tex, bend)
    ppt = SUPERSAMPLE / PRINT_TEXELS_PER_PX * scale
    tr = track(sheet.shape[:2], np.repeat(eyes_tex.mean(0)[None], n, 0), target, ppt, s, motion)
    amb, lrgb = np.asarray(light.ambient, np.float32), np.asarray(light.rgb, np.float32)
    grids = np.empty((n, COARSE, COARSE, 4), np.float32)  # shading rgb + gloss highlight
    grids[..., :3] = amb + lrgb * lambert(tr, light.direction, COARSE, bend)[:, None, :, None]
    grids[..., 3] = specular(tr, light.direction, PAPER_GLOSS_SHARPNESS, bend)
    gloss = (pr.gloss * lrgb)[:, None, None]
    back = channels_first(bg)  # composited channels-first (see channels_first)
    scenes, eyes = [], []
    for i in range(n):
        shade = channels_first(warp_coarse(grids[i], tr, i))
        rgba = channels_first(warp_rgba(sheet, tr, i))
        alpha = rgba[3]
        scene = rgba[:3] * shade[:3] + (1 - alpha) * back
        if pr.gloss:
            scene += alpha * shade[3] * gloss
        scenes.append(channels_last(scene))
        eyes.append(project(tr, i, eyes_tex))
    return scenes, None, eyes


def film_replay(
    seed: int, spec: VideoSpec, size: SynthSize, r: np.random.Generator, light: Light,
    bg: np.ndarray, target: Point, scale: float, display: int, room: int | None = None,
) -> Parts:  # fmt: skip
    """A screen replaying a video shot in this session's room (``room``: its seed)."""
    d = DISPLAYS[display]
    s, f, n = bg.shape[0], size.frame_size, size.n_frames
    room = seed if room is None else room
    key = (seed, spec.user, s, n, size.fps, spec.session, room)
    rec_eyes = recording(*key)[1]
    ph, pw, cw, bez = screen_geometry(display, f)
    hw = (3 * ph + 2 * bez, 3 * pw + 2 * bez)
    x0 = (pw - cw) // 2
    to_tex = np.array([3 * cw / s, 3 * ph / s])
    eyes_tex = rec_eyes * to_tex + (np.array([3 * x0 + bez, bez]) + to_tex / 2 - 0.5)
    motion = hand_motion(r, n, size.fps, SUPERSAMPLE)
    ppt = d.pitch_px * SUPERSAMPLE / 3 * scale
    anchor = np.repeat(eyes_tex.mean((0, 1))[None], n, 0)  # the hand moves, not the content
    tr = track(hw, anchor, target, ppt, s, motion)
    t = np.arange(n) / size.fps
    flick = 1 + d.flicker_amp * np.sin(2 * np.pi * d.flicker_hz * t + r.uniform(0, 2 * np.pi))
    band_phase = r.uniform(0, 2 * np.pi)
    amb, lrgb = np.asarray(light.ambient, np.float32), np.asarray(light.rgb, np.float32)
    # Rolling shutter: image rows are exposed at different phases of the backlight modulation.
    rows = np.arange(s)[None, :] / s * d.band_cycles - d.band_hz * t[:, None]
    bands = (1 + d.band_amp * np.sin(2 * np.pi * rows + band_phase)).astype(np.float32)
    lam = lambert(tr, light.direction, 1, 0.0)[:, 0]
    bezel = BEZEL_ALBEDO * (amb + lrgb * lam[:, None]) + d.ambient_reflect * amb
    surface = bezel[..., None, None]
    glares = specular(tr, light.direction, d.glare_sharpness)
    emission = screen_emission(display, screen_panel(display, f, *key), flick)
    ones = np.ones(hw, np.float32)  # device coverage
    glass = (d.glare * lrgb)[:, None, None]
    back = channels_first(bg)  # composited channels-first (see channels_first)
    scenes, eyes = [], []
    for i in range(n):
        alpha = warp_rgba(ones, tr, i)
        emit = channels_first(warp_rgba(emission(i), tr, i, offset=(bez, bez)))
        glare = warp_coarse(glares[i], tr, i)
        scene = emit * bands[i][:, None] + (1 - alpha) * back
        scene += alpha * (surface[i] + glare * glass)
        scenes.append(channels_last(scene))
        eyes.append(project(tr, i, eyes_tex[i]))
    return scenes, None, eyes


@dataclass(frozen=True)
class Scene:
    """What reaches the camera: supersampled linear radiance, depth and eyes (before capture)."""

    radiance: list[np.ndarray]  # T x (S, S, 3) float32, S = SUPERSAMPLE x frame size
    depth: list[np.ndarray] | None  # T x (S, S) in [0, 1] for live faces, None for planar attacks
    eyes: np.ndarray  # (T, 2, 2) supersampled px


def render_scene(spec: VideoSpec, size: str | SynthSize, seed: int = 0) -> Scene:
    """The physical scene of one video: live face, print or replay in the session's room."""
    size = resolve_size(size)
    s = size.frame_size * SUPERSAMPLE
    kind, instrument = FILE_KINDS[spec.file]
    r = rng_for(seed, spec.phone, spec.session, spec.user, spec.file, "scene")
    light = session_light(spec.session, r)
    bg = background_crop(seed, spec.session, s, r)
    target = (
        s * (0.5 + r.normal(0, FRAMING_JITTER)),
        s * (FACE_Y + r.normal(0, FRAMING_JITTER)),
    )
    scale = 1 + r.uniform(-DISTANCE_JITTER, DISTANCE_JITTER)
    args = (seed, spec, size, r, light, bg, target, scale)
    if kind == "live":
        out = film_live(*args)
    elif kind == "print":
        out = film_print(*args, instrument)
    else:
        out = film_replay(*args, instrument)
    return Scene(out[0], out[1], np.stack(out[2]))


def render_video(spec: VideoSpec, size: str | SynthSize, seed: int = 0) -> RenderedVideo:
    """Render one video deterministically (the generator's frame function): scene -> phone."""
    size = resolve_size(size)
    scene = render_scene(spec, size, seed)
    rc = rng_for(seed, spec.phone, spec.session, spec.user, spec.file, "sensor")
    return film(scene, PHONES[spec.phone], rc, size.frame_size)


def film(scene: Scene, phone: Phone, rng: np.random.Generator, frame_size: int) -> RenderedVideo:
    """Capture a scene with a phone: frames, depth label at frame size, eyes in frame px."""
    f = frame_size
    frames = capture(scene.radiance, phone, rng, f)
    n = len(frames)
    if scene.depth is None:
        depth = np.zeros((n, f, f), np.uint8)
    else:
        small = [cv2.resize(dp, (f, f), interpolation=cv2.INTER_AREA) for dp in scene.depth]
        depth = np.clip(np.stack(small) * 255 + 0.5, 0, 255).astype(np.uint8)
    eye_px = (scene.eyes + 0.5) / SUPERSAMPLE - 0.5  # supersampled -> frame px
    order = np.argsort(eye_px[:, :, 0], axis=1)  # image-left eye first
    eye_px = np.take_along_axis(eye_px, order[:, :, None], 1)
    return RenderedVideo(frames, depth, np.rint(eye_px.reshape(n, 4)).astype(np.int64))
