"""SiW and SiW-M: the two MSU Spoof-in-the-Wild releases, each with a ``.face`` box file per video.

SiW (confirmed against public code that reads it): ``Train|Test/live|spoof/<SubjectID>/`` holding
``SubjectID-SensorID-TypeID-MediumID-SessionID.mov`` (or ``.mp4``), e.g. ``003-1-2-1-1.mov``;
TypeID 1 live, 2 print, 3 replay; MediumID is the print (1-2) or replay (1-4) medium. Beside each
video a ``.face`` file with one line per frame ``x1 y1 x2 y2`` (upper-left and bottom-right
corner of the face box; ``0 0 0 0`` = no face detected).

SiW PAIs and instruments: the SiW protocols name two attack types, print and replay (P3 swaps
them), so ``pai`` is ``print`` or ``replay``; ``instrument`` is the medium within it, ``print1``,
``print2`` (the two printed photos) and ``replay1`` .. ``replay4`` (the four replay devices, the
unit P2 leaves out).

SiW-M: one folder per attack type, ``Live/`` and ``Spoof/<Type>/``, each file prefixed with its
type; the folder names and prefixes follow the SiW-M release as public code lists them
(e.g. ``Spoof/Makeup_Cosmetic/Makeup_Co_*.mov``). Not confirmed: the release numbers videos
without naming the person, so we name files ``<Prefix>_<SubjectID>_<Take>.mov``; we assume the
SiW-format ``.face`` box file beside each video (same lab and tooling as SiW). The 13 SiW-M types
(the unit of its leave-one-type-out protocol) are our ``pai`` values; ``instrument`` is the
release's type folder: the type itself, except that the partial-paper attack is stored in two
folders (``Partial_Eye`` and ``Partial_Mouth``, the eye or mouth region covered), both of PAI
``partial_paper`` with instruments ``partial_paper_eye`` and ``partial_paper_mouth``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from protocols.datasets import ANNOTATION_READERS, register_dataset
from protocols.layouts import SIWM_FOLDERS, Box

from .common import (
    check_subject_splits,
    check_top_level,
    corner_box,
    layout_error,
    read_number_lines,
    require_dir,
    require_videos,
    row,
    scan_videos,
    subfolders,
    to_manifest,
    visible,
)

SIW = "siw"
SIW_SPLITS = {"Train": "train", "Test": "test"}
SIW_TYPES = {1: "live", 2: "print", 3: "replay"}
#: Allowed MediumID per TypeID (live: the recording-variation id).
SIW_MEDIA = {1: range(1, 5), 2: range(1, 3), 3: range(1, 5)}
_SIW_SUBJECT = re.compile(r"\d{3}")
_SIW_VIDEO = re.compile(r"(\d{3})-([12])-([123])-([1-4])-([1-4])\.(mov|mp4)")
_SIW_RULE = (
    "SubjectID-SensorID-TypeID-MediumID-SessionID.mov (subject 001-165, sensor 1-2, type 1 live / "
    "2 print / 3 replay, medium 1-2 for print and 1-4 for replay, session 1-4), e.g. 003-1-2-1-1.mov"
)
_SIW_LAYOUT = (
    "Train/ and Test/, each with live/ and spoof/ holding one folder per subject (001-165) of "
    f"videos named {_SIW_RULE}, each with its .face box file beside it"
)


def _siw_instrument(type_id: int, medium: int) -> str:
    kind = SIW_TYPES[type_id]
    return "live" if kind == "live" else f"{kind}{medium}"


def _siw_rows(root: Path, subj_dir: Path, kind: str, split: str) -> list[dict]:
    """The videos of one subject folder (``live/`` holds TypeID 1, ``spoof/`` TypeIDs 2-3)."""
    rows = []
    found = scan_videos(subj_dir, _SIW_VIDEO, _SIW_RULE, SIW, ".face", True)
    for f in require_videos(found, subj_dir, _SIW_RULE, SIW):
        subject, sensor, type_id, medium, session = (int(g) for g in f.match.groups()[:5])
        if f.match.group(1) != subj_dir.name or (type_id == 1) != (kind == "live"):
            types = "1" if kind == "live" else "2-3"
            raise layout_error(
                SIW, f.path, f"{kind} videos (TypeID {types}) of subject {subj_dir.name} only"
            )
        if medium not in SIW_MEDIA[type_id]:
            raise layout_error(SIW, f.path, _SIW_RULE)
        rows.append(
            row(SIW, root, f.path, subject=subject, session=session, device=str(sensor),
                pai=SIW_TYPES[type_id], instrument=_siw_instrument(type_id, medium),
                attack_type=SIW_TYPES[type_id], split=split, annotation=f.annotation)
        )  # fmt: skip
    return rows


@register_dataset(SIW, folder="siw", layout=_SIW_LAYOUT)
def siw(root: Path) -> pd.DataFrame:
    """SiW: split from Train/Test, PAI from TypeID, instrument from TypeID + MediumID, device =
    sensor id."""
    check_top_level(root, set(SIW_SPLITS), SIW, _SIW_LAYOUT)
    rows = []
    for folder, split in SIW_SPLITS.items():
        split_dir = require_dir(root / folder, SIW, f"the {split} split: live/ and spoof/")
        for kind in ("live", "spoof"):
            kind_dir = require_dir(split_dir / kind, SIW, f"{kind} videos by subject")
            for subj_dir in subfolders(kind_dir, _SIW_SUBJECT, "subject folders 001-165", SIW):
                rows += _siw_rows(root, subj_dir, kind, split)
    check_subject_splits(rows, SIW)
    return to_manifest(rows, SIW, root, _SIW_LAYOUT)


def read_siw_face(path: Path) -> dict[int, Box]:
    """SiW ``.face``: line i (0-based) is frame i's box ``x1 y1 x2 y2``; ``0 0 0 0`` = no face."""
    boxes: dict[int, Box] = {}
    lines = read_number_lines(path, 4, "4 numbers x1 y1 x2 y2 (face box corners) per frame")
    for frame, (_, (x1, y1, x2, y2)) in enumerate(lines):
        box = corner_box(x1, y1, x2, y2)
        if box is not None:
            boxes[frame] = box
    return boxes


