"""Dataset adapters: each dataset's own published layout -> one manifest (see ``manifest.py``).

Adapters are registered by dataset name in ``DATASETS`` and face-annotation readers by dataset
name in ``ANNOTATION_READERS``, so a new dataset is one adapter plus (optionally) one reader.
Adapters are strict on purpose: a file that does not fit the layout is an error naming it, never
silently skipped, because a skipped video silently changes a protocol's numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from core.registry import Registry
from protocols.manifest import MANIFEST_COLUMNS, empty_manifest, validate_manifest

Box = tuple[int, int, int, int]
Adapter = Callable[[Path], pd.DataFrame]
AnnotationReader = Callable[[Path], dict[int, Box]]

DATASETS: Registry[Adapter] = Registry(
    "dataset",
    "Dataset adapters ``(root: Path) -> manifest DataFrame``; ``root`` is ``data_root / "
    "adapter.folder``. Each adapter carries ``folder`` and ``layout`` (a one-line description of "
    "the expected files, used in error messages). Register with :func:`register_dataset`.",
)
ANNOTATION_READERS: Registry[AnnotationReader] = Registry(
    "annotation reader",
    "Face-annotation readers ``(path: Path) -> {frame index: (x, y, w, h)}`` by dataset name; "
    "boxes in pixel coordinates of the full frame (they may reach outside it).",
)

#: Name of the folder (inside a dataset folder) holding synthetic depth sidecars.
SYNTHETIC_DEPTH_DIR = "_synthetic_depth"


class DatasetLayoutError(ValueError):
    """A dataset folder that does not match its published layout; says what was expected/found."""


class AnnotationError(DatasetLayoutError):
    """An annotation file that cannot be read; names the file and the line."""


def register_dataset(
    name: str, folder: str | None = None, layout: str = ""
) -> Callable[[Adapter], Adapter]:
    """Register an adapter under ``name``; ``folder`` (default ``name``) is its data-root folder."""

    def deco(fn: Adapter) -> Adapter:
        fn.folder = folder or name  # type: ignore[attr-defined]
        fn.layout = layout  # type: ignore[attr-defined]
        return DATASETS.register(name)(fn)

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
    """The data-root folder a dataset lives in (its adapter's ``folder``, else its name)."""
    return getattr(DATASETS.get(dataset), "folder", dataset)


def load_manifest(dataset: str, data_root: Path | str) -> pd.DataFrame:
    """The validated manifest of ``dataset`` found under ``data_root``."""
    adapter = DATASETS.get(dataset)
    folder = dataset_folder(dataset)
    layout = getattr(adapter, "layout", "")
    data_root = Path(data_root)
    root = data_root / folder
    if not root.is_dir():
        raise DatasetLayoutError(
            f"{dataset}: dataset folder {folder!r} not found in data root {data_root}"
            + (f"; expected {folder}/ with {layout}" if layout else "")
            + f"; the data root holds: {listing(data_root)}"
        )
    return validate_manifest(adapter(root))


def eyes_to_box(lx: float, ly: float, rx: float, ry: float) -> Box:
    """A square face box from the two eye centres: why eyes -> box is the common FAS crop.

    With ``d`` the inter-ocular distance, the box is centred between the eyes shifted down by
    ``0.5 d`` and has side ``2.2 d``; returned as integer ``(x, y, w, h)`` (x, y may be negative).
    """
    d = math.hypot(rx - lx, ry - ly)
    cx, cy = (lx + rx) / 2.0, (ly + ry) / 2.0 + 0.5 * d
    side = 2.2 * d
    return (round(cx - side / 2.0), round(cy - side / 2.0), round(side), round(side))


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


# ---------------------------------------------------------------------------------------------
# OULU-NPU

OULU = "oulu_npu"
OULU_SPLIT_FOLDERS = {"train": "Train_files", "dev": "Dev_files", "test": "Test_files"}
#: Users per split (inclusive ranges) as published.
OULU_USERS = {"train": (1, 20), "dev": (21, 35), "test": (36, 55)}
#: File code -> (instrument, PAI species, attack type). The OULU-NPU protocol has two PAIs,
#: print and display, each shown with two instruments (two printers, two displays) that APCER
#: pools; P2/P4 hold out one instrument of each (train codes 2, 4; test 3, 5).
OULU_FILE_CODES = {
    1: ("live", "live", "live"),
    2: ("print1", "print", "print"),
    3: ("print2", "print", "print"),
    4: ("replay1", "display", "replay"),
    5: ("replay2", "display", "replay"),
}
OULU_INSTRUMENT_CODES = {inst: code for code, (inst, _, _) in OULU_FILE_CODES.items()}
_OULU_VIDEO = re.compile(r"^([1-6])_([1-3])_(\d{2})_([1-5])\.avi$")
_OULU_NAME_RULE = (
    "Phone_Session_User_File.avi (phone 1-6, session 1-3, user 01-55, file 1-5), e.g. 1_1_01_1.avi"
)
_OULU_LAYOUT = (
    "Train_files/, Dev_files/, Test_files/ holding videos named "
    + _OULU_NAME_RULE
    + ", each with its .txt eye annotation beside it"
)


#: Folders of the release besides the splits (the protocol lists) and our depth sidecars.
OULU_OTHER_FOLDERS = ("Protocols", SYNTHETIC_DEPTH_DIR)


def _refuse_unexpected_folders(root: Path, dataset: str, expected: list[str]) -> None:
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


def _oulu_split_for_user(user: int) -> str | None:
    return next((s for s, (lo, hi) in OULU_USERS.items() if lo <= user <= hi), None)


def _oulu_rows(root: Path, split: str, folder: str) -> list[dict]:
    d = root / folder
    entries = {p.name: p for p in d.iterdir() if not p.name.startswith(".")}
    rows = []
    for name in sorted(entries):
        path = entries[name]
        if path.is_dir():
            raise DatasetLayoutError(f"{path}: unexpected folder in {folder}/; expected videos")
        if name.endswith(".txt"):
            if name[:-4] + ".avi" not in entries:
                raise DatasetLayoutError(f"{path}: annotation without a video {name[:-4]}.avi")
            continue
        m = _OULU_VIDEO.match(name)
        if not m or not 1 <= int(m.group(3)) <= 55:
            raise DatasetLayoutError(
                f"{path}: not an OULU-NPU video name; expected {_OULU_NAME_RULE}"
            )
        phone, session, user, code = (int(g) for g in m.groups())
        if _oulu_split_for_user(user) != split:
            lo, hi = OULU_USERS[split]
            raise DatasetLayoutError(
                f"{path}: user {user:02d} does not belong in {folder}/ (the {split} split has "
                f"users {lo}-{hi}; user {user} is in the {_oulu_split_for_user(user)} split)"
            )
        stem = name[:-4]
        annotation = d / f"{stem}.txt"
        depth = root / SYNTHETIC_DEPTH_DIR / folder / f"{stem}.npz"
        instrument, species, attack_type = OULU_FILE_CODES[code]
        rows.append(
            {
                "dataset": OULU,
                "video_id": f"{folder}/{stem}",
                "path": str(path.resolve()),
                "subject": user,
                "session": session,
                "device": str(phone),
                "pai": species,
                "instrument": instrument,
                "attack_type": attack_type,
                "label": int(code == 1),
                "split": split,
                "annotation": str(annotation.resolve()) if annotation.is_file() else "",
                "depth": str(depth.resolve()) if depth.is_file() else "",
            }
        )
    return rows


@register_dataset(OULU, layout=_OULU_LAYOUT)
def oulu_npu(root: Path) -> pd.DataFrame:
    """OULU-NPU: the split comes from the folder and must agree with the user's published split.

    PAIs (``pai``): ``print`` and ``display``, as the OULU-NPU protocol defines them; instruments
    (``instrument``): ``print1``, ``print2``, ``replay1``, ``replay2`` (file codes 2-5).
    """
    present = {s: f for s, f in OULU_SPLIT_FOLDERS.items() if (root / f).is_dir()}
    if not present:
        raise DatasetLayoutError(
            f"{OULU}: no split folders in {root}; expected {_OULU_LAYOUT}; found: {listing(root)}"
        )
    rows = [row for split, folder in present.items() for row in _oulu_rows(root, split, folder)]
    if not rows:
        raise DatasetLayoutError(
            f"{OULU}: no videos in {', '.join(f + '/' for f in present.values())} under {root}; "
            f"expected {_OULU_NAME_RULE}"
        )
    _refuse_unexpected_folders(root, OULU, [*OULU_SPLIT_FOLDERS.values(), *OULU_OTHER_FOLDERS])
    df = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    return df.astype(empty_manifest().dtypes.to_dict())


@ANNOTATION_READERS.register(OULU)
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


# The other eight datasets register themselves here (imported last: they use the names above).
import protocols.adapters  # noqa: E402, F401
