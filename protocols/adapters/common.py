"""Shared strict-scanning helpers for the dataset adapters.

Every adapter walks the folders its dataset's layout names and matches every file against the
dataset's own naming rule. Anything that does not fit (a stray file, an unexpected folder, a
missing annotation) is a :class:`DatasetLayoutError` that names the file, the expected pattern
and what the folder holds, because a silently skipped video changes a protocol's numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from protocols.datasets import AnnotationError, DatasetLayoutError, listing
from protocols.layouts import SYNTHETIC_DEPTH_DIR, SYNTHETIC_FACES_DIR, Box, eyes_to_box
from protocols.manifest import MANIFEST_COLUMNS, empty_manifest

SIDECAR_DIRS = (SYNTHETIC_DEPTH_DIR, SYNTHETIC_FACES_DIR)


def visible(folder: Path) -> list[Path]:
    """The entries of ``folder`` in name order, without hidden files (``.name``)."""
    return sorted((p for p in folder.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)


def require_dir(path: Path, dataset: str, what: str) -> Path:
    """``path`` if it is a folder, else an error naming it, what it should hold and its parent."""
    if not path.is_dir():
        raise DatasetLayoutError(
            f"{dataset}: expected folder {path} ({what}) is missing; "
            f"{path.parent} holds: {listing(path.parent)}"
        )
    return path


#: Files that are media or annotations: never allowed outside the layout's folders.
MEDIA_SUFFIXES = (".avi", ".mov", ".mp4", ".hdf5", ".h5", ".face")


def check_top_level(root: Path, allowed: set[str], dataset: str, layout: str) -> None:
    """Entries of a dataset folder besides the layout's: documents are fine, folders and media
    files are errors (a video in the wrong place would otherwise be silently left out)."""
    for entry in visible(root):
        if entry.name in allowed or entry.name in SIDECAR_DIRS:
            continue
        if entry.is_dir() or entry.suffix.lower() in MEDIA_SUFFIXES:
            raise layout_error(dataset, entry, layout)


def layout_error(dataset: str, path: Path, rule: str) -> DatasetLayoutError:
    """A file or folder that does not fit the layout: name it, the rule and its folder's contents."""
    kind = "folder" if path.is_dir() else "file"
    return DatasetLayoutError(
        f"{dataset}: unexpected {kind} {path}; expected {rule}; "
        f"{path.parent} holds: {listing(path.parent)}"
    )


@dataclass(frozen=True)
class Found:
    """A video file matched by a naming rule, with its regex groups and its annotation (if any)."""

    path: Path
    match: re.Match[str]
    annotation: Path | None


def scan_videos(
    folder: Path,
    pattern: re.Pattern[str],
    rule: str,
    dataset: str,
    annotation_ext: str | None = None,
    annotation_required: bool = False,
) -> list[Found]:
    """Every file of ``folder`` must be a video matching ``pattern`` (or its annotation beside it).

    ``annotation_ext`` (e.g. ``".face"``) names annotation files kept beside the videos: one
    without its video is an error, and so is a video without one when ``annotation_required``.
    """
    entries = visible(folder)
    names = {p.name for p in entries}
    found: list[Found] = []
    for path in entries:
        if path.is_dir():
            raise layout_error(dataset, path, rule)
        if annotation_ext and path.suffix == annotation_ext:
            if not any(n.startswith(path.stem + ".") and n != path.name for n in names):
                raise DatasetLayoutError(
                    f"{dataset}: annotation {path} has no video beside it; expected {rule} "
                    f"with a {annotation_ext} of the same stem; {folder} holds: {listing(folder)}"
                )
            continue
        m = pattern.fullmatch(path.name)
        if m is None:
            raise layout_error(dataset, path, rule)
        ann = path.with_suffix(annotation_ext) if annotation_ext else None
        if ann is not None and not ann.is_file():
            if annotation_required:
                raise DatasetLayoutError(
                    f"{dataset}: video {path} has no annotation {ann.name} beside it; every "
                    f"video ships with its {annotation_ext} file; {folder} holds: {listing(folder)}"
                )
            ann = None
        found.append(Found(path, m, ann))
    return found


def require_videos(found: list[Found], folder: Path, rule: str, dataset: str) -> list[Found]:
    """``found`` unless it is empty: an expected folder without videos is an incomplete copy."""
    if not found:
        raise DatasetLayoutError(
            f"{dataset}: folder {folder} holds no videos; expected {rule}; "
            f"it holds: {listing(folder)}"
        )
    return found


def subfolders(folder: Path, pattern: re.Pattern[str], rule: str, dataset: str) -> list[Path]:
    """The sub-folders of ``folder``; any file, or a folder not matching ``pattern``, is an error."""
    out = []
    for path in visible(folder):
        if not path.is_dir() or pattern.fullmatch(path.name) is None:
            raise layout_error(dataset, path, rule)
        out.append(path)
    return out


def depth_sidecar(root: Path, video: Path) -> str:
    """The synthetic depth sidecar of a video (``root/_synthetic_depth/<relative stem>.npz``)."""
    rel = video.relative_to(root).with_suffix(".npz")
    depth = root / SYNTHETIC_DEPTH_DIR / rel
    return str(depth.resolve()) if depth.is_file() else ""


def face_sidecar(root: Path, video: Path) -> Path | None:
    """The synthetic face-annotation sidecar of a video, if the tree is synthetic (else None)."""
    faces = root / SYNTHETIC_FACES_DIR / video.relative_to(root).with_suffix(".txt")
    return faces if faces.is_file() else None


