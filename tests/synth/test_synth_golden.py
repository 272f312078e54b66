"""The generator's output is pinned: the embedded data root is cached under GENERATOR_VERSION, so a
change of any byte (a faster rewrite, a refactor) must either keep every byte or bump the version.

A few videos of every kind (live, both printers, both displays, two phones, a mask, makeup, a
partial piece, a bent print, a phone screen) are hashed and compared with the digest recorded
for this platform. OpenCV's kernels are dispatched per CPU and bundled with its version, so
another platform (machine, CPU features, OpenCV or numpy version) may round differently: there
the test is skipped, not failed.
"""

from __future__ import annotations

import hashlib
import platform

import cv2
import numpy as np
import pytest

from synth import SynthSize, VideoSpec, render_video
from synth.clips import ClipSpec, render_clip
from synth.sizes import GENERATOR_VERSION

#: (generator version, machine, OpenCV CPU features, OpenCV version, numpy version) -> digest.
GOLDEN = {
    (10, "x86_64", "SSE SSE2 SSE3 *SSE4.1 *SSE4.2 *AVX *FP16 *AVX2 *AVX512-SKX", "4.14.0", "2.4.6"):
    "ac42bc3182bafe8fd44d5c8d8bddc54141c7a16b69d92420f02d38cc6e06b445",
}  # fmt: skip
SIZE = SynthSize(1, 0, 0, n_frames=12, frame_size=48)
CLIP_SPECIES = ("mask_silicone", "makeup_obfuscation", "partial_paper_glasses", "print_warped",
                "replay3")  # fmt: skip


def _platform() -> tuple:
    return (GENERATOR_VERSION, platform.machine(), cv2.getCPUFeaturesLine(), cv2.__version__,
            np.__version__)  # fmt: skip


def test_rendered_bytes_match_the_recorded_digest() -> None:
    expected = GOLDEN.get(_platform())
    if expected is None:
        pytest.skip(f"no digest recorded for this platform {_platform()}")
    cv2.setNumThreads(1)
    videos = [
        render_video(VideoSpec("train", phone, 2, 1, code), SIZE, seed=5)
        for phone in (1, 4)  # sharpening and binning; no sharpening, line skipping and upscaling
        for code in (1, 2, 3, 4, 5)
    ]
    videos += [render_clip(ClipSpec("siw_m", 2, 4, 7, s), 8, 48, seed=5) for s in CLIP_SPECIES]
    # A replay at the quick size, as the embedded tree holds it: a refactor of the source phone
    # once changed the rounding of 512 of the quick tree's 3150 videos and none of those above.
    videos.append(render_video(VideoSpec("dev", 1, 1, 22, 4), "quick", seed=0))
    h = hashlib.sha256()
    for v in videos:
        for a in (v.frames, v.depth, v.eyes):
            h.update(np.ascontiguousarray(a).tobytes())
    assert h.hexdigest() == expected, (
        "the generator's output changed: keep every byte, or bump GENERATOR_VERSION (the cache "
        "key) and record the new digest"
    )