ANNOTATION_READERS.register(SIW)(read_siw_face)

# ---------------------------------------------------------------------------------------------
# SiW-M

SIWM = "siw_m"
#: Type folders holding one instrument of a PAI shared with another folder (default: the PAI).
SIWM_INSTRUMENTS = {
    "Spoof/Partial_Eye": "partial_paper_eye",
    "Spoof/Partial_Mouth": "partial_paper_mouth",
}
_SIWM_LAYOUT = (
    "Live/ and Spoof/<Type>/ ("
    + ", ".join(SIWM_FOLDERS)
    + ") holding <Prefix>_<SubjectID>_<Take>.mov videos (e.g. Spoof/Makeup_Cosmetic/"
    "Makeup_Co_012_1.mov), each with its .face box file beside it"
)


@register_dataset(SIWM, folder="siw_m", layout=_SIWM_LAYOUT)
def siw_m(root: Path) -> pd.DataFrame:
    """SiW-M: PAI (one of 13 types) and instrument from the type folder; no splits (the
    leave-one-type-out protocols make them)."""
    check_top_level(root, {"Live", "Spoof"}, SIWM, _SIWM_LAYOUT)
    spoof = require_dir(root / "Spoof", SIWM, "one folder per attack type")
    known = {f.split("/", 1)[1] for f in SIWM_FOLDERS if f.startswith("Spoof/")}
    for entry in visible(spoof):
        if entry.name not in known:
            raise layout_error(SIWM, entry, "one of the type folders " + ", ".join(sorted(known)))
    rows = []
    for rel, (prefix, species, attack_type) in SIWM_FOLDERS.items():
        folder = require_dir(
            root / rel, SIWM, f"{species} videos named {prefix}_<Subject>_<Take>.mov"
        )
        pattern = re.compile(re.escape(prefix) + r"_(\d{3})_(\d+)\.(mov|mp4)")
        rule = f"{prefix}_<SubjectID 3 digits>_<Take>.mov, e.g. {prefix}_012_1.mov"
        found = scan_videos(folder, pattern, rule, SIWM, ".face", True)
        for f in require_videos(found, folder, rule, SIWM):
            subject, take = int(f.match.group(1)), int(f.match.group(2))
            rows.append(
                row(SIWM, root, f.path, subject=subject, session=take, device="1", pai=species,
                    instrument=SIWM_INSTRUMENTS.get(rel, species), attack_type=attack_type,
                    split="test", annotation=f.annotation)
            )  # fmt: skip
    return to_manifest(rows, SIWM, root, _SIWM_LAYOUT)


ANNOTATION_READERS.register(SIWM)(read_siw_face)
