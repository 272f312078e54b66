"""The embedded synthetic face anti-spoofing benchmark: procedural faces in the nine datasets'
own layouts (OULU-NPU, SiW, CASIA-MFSD, Replay-Attack, MSU-MFSD, SiW-M, 3DMAD, HKBU-MARs,
CASIA-SURF 3DMask).

Live faces are shaded 3D height fields that move non-rigidly; prints and replays are planar
instruments carrying the artefacts of how they are made (halftone, paper, subpixels, flicker,
glare); masks, makeup and partial pieces are worn on a live head; simulated cameras and rooms vary
the capture. See ``generate`` and ``ensure_root``; ``render_clip(ClipSpec(...))`` renders one
clip of any dataset and any species in ``SPECIES`` (``render_video`` is OULU-NPU's frame
function).
"""

from .clips import SPECIES, ClipSpec, clip_scene, render_clip
from .oulu import ensure_root, generate, iter_specs
from .render import FILE_KINDS, RenderedVideo, Scene, VideoSpec, render_scene, render_video
from .sizes import GENERATOR_VERSION, SYNTH_SIZES, SynthSize, resolve_size

__all__ = [
    "FILE_KINDS",
    "GENERATOR_VERSION",
    "SPECIES",
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