def row(
    dataset: str,
    root: Path,
    path: Path,
    *,
    subject: int,
    session: int,
    device: str,
    pai: str,
    attack_type: str,
    split: str,
    instrument: str | None = None,
    annotation: Path | None = None,
) -> dict:
    """One manifest row; ``video_id`` is the path relative to the dataset folder without suffix.

    ``instrument`` defaults to ``pai`` (datasets whose protocol names one instrument per
    species). Without an ``annotation`` of the dataset's own, a synthetic face sidecar is used
    if present.
    """
    if annotation is None:
        annotation = face_sidecar(root, path)
    return {
        "dataset": dataset,
        "video_id": path.relative_to(root).with_suffix("").as_posix(),
        "path": str(path.resolve()),
        "subject": int(subject),
        "session": int(session),
        "device": str(device),
        "pai": pai,
        "instrument": pai if instrument is None else instrument,
        "attack_type": attack_type,
        "label": int(pai == "live"),
        "split": split,
        "annotation": str(annotation.resolve()) if annotation is not None else "",
        "depth": depth_sidecar(root, path),
    }


def to_manifest(rows: list[dict], dataset: str, root: Path, layout: str) -> pd.DataFrame:
    """Rows -> typed manifest; an empty result is an error (an empty dataset is never intended)."""
    if not rows:
        raise DatasetLayoutError(
            f"{dataset}: no videos found under {root}; expected {layout}; found: {listing(root)}"
        )
    df = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    return df.astype(empty_manifest().dtypes.to_dict())


def check_subject_splits(rows: Iterable[dict], dataset: str) -> None:
    """A person belongs to one split: the datasets' own splits are subject-disjoint."""
    seen: dict[int, tuple[str, str]] = {}
    for r in rows:
        prev = seen.setdefault(r["subject"], (r["split"], r["video_id"]))
        if prev[0] != r["split"]:
            raise DatasetLayoutError(
                f"{dataset}: subject {r['subject']} appears in split {prev[0]!r} ({prev[1]}) "
                f"and in split {r['split']!r} ({r['video_id']}); the splits are subject-disjoint"
            )


_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")


def read_number_lines(path: Path, n_fields: int, what: str) -> list[tuple[int, list[float]]]:
    """(line number, fields) of a whitespace- or comma-separated numeric text file.

    Blank lines are skipped; a line with another field count or a non-number is an error naming
    the file, the line and ``what`` was expected.
    """
    out = []
    text = Path(path).read_text(errors="replace")
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.replace(",", " ").split()
        if not fields:
            continue
        if len(fields) != n_fields or not all(_NUMBER.match(f) for f in fields):
            raise AnnotationError(f"{path}: line {lineno}: expected {what}; got {line.strip()!r}")
        values = [float(f) for f in fields]
        if not all(math.isfinite(v) for v in values):
            raise AnnotationError(f"{path}: line {lineno}: non-finite value in {line.strip()!r}")
        out.append((lineno, values))
    return out


def corner_box(x1: float, y1: float, x2: float, y2: float) -> Box | None:
    """(x, y, w, h) from two corners, or None for an empty box (``0 0 0 0`` = no face)."""
    w, h = x2 - x1, y2 - y1
    if w <= 0 or h <= 0:
        return None
    return (round(x1), round(y1), round(w), round(h))


def refuse_unexpected_folders(root: Path, dataset: str, expected: list[str]) -> None:
    """A folder the layout does not have is an error naming it: a renamed split folder
    (``test_files``) would otherwise silently drop its videos from every protocol."""
    for path in sorted(root.iterdir()):
        if path.is_dir() and not path.name.startswith(".") and path.name not in expected:
            near = [e for e in expected if e.lower() == path.name.lower()]
            hint = f" (did you mean {near[0]}/?)" if near else ""
            raise DatasetLayoutError(
                f"{path}: unexpected folder in {dataset}/{hint}; expected only "
                + ", ".join(e + "/" for e in expected)
            )


def read_oulu_eyes(path: Path) -> dict[int, Box]:
    """One line per frame ``frame,left_eye_x,left_eye_y,right_eye_x,right_eye_y``.

    Blank lines are ignored; a frame whose two eyes coincide (no detection) gets no box.
    """
    boxes: dict[int, Box] = {}
    seen: set[int] = set()
    text = Path(path).read_text(errors="replace")
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        try:
            if len(fields) != 5:
                raise ValueError(f"{len(fields)} fields")
            values = [float(f) for f in fields]
            if not all(math.isfinite(v) for v in values) or values[0] != int(values[0]):
                raise ValueError("not finite integers")
        except ValueError:
            raise AnnotationError(
                f"{path}: line {lineno}: expected 5 comma-separated integers "
                f"frame,left_eye_x,left_eye_y,right_eye_x,right_eye_y; got {line.strip()!r}"
            ) from None
        frame = int(values[0])
        if frame < 0 or frame in seen:
            problem = "negative frame index" if frame < 0 else f"frame {frame} appears twice"
            raise AnnotationError(f"{path}: line {lineno}: {problem}")
        seen.add(frame)
        lx, ly, rx, ry = values[1:]
        if (lx, ly) != (rx, ry):
            boxes[frame] = eyes_to_box(lx, ly, rx, ry)
    return boxes
