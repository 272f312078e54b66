"""A data root's file names without its pixels: what ``orchestrate plan`` counts at a size that
was never generated here (the paper size is hundreds of GB of rendering).

``write_skeleton`` writes every path a generated root of the size holds -- the videos, their
annotations or eye sidecars and the layouts' text files (split lists, with their content) -- as
empty files. The adapters list a dataset by its names, so they and the protocols read a skeleton
exactly as they read the generated root: the same manifests, folds and video counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from protocols.layouts import OULU, OULU_SPLIT_FOLDERS

from .layouts import annotation_path, plan, write_texts
from .oulu import iter_specs, select_datasets
from .sizes import SynthSize, resolve_size


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def write_skeleton(out: Path, size: str | SynthSize, datasets: Iterable[str] | None = None) -> Path:
    """The names of the synthetic root of ``size`` (the dataset folders ``datasets`` names,
    default all) under ``out``, every video and annotation an empty file."""
    sz = resolve_size(size)
    out = Path(out)
    for name in select_datasets(sz, datasets):
        if name == OULU:
            for spec in iter_specs(sz):
                folder = out / OULU / OULU_SPLIT_FOLDERS[spec.split]
                _touch(folder / f"{spec.stem}.avi")
                _touch(folder / f"{spec.stem}.txt")
            continue
        p = plan(sz, name)
        write_texts(out, name, p.texts, atomic=False)
        for job in p.jobs:
            _touch(out / name / job.rel)
            ann = annotation_path(out / name, job)
            if ann is not None:
                _touch(ann)
    return out
