"""OULU-NPU: ``Train_files/``, ``Dev_files/``, ``Test_files/`` of ``Phone_Session_User_File.avi``.

PAIs (``pai``): ``print`` and ``display``, as the OULU-NPU protocol defines them; instruments
(``instrument``): ``print1``, ``print2``, ``replay1``, ``replay2`` (file codes 2-5). Each video
has its eye annotation (``.txt``, one ``frame,lx,ly,rx,ry`` line per frame) beside it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from protocols.datasets import ANNOTATION_READERS, DatasetLayoutError, listing, register_dataset
from protocols.layouts import (
    OULU,
    OULU_FILE_CODES,
    OULU_SPLIT_FOLDERS,
    OULU_USERS,
    SYNTHETIC_DEPTH_DIR,
)
from protocols.manifest import MANIFEST_COLUMNS, empty_manifest

from .common import read_oulu_eyes, refuse_unexpected_folders

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
    refuse_unexpected_folders(root, OULU, [*OULU_SPLIT_FOLDERS.values(), *OULU_OTHER_FOLDERS])
    df = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    return df.astype(empty_manifest().dtypes.to_dict())


ANNOTATION_READERS.register(OULU)(read_oulu_eyes)
