"""The embedded synthetic face anti-spoofing benchmark (OULU-NPU layout, procedural faces).

Live faces are shaded 3D height fields that move non-rigidly; prints and replays are planar
instruments carrying the artefacts of how they are made (halftone, paper, subpixels, flicker,
glare); six simulated phones and three sessions vary the capture. See ``generate`` and
``ensure_root``; ``render_video`` is the deterministic frame function behind them.
"""

from .oulu import DATASET_FOLDER, DEPTH_FOLDER, SPLIT_FOLDERS, ensure_root, generate, iter_specs
from .render import FILE_KINDS, RenderedVideo, Scene, VideoSpec, render_scene, render_video
from .sizes import GENERATOR_VERSION, SYNTH_SIZES, SynthSize, resolve_size

__all__ = [
    "DATASET_FOLDER",
    "DEPTH_FOLDER",
    "FILE_KINDS",
    "GENERATOR_VERSION",
    "SPLIT_FOLDERS",
    "SYNTH_SIZES",
    "RenderedVideo",
    "Scene",
    "SynthSize",
    "VideoSpec",
    "ensure_root",
    "generate",
    "iter_specs",
    "render_scene",
    "render_video",
    "resolve_size",
]
