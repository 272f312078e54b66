"""Dataset adapters: each dataset's own published layout -> one manifest (see ``manifest.py``).

Adapters are registered by dataset name in ``DATASETS`` and face-annotation readers by dataset
name in ``ANNOTATION_READERS``, so a new dataset is one adapter plus (optionally) one reader.
Adapters are strict on purpose: a file that does not fit the layout is an error naming it, never
silently skipped, because a skipped video silently changes a protocol's numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.registry import Registry
from protocols.layouts import Box
from protocols.manifest import validate_manifest

Adapter = Callable[[Path], pd.DataFrame]
AnnotationReader = Callable[[Path], dict[int, Box]]


@dataclass(frozen=True)
class DatasetDef:
    """A registered dataset: its adapter, its data-root folder and a one-line description of the
    expected files (used in error messages)."""

    adapter: Adapter
    folder: str
    layout: str = ""


#: The module that imports every adapter (``protocols/adapters/<dataset>.py``).
ADAPTER_ENTRIES = "protocols.adapters"

DATASETS: Registry[DatasetDef] = Registry(
    "dataset",
    "Datasets: a :class:`DatasetDef` whose adapter maps ``root`` (``data_root / folder``) to a "
    "manifest DataFrame. Register with :func:`register_dataset`.",
    entries=ADAPTER_ENTRIES,
)
ANNOTATION_READERS: Registry[AnnotationReader] = Registry(
    "annotation reader",
    "Face-annotation readers ``(path: Path) -> {frame index: (x, y, w, h)}`` by dataset name; "
    "boxes in pixel coordinates of the full frame (they may reach outside it).",
    entries=ADAPTER_ENTRIES,
)


class DatasetLayoutError(ValueError):
    """A dataset folder that does not match its published layout; says what was expected/found."""


class AnnotationError(DatasetLayoutError):
    """An annotation file that cannot be read; names the file and the line."""


def register_dataset(
    name: str, folder: str | None = None, layout: str = ""
) -> Callable[[Adapter], Adapter]:
    """Register an adapter under ``name``; ``folder`` (default ``name``) is its data-root folder."""

    def deco(fn: Adapter) -> Adapter:
        DATASETS.add(name, DatasetDef(fn, folder or name, layout))
        return fn

    return deco


def listing(path: Path, limit: int = 8) -> str:
    """A few entries of a folder for error messages (folders end with ``/``)."""
    if not path.exists():
        return "(does not exist)"
    if not path.is_dir():
        return "(not a folder)"
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
    if not entries:
        return "(empty)"
    more = f", ... ({len(entries)} entries)" if len(entries) > limit else ""
    return ", ".join(entries[:limit]) + more


def dataset_folder(dataset: str) -> str:
    """The data-root folder a dataset lives in."""
    return DATASETS.get(dataset).folder


def load_manifest(dataset: str, data_root: Path | str) -> pd.DataFrame:
    """The validated manifest of ``dataset`` found under ``data_root``."""
    entry = DATASETS.get(dataset)
    folder, layout = entry.folder, entry.layout
    data_root = Path(data_root)
    root = data_root / folder
    if not root.is_dir():
        raise DatasetLayoutError(
            f"{dataset}: dataset folder {folder!r} not found in data root {data_root}"
            + (f"; expected {folder}/ with {layout}" if layout else "")
            + f"; the data root holds: {listing(data_root)}"
        )
    return validate_manifest(entry.adapter(root))


def read_face_boxes(dataset: str, annotation_path: str | Path) -> dict[int, Box]:
    """Frame index -> face box for one video; ``{}`` when the manifest has no annotation (``""``).

    An empty result tells the frame pipeline to fall back to a face detector.
    """
    if str(annotation_path) == "":
        return {}
    path = Path(annotation_path)
    if not path.is_file():
        raise AnnotationError(f"{path}: annotation file not found")
    return ANNOTATION_READERS.get(dataset)(path)
