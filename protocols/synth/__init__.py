"""The embedded synthetic face anti-spoofing benchmark (OULU-NPU layout, procedural faces).

Live faces are shaded 3D height fields that move non-rigidly; prints and replays are planar
instruments carrying the artefacts of how they are made (halftone, paper, subpixels, flicker,
glare); six simulated phones and three sessions vary the capture. See ``generate`` and
``ensure_root``; ``render_video`` is the deterministic frame function behind them.
``render_clip(ClipSpec(...))`` renders one clip of any of the nine datasets and every attack
species in ``SPECIES`` (also 3D masks, makeup and printed partial pieces worn on the head).
"""

from .clips import SPECIES, ClipSpec, clip_scene, render_clip
from .oulu import DATASET_FOLDER, DEPTH_FOLDER, SPLIT_FOLDERS, ensure_root, generate, iter_specs
from .render import FILE_KINDS, RenderedVideo, Scene, VideoSpec, render_scene, render_video
from .sizes import GENERATOR_VERSION, SYNTH_SIZES, SynthSize, resolve_size

__all__ = [
    "DATASET_FOLDER",
    "DEPTH_FOLDER",
    "FILE_KINDS",
    "GENERATOR_VERSION",
    "SPECIES",
    "SPLIT_FOLDERS",
    "SYNTH_SIZES",
    "ClipSpec",
    "RenderedVideo",
    "Scene",
    "SynthSize",
    "VideoSpec",
    "clip_scene",
    "ensure_root",
    "generate",
    "iter_specs",
    "render_clip",
    "render_scene",
    "render_video",
    "resolve_size",
]
