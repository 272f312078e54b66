"""One clip of any of the nine datasets: a subject, a room, a camera and an attack species.

The OULU-NPU tree (``render_video``) is one user of this idea; the other datasets' layout writers
render through ``render_clip``. Identities are namespaced by dataset (subject 1 of SiW is not
subject 1 of CASIA-MFSD), rooms are per dataset (another lab), sessions 1-3 are OULU's lights and
higher sessions cycle through more lights, cameras 1-6 are OULU's phones and 7-9 a webcam, a
high-end camera and a laptop webcam (camera ``c`` is device ``(c - 1) % 9 + 1``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .attacks import FACE_Y
from .camera import PHONES, SESSIONS, background_crop, session_light
from .common import SUPERSAMPLE, rng_for
from .faces import Light
from .instruments import RENDERERS as WORN
from .render import (
    DISTANCE_JITTER,
    FRAMING_JITTER,
    RenderedVideo,
    Scene,
    VideoSpec,
    film,
    film_live,
    film_print,
    film_replay,
)
from .sizes import SynthSize

#: Species -> macro attack type. Aliases: ``print`` is printer 1, ``replay`` is display 1.
#: Every species has a renderer in ``RENDERERS`` (a test checks it).
SPECIES: dict[str, str] = {
    "live": "live",
    "print1": "print",
    "print2": "print",
    "print": "print",
    "print_warped": "print",
    "print_cut": "print",
    "replay1": "replay",
    "replay2": "replay",
    "replay3": "replay",
    "replay4": "replay",
    "replay": "replay",
    "mask_half": "mask",
    "mask_silicone": "mask",
    "mask_transparent": "mask",
    "mask_paper": "mask",
    "mask_mannequin": "mask",
    "mask_hard": "mask",
    "makeup_obfuscation": "makeup",
    "makeup_impersonation": "makeup",
    "makeup_cosmetic": "makeup",
    "partial_funny_eye": "partial",
    "partial_paper_glasses": "partial",
    "partial_paper": "partial",  # over the eyes or the mouth, drawn per clip
    "partial_paper_eye": "partial",
    "partial_paper_mouth": "partial",
}
#: The dataset whose identities and rooms are OULU-NPU's own (same faces as ``render_video``).
OULU_DATASET = "oulu_npu"
N_OULU_SESSIONS = 3


@dataclass(frozen=True)
class ClipSpec:
    """One recording: dataset (identity namespace), subject >= 1, session >= 1, camera >= 1,
    species (a key of ``SPECIES``) and take >= 0 (repeats differ in motion and noise)."""

    dataset: str
    subject: int
    session: int
    camera: int
    species: str
    take: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"ClipSpec.dataset must be a non-empty string, got {self.dataset!r}")
        for name in ("subject", "session", "camera"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"ClipSpec.{name} must be an int >= 1, got {value!r}")
        if not isinstance(self.take, int | np.integer) or self.take < 0:
            raise ValueError(f"ClipSpec.take must be an int >= 0, got {self.take!r}")
        if self.species not in SPECIES:
            raise ValueError(
                f"ClipSpec.species: unknown species {self.species!r}; valid: {', '.join(SPECIES)}"
            )

    @property
    def attack_type(self) -> str:
        return SPECIES[self.species]

    @property
    def keys(self) -> tuple[int | str, ...]:
        """Every field, for keyed random streams."""
        return (self.dataset, int(self.subject), int(self.session), int(self.camera),
                self.species, int(self.take))  # fmt: skip


def identity_key(dataset: str, subject: int) -> int:
    """The face generator's user id of a dataset's subject (OULU-NPU keeps its own user ids)."""
    if dataset == OULU_DATASET:
        return int(subject)
    return (zlib.crc32(dataset.encode()) + 1) << 32 | int(subject)


def room_seed(seed: int, dataset: str) -> int:
    """Rooms are drawn per dataset: the same session number in another lab is another room."""
    if dataset == OULU_DATASET:
        return seed
    return int(rng_for(seed, "rooms", dataset).integers(0, 2**31))


def session_index(session: int) -> int:
    """Sessions 1-3 are OULU's; higher ones cycle through the further lights."""
    if session <= N_OULU_SESSIONS:
        return int(session)
    extra = len(SESSIONS) - N_OULU_SESSIONS
    return N_OULU_SESSIONS + 1 + (int(session) - N_OULU_SESSIONS - 1) % extra


