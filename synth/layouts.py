"""Writers of the eight non-OULU synthetic datasets, each in its own published layout and naming.

A layout is a *plan*: a pure function of the size that lists every video to write (its path in
the dataset's layout, the :class:`~synth.clips.ClipSpec` it renders and its annotation
file) plus any small text files the layout needs (e.g. MSU-MFSD's split lists). Plans are
registered by dataset folder in ``plans.LAYOUTS`` from ``layouts_*.py``; ``write_job`` renders one video with ``render_clip``
and writes it (OpenCV: MJPG in .avi and .mov, mp4v in .mp4; HDF5 for 3DMAD), its annotation in the
dataset's own format and a synthetic depth sidecar ``<dataset>/_synthetic_depth/<path>.npz``
(uint8 (T, H, W), zeros for attacks), which no real dataset has. Where the real layout ships no
face annotation (CASIA-MFSD, MSU-MFSD, HKBU-MARs, CASIA-SURF 3DMask) a synthetic eye sidecar
``<dataset>/_synthetic_faces/<path>.txt`` (OULU format) stands in: on real data the pipeline
falls back to OpenCV's Haar cascade, which misses most of the small procedural faces. The adapters in
``protocols/adapters/`` read what these write; each adapter's docstring says which parts of the
real layout are confirmed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from protocols.layouts import SYNTHETIC_DEPTH_DIR, SYNTHETIC_FACES_DIR, eyes_to_box

from . import layouts_cim, layouts_masks, layouts_siw
from .clips import render_clip
from .files import eye_lines, write_depth, write_hdf5, write_text, write_video
from .plans import LAYOUTS, Job, Plan
from .sizes import LAYOUT_DATASETS, SynthSize

#: The modules holding the per-dataset plans (imported above: this is the one place).
PLAN_MODULES = (layouts_cim, layouts_masks, layouts_siw)


def plan(size: SynthSize, dataset: str) -> Plan:
    """The plan of one non-OULU dataset at ``size``."""
    return LAYOUTS.get(dataset)(size.layout(dataset))


# ---------------------------------------------------------------------------------------------
# Writing


def annotation_text(kind: str, eyes: np.ndarray) -> str:
    """Per-frame face boxes (from the eyes, the contract's ``eyes_to_box``) in a dataset's format."""
    lines = []
    for i, (lx, ly, rx, ry) in enumerate(eyes):
        x, y, w, h = eyes_to_box(lx, ly, rx, ry)
        lines.append(f"{x} {y} {x + w} {y + h}" if kind == "siw_face" else f"{i} {x} {y} {w} {h}")
    return "\n".join(lines) + "\n"


def annotation_path(root: Path, job: Job) -> Path | None:
    """Where a job's face annotation goes under its dataset folder ``root``: the layout's own
    file, else (no annotation in the real layout) a synthetic eye sidecar; None for HDF5 files,
    which hold their eyes."""
    if job.annotation:
        return root / job.annotation_rel
    if Path(job.rel).suffix != ".hdf5":
        return (root / SYNTHETIC_FACES_DIR / job.rel).with_suffix(".txt")
    return None


def write_job(out: Path, job: Job, size: SynthSize, seed: int, atomic: bool = True) -> None:
    """Render one planned video and write it, its annotation and its depth sidecar."""
    video = render_clip(job.clip, size.n_frames, size.frame_size, size.fps, seed)
    root = out / job.folder
    path = root / job.rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".hdf5":
        write_hdf5(path, video.frames, video.depth, video.eyes, atomic)
    else:
        write_video(path, video.frames, size.fps, atomic)
    ann = annotation_path(root, job)
    if ann is not None:
        eyes = video.eyes
        text = annotation_text(job.annotation, eyes) if job.annotation else eye_lines(eyes)
        ann.parent.mkdir(parents=True, exist_ok=True)
        write_text(ann, text, atomic)
    depth = (root / SYNTHETIC_DEPTH_DIR / job.rel).with_suffix(".npz")
    depth.parent.mkdir(parents=True, exist_ok=True)
    write_depth(depth, video.depth, atomic)


def write_texts(out: Path, folder: str, texts: dict[str, str], atomic: bool = True) -> None:
    """The layout's small text files (split lists and the like)."""
    for rel, text in texts.items():
        path = out / folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, text, atomic)


_missing = [d for d in LAYOUT_DATASETS if d not in LAYOUTS]
if _missing:  # pragma: no cover - a layout module that forgot to register
    raise RuntimeError(f"synthetic layouts not registered: {_missing}")
