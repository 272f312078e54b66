"""Procedural 3D faces: an identity per user, a height-field model, and a shaded render with depth.

Canonical face units: the inter-ocular distance is 1, the origin is between the eyes, ``u`` points
right, ``v`` down and ``z`` towards the camera. The eyes sit at ``(+-0.5, 0)``, so the OULU face
box (centre 0.5 d below the eyes, side 2.2 d) spans ``u in [-1.1, 1.1]``, ``v in [-0.6, 1.6]``:
brows to chin, which is where the features below are placed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .common import band_noise, channels_first, channels_last, rng_for, wobble

#: Texture extent in face units (head, hair, neck and shoulders fit inside).
U_RANGE = (-3.4, 3.4)
V_RANGE = (-2.6, 4.4)
#: Skin specular strength and shininess (oily skin: small, moving highlights on nose/forehead).
SKIN_SPECULAR = 0.05
SKIN_SHININESS = 16  # exponents are powers of two (computed by squaring)
#: Cornea is a mirror: a small bright catchlight that moves with the head.
EYE_SPECULAR = 0.5
EYE_SHININESS = 256
#: Relative std of low-frequency skin mottling and texel-level pores.
SKIN_MOTTLE = 0.06
SKIN_PORES = 0.025

_SKIN_LIGHT = np.array([0.62, 0.42, 0.32])
_SKIN_DARK = np.array([0.19, 0.11, 0.07])
_HAIR = [(0.03, 0.025, 0.02), (0.08, 0.05, 0.03), (0.18, 0.11, 0.06), (0.45, 0.33, 0.18),
         (0.32, 0.32, 0.32), (0.30, 0.10, 0.04)]  # fmt: skip
_IRIS = [(0.12, 0.06, 0.03), (0.05, 0.03, 0.02), (0.15, 0.22, 0.32), (0.14, 0.20, 0.12)]


@dataclass(frozen=True)
class Identity:
    """Shape and appearance parameters of one user (face units, linear albedo)."""

    head_ax: float
    head_ay: float
    head_az: float
    head_cv: float
    jaw: float
    eye_w: float
    eye_h: float
    nose_tip: float
    nose_h: float
    nose_w: float
    brow_v: float
    brow_h: float
    brow_t: float
    cheek_h: float
    mouth_v: float
    mouth_w: float
    hairline: float
    long_hair: bool
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    iris: tuple[float, float, float]
    lip: tuple[float, float, float]
    cloth: tuple[float, float, float]


def make_identity(seed: int, user: int) -> Identity:
    """The user's face, deterministic in (seed, user).

    Hair colour and length are stratified by user id (every run of six consecutive users has
    every colour, 2 in 5 users long hair) rather than drawn: with 20 training users a rare draw
    (grey hair at 8 %) may miss the training split and sit only in test, where a model then fails
    on that attribute, not on the attack cues the benchmark is for.
    """
    r = rng_for(seed, "identity", user)
    tone = r.uniform() ** 1.3  # 0 light .. 1 dark
    skin = np.clip(_SKIN_LIGHT + (_SKIN_DARK - _SKIN_LIGHT) * tone, 0, 1) * r.uniform(0.95, 1.05, 3)
    lip = skin * np.array([1.05, 0.62, 0.62])
    return Identity(
        head_ax=r.uniform(0.98, 1.14), head_ay=r.uniform(1.38, 1.56), head_az=r.uniform(0.85, 1.05),
        head_cv=r.uniform(0.1, 0.22), jaw=r.uniform(0.1, 0.3),
        eye_w=r.uniform(0.17, 0.22), eye_h=r.uniform(0.065, 0.095),
        nose_tip=r.uniform(0.55, 0.7), nose_h=r.uniform(0.22, 0.36), nose_w=r.uniform(0.07, 0.11),
        brow_v=r.uniform(-0.36, -0.26), brow_h=r.uniform(0.04, 0.09), brow_t=r.uniform(0.03, 0.055),
        cheek_h=r.uniform(0.03, 0.09), mouth_v=r.uniform(1.0, 1.15), mouth_w=r.uniform(0.42, 0.56),
        hairline=r.uniform(-1.0, -0.75), long_hair=user % 5 in (1, 3),
        skin=tuple(float(x) for x in skin),
        hair=tuple(float(x) for x in _HAIR[user % len(_HAIR)]),
        iris=tuple(float(x) for x in _IRIS[r.integers(len(_IRIS))]),
        lip=tuple(float(x) for x in lip),
        cloth=tuple(float(x) for x in r.uniform(0.04, 0.55, 3)),
    )  # fmt: skip


@dataclass(frozen=True)
class FaceModel:
    """Textures on the (v, u) grid: albedo open/closed eyes, eye aperture, alpha, normals, depth."""

    tpu: float  # texels per face unit
    alb_open: np.ndarray  # (H, W, 4): rgb + eye aperture (<1 inside the eye opening)
    alb_closed: np.ndarray  # (H, W, 4): rgb with closed lids + coverage alpha
    geom: np.ndarray  # (H, W, 4): normal xyz + head coverage (depth region, skin/hair sheen)
    zmap: np.ndarray  # (H, W): height z
    z_max: float
    eye_z: float


def _gauss(u: np.ndarray, v: np.ndarray, cu: float, cv: float, su: float, sv: float) -> np.ndarray:
    return np.exp(-0.5 * (((u - cu) / su) ** 2 + ((v - cv) / sv) ** 2))


def face_height(
    idt: Identity, u: np.ndarray, v: np.ndarray, tau: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Layered height fields and coverages: head (+ features), hair, neck, torso."""
    ax = idt.head_ax * (1.0 - idt.jaw * np.clip((v - 0.2) / 1.4, 0, 1) ** 2)
    r = np.sqrt((u / ax) ** 2 + ((v - idt.head_cv) / idt.head_ay) ** 2)
    head_a = np.clip((1.0 - r) * ax / tau + 0.5, 0, 1)
    z = idt.head_az * np.sqrt(np.clip(1.0 - r * r, 0, 1))
    au = np.abs(u)
    tip = idt.nose_tip
    ramp = np.clip((v + 0.1) / (tip + 0.1), 0, 1) * (1 - np.clip((v - tip) / 0.12, 0, 1))
    z += idt.nose_h * ramp**1.5 * np.exp(-0.5 * (u / (idt.nose_w * (0.6 + 0.6 * ramp))) ** 2)
    z += 0.3 * idt.nose_h * _gauss(u, v, 0, tip - 0.03, 0.08, 0.08)
    z += 0.25 * idt.nose_h * _gauss(au, v, 0.12, tip + 0.02, 0.06, 0.05)
    brow = np.exp(-0.5 * ((v - idt.brow_v - 0.04) / 0.09) ** 2) * np.exp(-((u / 0.75) ** 4))
    z += idt.brow_h * brow
    z += -0.12 * _gauss(au, v, 0.5, -0.02, 0.17, 0.15) + 0.05 * _gauss(au, v, 0.5, 0.0, 0.1, 0.08)
    z += idt.cheek_h * _gauss(au, v, 0.6, 0.55, 0.25, 0.25)
    z += 0.05 * np.exp(-0.5 * ((v - idt.mouth_v) / 0.07) ** 2 - (u / (0.55 * idt.mouth_w)) ** 4)
    z += 0.06 * _gauss(u, v, 0, idt.head_cv + 0.9 * idt.head_ay, 0.15, 0.15)
    z_head = z * (r < 1)
    # Hair: a cap slightly outside the skull above a hairline that descends at the temples.
    hx, hy = idt.head_ax + 0.1, idt.head_ay + 0.1
    rh = np.sqrt((u / hx) ** 2 + ((v - idt.head_cv + 0.05) / hy) ** 2)
    line = idt.hairline + 0.9 * (u / idt.head_ax) ** 2
    cap_a = np.clip((1.0 - rh) * hx / tau + 0.5, 0, 1) * np.clip((line - v) / tau + 0.5, 0, 1)
    z_cap = (idt.head_az + 0.08) * np.sqrt(np.clip(1.0 - rh * rh, 0, 1))
    long_a = np.zeros_like(u)
    if idt.long_hair:
        edge = hx + 0.25 - 0.2 * np.clip((v - idt.head_cv) / 1.7, 0, 1) ** 2
        long_a = np.clip((edge - au) / tau + 0.5, 0, 1) * np.clip((1.9 - v) / tau, 0, 1)
        long_a *= np.clip((v - idt.head_cv) / tau, 0, 1)
    neck_a = np.clip((0.5 - au) / tau + 0.5, 0, 1) * (v > 0.8) * (v < 2.6)
    z_neck = 0.45 * np.sqrt(np.clip(1 - (u / 0.5) ** 2, 0, 1)) - 0.5
    shoulder = 1.95 + 0.25 * (u / 1.5) ** 2
    torso_a = np.clip((v - shoulder) / tau + 0.5, 0, 1) * np.clip((2.6 - au) / tau + 0.5, 0, 1)
    z_torso = 0.6 * np.sqrt(np.clip(1 - (u / 2.6) ** 2, 0, 1)) - 0.9
    layers = [(cap_a, z_cap), (head_a, z_head), (long_a, 0.0 * u - 0.2), (neck_a, z_neck),
              (torso_a, z_torso)]  # fmt: skip
    return layers