def camera_index(camera: int) -> int:
    """The simulated device recording camera ``camera`` (1-6: OULU phones, 7-9: others)."""
    return (int(camera) - 1) % len(PHONES) + 1


@dataclass(frozen=True)
class Context:
    """What every species renderer gets: the stage is set, the instrument is its business."""

    seed: int
    clip: ClipSpec
    video: VideoSpec  # the OULU-style spec the shared renderers read (user = identity key)
    size: SynthSize
    rng: np.random.Generator
    light: Light
    background: np.ndarray
    target: tuple[float, float]
    scale: float

    @property
    def room(self) -> int:
        """The room seed of the clip's dataset (attack sources are shot in the same room)."""
        return room_seed(self.seed, self.clip.dataset)

    @property
    def args(self) -> tuple:
        """Positional arguments of the OULU renderers in render.py."""
        return (self.seed, self.video, self.size, self.rng, self.light, self.background,
                self.target, self.scale)  # fmt: skip


Parts = tuple[list[np.ndarray], list[np.ndarray] | None, list[np.ndarray]]
Renderer = Callable[[Context], Parts]


def _printer(n: int) -> Renderer:
    return lambda c: film_print(*c.args, n, room=c.room)


def _display(n: int) -> Renderer:
    return lambda c: film_replay(*c.args, n, room=c.room)


RENDERERS: dict[str, Renderer] = {
    "live": lambda c: film_live(*c.args),
    "print1": _printer(1),
    "print2": _printer(2),
    "print": _printer(1),
    #: A strongly bent sheet: the content is foreshortened towards the sides, not only shaded.
    "print_warped": lambda c: film_print(*c.args, 1, bend_range=(0.6, 1.2), wrap=True, room=c.room),
    "replay1": _display(1),
    "replay2": _display(2),
    "replay3": _display(3),
    "replay4": _display(4),
    "replay": _display(1),
    **WORN,  # masks, makeup and printed pieces worn on the head
}


def clip_scene(
    spec: ClipSpec, n_frames: int, frame_size: int, fps: float = 30.0, seed: int = 0
) -> Scene:
    """The physical scene of one clip (supersampled linear radiance, live depth, eyes)."""
    if not isinstance(spec, ClipSpec):
        raise TypeError(f"spec must be a ClipSpec, got {type(spec).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    size = SynthSize(0, 0, 0, n_frames=n_frames, frame_size=frame_size, fps=fps)
    s = frame_size * SUPERSAMPLE
    session = session_index(spec.session)
    r = rng_for(seed, *spec.keys, "scene")
    light = session_light(session, r)
    bg = background_crop(room_seed(seed, spec.dataset), session, s, r)
    target = (
        s * (0.5 + r.normal(0, FRAMING_JITTER)),
        s * (FACE_Y + r.normal(0, FRAMING_JITTER)),
    )
    scale = 1 + r.uniform(-DISTANCE_JITTER, DISTANCE_JITTER)
    video = VideoSpec("clip", camera_index(spec.camera), session,
                      identity_key(spec.dataset, spec.subject), 0)  # fmt: skip
    ctx = Context(seed, spec, video, size, r, light, bg, target, scale)
    radiance, depth, eyes = RENDERERS[spec.species](ctx)
    if spec.species != "live":
        depth = None  # the pixel-wise label of every attack is 0
    return Scene(radiance, depth, np.stack(eyes))


def render_clip(
    spec: ClipSpec, n_frames: int, frame_size: int, fps: float = 30.0, seed: int = 0
) -> RenderedVideo:
    """Render one clip deterministically: frames, depth label (zeros for attacks), eyes.

    A pure function of (seed, spec, n_frames, frame_size, fps), filmed like the OULU tree.
    """
    scene = clip_scene(spec, n_frames, frame_size, fps, seed)
    rc = rng_for(seed, *spec.keys, "sensor")
    return film(scene, PHONES[camera_index(spec.camera)], rc, frame_size)


__all__ = [
    "SPECIES",
    "ClipSpec",
    "clip_scene",
    "render_clip",
]
