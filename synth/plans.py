"""The contract of a synthetic layout: a *plan* lists every video one dataset's layout holds.

``LAYOUTS`` maps a dataset folder to its plan function ``(counts) -> Plan``; the plans live in
``layouts_*.py`` and ``layouts.py`` (which writes them) imports them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from core.registry import Registry

from .clips import ClipSpec
from .sizes import LayoutCounts

#: Annotation formats: SiW ``.face`` (per frame ``x1 y1 x2 y2``), Replay-Attack ``.face``
#: (per frame ``frame x y w h``); 3DMAD keeps its eyes inside the HDF5 file.
ANNOTATION_FORMATS = ("", "siw_face", "replay_face")


@dataclass(frozen=True)
class Job:
    """One video of a layout: ``rel`` (and ``annotation_rel``) are relative to the dataset folder."""

    folder: str
    rel: str
    clip: ClipSpec
    annotation: str = ""
    annotation_rel: str = ""

    def __post_init__(self) -> None:
        if self.annotation not in ANNOTATION_FORMATS:
            raise ValueError(f"unknown annotation format {self.annotation!r}")
        if bool(self.annotation) != bool(self.annotation_rel):
            raise ValueError(f"{self.rel}: annotation format and path go together")


@dataclass
class Plan:
    """Everything one layout writes: videos and small text files (relative path -> text)."""

    jobs: list[Job] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)


PlanFn = Callable[[LayoutCounts], Plan]
LAYOUTS: Registry[PlanFn] = Registry(
    "synthetic layout",
    "Plans ``(counts: LayoutCounts) -> Plan`` by dataset folder: every video path in the "
    "dataset's own layout with its ClipSpec and annotation; a pure function of the counts.",
    entries="synth.layouts",
)


def capped(counts: LayoutCounts, available: int) -> int:
    """Subjects to write: the requested count (None = all) capped by what the dataset has."""
    return available if counts.subjects is None else min(counts.subjects, available)


def pick(options: list, index: int, full: bool) -> list:
    """All options on a full grid, else the ``index``-th one (cycled): one cell per subject."""
    return list(options) if full else [options[index % len(options)]]