def _albedo(
    idt: Identity, u: np.ndarray, v: np.ndarray, tau: float, r: np.random.Generator,
    layer: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Open-eye and closed-eye albedo plus the eye aperture (< 1 inside the eye opening)."""
    shape = u.shape
    skin = np.array(idt.skin, dtype=np.float32)
    mottle = 1 + SKIN_MOTTLE * band_noise(r, shape, 0.3 / tau)
    pores = 1 + SKIN_PORES * band_noise(r, shape, 0.6)
    skin_t = skin[None, None] * (mottle * pores)[..., None]
    au = np.abs(u)
    cheek = _gauss(au, v, 0.6, 0.5, 0.22, 0.18)[..., None]
    skin_t = skin_t * (1 + cheek * np.array([0.08, -0.04, -0.04]))
    strands = 1 + 0.18 * band_noise(r, shape, 0.6)
    strands = cv2.GaussianBlur(strands, (0, 0), sigmaX=0.5, sigmaY=0.08 / tau)
    hair_t = np.array(idt.hair)[None, None] * strands[..., None]
    cloth_t = np.array(idt.cloth)[None, None] * (1 + 0.05 * band_noise(r, shape, 1.0))[..., None]
    alb = np.where((layer == 0)[..., None] | (layer == 2)[..., None], hair_t, skin_t)
    alb = np.where((layer == 3)[..., None], skin_t * 0.92, alb)
    alb = np.where((layer == 4)[..., None], cloth_t, alb)
    face = (layer == 1).astype(np.float32)
    # Brows, lips, nostrils: painted on the face layer only.
    bu = np.clip(au - 0.5, -0.3, 0.3) / 0.3
    brow_c = idt.brow_v - 0.05 * (1 - bu**2)
    brow = (np.abs(v - brow_c) < idt.brow_t * (1 - 0.4 * bu**2)) * (np.abs(au - 0.5) < 0.3)
    alb = np.where((brow * face)[..., None] > 0, 0.6 * alb + 0.4 * np.array(idt.hair) * 0.8, alb)
    lips = (u / (0.5 * idt.mouth_w)) ** 2 + ((v - idt.mouth_v) / 0.075) ** 2 < 1
    alb = np.where((lips * face)[..., None] > 0, np.array(idt.lip)[None, None], alb)
    line = (np.abs(v - idt.mouth_v) < 0.012) & (au < 0.47 * idt.mouth_w)
    alb = np.where((line * face)[..., None] > 0, 0.25 * alb, alb)
    nostril = ((au - 0.085) / 0.04) ** 2 + ((v - idt.nose_tip - 0.06) / 0.022) ** 2 < 1
    alb = np.where((nostril * face)[..., None] > 0, 0.3 * alb, alb)
    du = au - 0.5
    h = idt.eye_h * np.clip(1 - (du / idt.eye_w) ** 2, 0, 1)
    aperture = np.where((h > 1e-4) & (face > 0), np.abs(v) / np.maximum(h, 1e-4), 9.0)
    rad = np.hypot(du, v)
    iris = np.where(rad < 0.035, 0.02, np.where(rad < 0.085, 1.0, 0.0))[..., None]
    eye_col = np.where(iris == 1.0, np.array(idt.iris), np.array([0.62, 0.58, 0.55]))
    eye_col = np.where(iris == 0.02, np.array([0.02, 0.02, 0.02]), eye_col)
    inside = (aperture < 1)[..., None]
    lash = ((aperture >= 0.85) & (aperture < 1.3) & (v < 0))[..., None]
    alb_open = np.where(inside, eye_col, np.where(lash, 0.3 * alb, alb))
    alb_closed = np.where((aperture < 0.15)[..., None], 0.3 * alb, 0.85 * alb)
    alb_closed = np.where(lash & ~inside, 0.3 * alb, np.where(inside, alb_closed, alb))
    return alb_open, alb_closed, aperture


@lru_cache(maxsize=4)
def build_face(seed: int, user: int, tpu: float) -> FaceModel:
    """Rasterise a user's face model at ``tpu`` texels per face unit (cached per process)."""
    idt = make_identity(seed, user)
    tau = 1.0 / tpu
    us = U_RANGE[0] + (np.arange(int((U_RANGE[1] - U_RANGE[0]) * tpu)) + 0.5) * tau
    vs = V_RANGE[0] + (np.arange(int((V_RANGE[1] - V_RANGE[0]) * tpu)) + 0.5) * tau
    u, v = np.meshgrid(us, vs)
    layers = face_height(idt, u, v, tau)
    alphas = np.stack([a for a, _ in layers])
    zs = np.stack([np.broadcast_to(z, u.shape) for _, z in layers])
    layer = np.argmax(np.where(alphas > 0.5, zs, -9.0), axis=0)
    z = np.take_along_axis(zs, layer[None], 0)[0]
    alpha = alphas.max(axis=0)
    z = np.where(alpha > 0.01, z, zs.min())
    zb = cv2.GaussianBlur(z.astype(np.float32), (0, 0), 0.8)
    gy, gx = np.gradient(zb, tau)
    n = np.stack([-gx, -gy, np.ones_like(gx)], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    r = rng_for(seed, "skin", user)
    alb_open, alb_closed, aperture = _albedo(idt, u, v, tau, r, layer)
    head = np.clip(alphas[0] * (layer == 0) + alphas[1] * (layer == 1), 0, 1)
    f32 = np.float32
    model = FaceModel(
        tpu=tpu,
        alb_open=np.dstack([alb_open, aperture]).astype(f32),
        alb_closed=np.dstack([alb_closed, alpha]).astype(f32),
        geom=np.dstack([n, head]).astype(f32),
        zmap=np.where(alpha > 0.01, z, 0).astype(f32),
        z_max=float(z.max()),
        eye_z=float(z[np.argmin(np.abs(vs)), np.argmin(np.abs(us - 0.5))]),
    )
    for a in (model.alb_open, model.alb_closed, model.geom, model.zmap):
        a.setflags(write=False)
    return model


@dataclass(frozen=True)
class Pose:
    """Where the face is: eye midpoint (px), px per face unit, roll/yaw/pitch (rad), blink 0..1."""

    cx: float
    cy: float
    scale: float
    roll: float = 0.0
    yaw: float = 0.0
    pitch: float = 0.0
    blink: float = 0.0


@dataclass(frozen=True)
class Light:
    """A directional light (unit vector towards it, x right y down z to camera) plus ambient."""

    direction: tuple[float, float, float]
    rgb: tuple[float, float, float]
    ambient: tuple[float, float, float]


def _remap(tex: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    return cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


@lru_cache(maxsize=4)
def _pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return ys, xs


def _pow2k(x: np.ndarray, k: int) -> np.ndarray:
    """x ** (2 ** k) by squaring (a fast specular lobe)."""
    for _ in range(k):
        x = x * x
    return x


def render_subject(
    model: FaceModel, pose: Pose, light: Light, background: np.ndarray,
    shininess: int = SKIN_SHININESS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Shade the head-and-shoulders over ``background`` (linear RGB, HxWx3).

    ``shininess`` (a power of two) narrows the sheen lobe for harder surfaces (plastic masks);
    the sheen's strength per texel is ``SKIN_SPECULAR`` times the model's coverage channel.

    Orthographic view of the rotated height field: rotation moves near points (nose) more than far
    ones and turns the normals, so shading and parallax change non-rigidly, unlike a flat print.
    Returns (radiance HxWx3, depth HxW in [0, 1] on the head, eyes (2, 2) as (x, y) px, image
    left eye first).
    """
    ys, xs = _pixel_grid(*background.shape[:2])
    cr, sr = math.cos(pose.roll), math.sin(pose.roll)
    cyw, syw = math.cos(pose.yaw), math.sin(pose.yaw)
    cp, sp = math.cos(pose.pitch), math.sin(pose.pitch)
    tpu, k = model.tpu, 1.0 / pose.scale
    dx, dy = (xs - np.float32(pose.cx)) * np.float32(k), (ys - np.float32(pose.cy)) * np.float32(k)
    xp, yp = cr * dx + sr * dy, -sr * dx + cr * dy
    ox, oy = -U_RANGE[0] * tpu - 0.5, -V_RANGE[0] * tpu - 0.5
    u, v = xp / cyw, yp / cp
    for _ in range(2):  # fixed point of the projection with parallax
        mx, my = u * tpu + ox, v * tpu + oy
        z = _remap(model.zmap, mx, my)
        u = (xp - z * syw) / cyw
        v = (yp + (z * cyw - u * syw) * sp) / cp
    mx, my = cv2.convertMaps(u * tpu + ox, v * tpu + oy, cv2.CV_16SC2)  # reused 4 times
    z = _remap(model.zmap, mx, my)
    z2 = v * sp + (z * cyw - u * syw) * cp
    # shaded channels-first (see channels_first)
    a_open = channels_first(_remap(model.alb_open, mx, my))
    a_closed = channels_first(_remap(model.alb_closed, mx, my))
    nx, ny, nz, head = channels_first(_remap(model.geom, mx, my))
    ap = a_open[3]
    eye = (ap < 1.0).astype(np.float32)
    lid = ((ap >= 1.0 - pose.blink) & (ap < 1.0)).astype(np.float32)
    albedo = a_open[:3]
    if lid.any():  # lids closing (a blink); elsewhere a + 0 * (b - a) is a, bit for bit
        albedo = albedo + lid * (a_closed[:3] - a_open[:3])
    alpha = a_closed[3]
    nx1, nz1 = nx * cyw + nz * syw, nz * cyw - nx * syw
    ny2, nz2 = ny * cp - nz1 * sp, ny * sp + nz1 * cp
    nx3, ny3 = cr * nx1 - sr * ny2, sr * nx1 + cr * ny2
    lx, ly, lz = (float(c) for c in light.direction)
    lam = np.clip(nx3 * lx + ny3 * ly + nz2 * lz, 0, None)
    hn = math.sqrt(lx * lx + ly * ly + (lz + 1) ** 2)  # half vector between light and view
    ndh = np.clip((nx3 * lx + ny3 * ly + nz2 * (lz + 1)) / hn, 0, None)
    skin = _pow2k(ndh, shininess.bit_length() - 1)
    cornea = _pow2k(skin, (EYE_SHININESS // shininess).bit_length() - 1)
    spec = eye * (EYE_SPECULAR * cornea) + (1 - eye) * (SKIN_SPECULAR * head * skin)
    lrgb = np.asarray(light.rgb, np.float32)[:, None, None]
    rad = albedo * (np.asarray(light.ambient, np.float32)[:, None, None] + lrgb * lam)
    rad += lrgb * spec
    back = channels_first(background)
    out = channels_last(alpha * (rad - back) + back)
    depth = head * np.clip((z2 + 0.1) / (model.z_max + 0.1), 0, 1)
    eyes = []
    for ex in (-0.5, 0.5):
        x1, zz = ex * cyw + model.eye_z * syw, -ex * syw + model.eye_z * cyw
        y2 = -zz * sp
        eyes.append((pose.cx + pose.scale * (cr * x1 - sr * y2),
                     pose.cy + pose.scale * (sr * x1 + cr * y2)))  # fmt: skip
    return out.astype(np.float32), depth.astype(np.float32), np.array(eyes)


#: Live micro-motion: RMS head rotation (degrees), drift (face units), breathing (relative
#: scale) and blinks per second. Small, but it moves near and far points differently.
LIVE_YAW_DEG = 3.5
LIVE_PITCH_DEG = 2.0
LIVE_ROLL_DEG = 0.8
LIVE_SHIFT = 0.03
BREATH_SCALE = 0.006
BLINK_DURATION = (0.15, 0.3)


def micro_motion(
    rng: np.random.Generator, n: int, fps: float, cx: float, cy: float, scale: float
) -> list[Pose]:
    """A live person's poses over ``n`` frames: drift, small rotations, breathing and a blink."""
    t = np.arange(n) / fps
    yaw = rng.normal(0, 0.06) + wobble(rng, t, math.radians(LIVE_YAW_DEG), 0.2, 1.2)
    pitch = rng.normal(0, 0.04) + wobble(rng, t, math.radians(LIVE_PITCH_DEG), 0.2, 1.2)
    roll = rng.normal(0, 0.04) + wobble(rng, t, math.radians(LIVE_ROLL_DEG), 0.2, 1.0)
    sx = wobble(rng, t, LIVE_SHIFT * scale, 0.2, 1.0)
    sy = wobble(rng, t, LIVE_SHIFT * scale, 0.2, 1.0)
    breath = BREATH_SCALE * np.sin(2 * np.pi * rng.uniform(0.2, 0.35) * t + rng.uniform(0, 6.3))
    t_blink = rng.uniform(-0.3, n / fps + 0.3)
    half = rng.uniform(*BLINK_DURATION) / 2
    blink = np.clip(1 - np.abs(t - t_blink) / half, 0, 1) ** 0.7
    ys = cy + sy - 2 * breath * scale  # shoulders and head rise when breathing in
    params = zip(cx + sx, ys, scale * (1 + breath), roll, yaw, pitch, blink, strict=True)
    return [Pose(*(float(p) for p in ps)) for ps in params]
