"""The three 3D-mask test sets of the cross-dataset cross-type protocol: 3DMAD, HKBU-MARs and
CASIA-SURF 3DMask. None has a train/dev/test split of its own: every row is ``test``.

3DMAD (Idiap): one HDF5 file per video, ``<Client>_<Session>_<Shot>.hdf5`` (client 01-17,
session 01-03, shot 01-05; confirmed against public code), with datasets ``Color_Data`` (T, 3, H,
W) uint8 RGB, ``Depth_Data`` and ``Eye_Pos`` (T, 4) per-frame eye centres. Sessions 1-2 are bona
fide, session 3 the hard-resin mask attacks. Not confirmed: the per-session folders
``session01/Data/`` (we follow the most common description) and the order inside ``Eye_Pos``,
read as two (x, y) eye centres (the eye order does not change the box).

HKBU-MARs (V2: 12 masks from two makers, 7 cameras, 6 lightings): not confirmed, the release
layout is our choice: ``real/<Subject>_<Camera>_<Light>.avi`` and ``mask/<Maker>/<Subject>_<Camera>
_<Light>.avi`` with makers ``ThatsMyFace`` (``mask_hard``) and ``REAL-f`` (``mask_hard_realf``);
session = lighting, device = camera. No annotations (Haar fall-back; synthetic trees carry
OULU-format eye sidecars in ``_synthetic_faces/``, as for CASIA-SURF 3DMask).

CASIA-SURF 3DMask (48 subjects, masks plain or with wig/glasses, six lighting environments): not
confirmed, our layout: ``live/<Subject>_<Light>.mp4`` and ``mask/<Subject>_<Decoration>_<Light>.mp4``
with decoration 1 plain, 2 wig and glasses, 3 wig; session = lighting (1-6), device = decoration
(``none`` for live faces). No annotations (Haar fall-back).
PAIs and instruments: none of the three sets defines attack sub-types in its protocol, so each
mask production method is one PAI and ``instrument`` repeats ``pai`` (the releases do not tell
the physical masks apart beyond the subject they copy): 3DMAD ``mask_hard`` (ThatsMyFace resin
masks), HKBU-MARs ``mask_hard`` (ThatsMyFace) and ``mask_hard_realf`` (REAL-f, a different
production method), CASIA-SURF 3DMask ``mask_hard`` (its decorations are worn with the same mask:
``device``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from protocols.datasets import (
    ANNOTATION_READERS,
    AnnotationError,
    register_dataset,
)
from protocols.layouts import SURF_DECORATIONS, Box, eyes_to_box

from .common import (
    check_top_level,
    layout_error,
    read_oulu_eyes,
    require_dir,
    require_videos,
    row,
    scan_videos,
    subfolders,
    to_manifest,
    visible,
)

# ---------------------------------------------------------------------------------------------
# 3DMAD

MAD = "3dmad"
MAD_SESSIONS = {1: "live", 2: "live", 3: "mask_hard"}
_MAD_VIDEO = re.compile(r"(\d{2})_(0[1-3])_(0[1-5])\.hdf5")
_MAD_RULE = "<Client 01-17>_<Session 01-03>_<Shot 01-05>.hdf5, e.g. 01_01_01.hdf5"
_MAD_LAYOUT = f"session01/Data/, session02/Data/, session03/Data/ holding {_MAD_RULE}"


@register_dataset(MAD, folder="3dmad", layout=_MAD_LAYOUT)
def mad(root: Path) -> pd.DataFrame:
    """3DMAD: sessions 1-2 bona fide, 3 mask; the HDF5 file is both video and eye annotation."""
    check_top_level(root, {f"session{s:02d}" for s in MAD_SESSIONS}, MAD, _MAD_LAYOUT)
    rows = []
    for s in MAD_SESSIONS:
        require_dir(root / f"session{s:02d}", MAD, f"Data/ with the session-{s} videos")
        data = require_dir(root / f"session{s:02d}" / "Data", MAD, f"session-{s} HDF5 files")
        for entry in visible(data.parent):
            if entry.name != "Data":
                raise layout_error(MAD, entry, f"only Data/ in session{s:02d}/")
        for f in require_videos(
            scan_videos(data, _MAD_VIDEO, _MAD_RULE, MAD), data, _MAD_RULE, MAD
        ):
            client, session = int(f.match.group(1)), int(f.match.group(2))
            if session != s or not 1 <= client <= 17:
                raise layout_error(MAD, f.path, f"clients 01-17 of session {s:02d}: {_MAD_RULE}")
            species = MAD_SESSIONS[session]
            rows.append(
                row(MAD, root, f.path, subject=client, session=session, device="kinect",
                    pai=species, attack_type="live" if species == "live" else "mask",
                    split="test", annotation=f.path)
            )  # fmt: skip
    return to_manifest(rows, MAD, root, _MAD_LAYOUT)


@ANNOTATION_READERS.register(MAD)
def read_3dmad_eyes(path: Path) -> dict[int, Box]:
    """Boxes from the ``Eye_Pos`` dataset of a 3DMAD HDF5 file (rows of two eye centres)."""
    import h5py  # lazy: only 3DMAD needs it

    try:
        with h5py.File(path, "r") as fh:
            if "Eye_Pos" not in fh:
                raise AnnotationError(
                    f"{path}: no Eye_Pos dataset; the file holds: {', '.join(sorted(fh.keys()))}"
                )
            eyes = np.asarray(fh["Eye_Pos"][()], dtype=np.float64)
    except OSError as e:
        raise AnnotationError(f"{path}: unreadable HDF5 file ({e})") from e
    if eyes.ndim != 2 or eyes.shape[1] != 4 or not np.isfinite(eyes).all():
        raise AnnotationError(f"{path}: Eye_Pos must be finite (T, 4), got shape {eyes.shape}")
    boxes: dict[int, Box] = {}
    for frame, (lx, ly, rx, ry) in enumerate(eyes):
        if (lx, ly) != (rx, ry):
            boxes[frame] = eyes_to_box(lx, ly, rx, ry)
    return boxes


# ---------------------------------------------------------------------------------------------
# HKBU-MARs

HKBU = "hkbu_mars"
HKBU_MAKERS = {"ThatsMyFace": "mask_hard", "REAL-f": "mask_hard_realf"}
_HKBU_VIDEO = re.compile(r"(\d{2})_(0[1-7])_(0[1-6])\.avi")
_HKBU_RULE = "<Subject 01-12>_<Camera 01-07>_<Light 01-06>.avi, e.g. 01_03_02.avi"
_HKBU_LAYOUT = f"real/ and mask/ThatsMyFace/, mask/REAL-f/ holding {_HKBU_RULE}"


@register_dataset(HKBU, folder="hkbu_mars", layout=_HKBU_LAYOUT)
def hkbu_mars(root: Path) -> pd.DataFrame:
    """HKBU-MARs: the mask maker's folder names the species; camera = device, light = session."""
    check_top_level(root, {"real", "mask"}, HKBU, _HKBU_LAYOUT)
    folders = {"real": ("live", "live")}
    mask = require_dir(root / "mask", HKBU, "one folder per mask maker: " + ", ".join(HKBU_MAKERS))
    subfolders(mask, re.compile("|".join(re.escape(m) for m in HKBU_MAKERS)), "mask makers", HKBU)
    folders.update({f"mask/{m}": (s, "mask") for m, s in HKBU_MAKERS.items()})
    rows = []
    for rel, (species, attack_type) in folders.items():
        folder = require_dir(root / rel, HKBU, f"{species} videos named {_HKBU_RULE}")
        for f in require_videos(
            scan_videos(folder, _HKBU_VIDEO, _HKBU_RULE, HKBU), folder, _HKBU_RULE, HKBU
        ):
            subject, camera, light = (int(g) for g in f.match.groups())
            if not 1 <= subject <= 12:
                raise layout_error(HKBU, f.path, f"subjects 01-12: {_HKBU_RULE}")
            rows.append(
                row(HKBU, root, f.path, subject=subject, session=light, device=f"C{camera}",
                    pai=species, attack_type=attack_type, split="test")
            )  # fmt: skip
    return to_manifest(rows, HKBU, root, _HKBU_LAYOUT)


# ---------------------------------------------------------------------------------------------
# CASIA-SURF 3DMask

SURF = "casia_surf_3dmask"
_SURF_LIVE = re.compile(r"(\d{3})_([1-6])\.mp4")
_SURF_MASK = re.compile(r"(\d{3})_([1-3])_([1-6])\.mp4")
_SURF_LIVE_RULE = "<Subject 001-048>_<Light 1-6>.mp4, e.g. 001_3.mp4"
_SURF_MASK_RULE = "<Subject 001-048>_<Decoration 1-3>_<Light 1-6>.mp4, e.g. 001_2_3.mp4"
_SURF_LAYOUT = f"live/ ({_SURF_LIVE_RULE}) and mask/ ({_SURF_MASK_RULE})"


@register_dataset(SURF, folder="casia_surf_3dmask", layout=_SURF_LAYOUT)
def casia_surf_3dmask(root: Path) -> pd.DataFrame:
    """CASIA-SURF 3DMask: lighting environment = session, mask decoration = device."""
    check_top_level(root, {"live", "mask"}, SURF, _SURF_LAYOUT)
    rows = []
    live = require_dir(root / "live", SURF, "bona fide videos")
    for f in require_videos(
        scan_videos(live, _SURF_LIVE, _SURF_LIVE_RULE, SURF), live, _SURF_LIVE_RULE, SURF
    ):
        if not 1 <= int(f.match.group(1)) <= 48:
            raise layout_error(SURF, f.path, f"subjects 001-048: {_SURF_LIVE_RULE}")
        rows.append(
            row(SURF, root, f.path, subject=int(f.match.group(1)), session=int(f.match.group(2)),
                device="none", pai="live", attack_type="live", split="test")
        )  # fmt: skip
    mask = require_dir(root / "mask", SURF, "mask attack videos")
    for f in require_videos(
        scan_videos(mask, _SURF_MASK, _SURF_MASK_RULE, SURF), mask, _SURF_MASK_RULE, SURF
    ):
        subject, decoration, light = (int(g) for g in f.match.groups())
        if not 1 <= subject <= 48:
            raise layout_error(SURF, f.path, f"subjects 001-048: {_SURF_MASK_RULE}")
        rows.append(
            row(SURF, root, f.path, subject=subject, session=light,
                device=SURF_DECORATIONS[decoration], pai="mask_hard", attack_type="mask",
                split="test")
        )  # fmt: skip
    return to_manifest(rows, SURF, root, _SURF_LAYOUT)


# Synthetic trees of the two datasets without annotations carry OULU-format eye sidecars.
for _name in (HKBU, SURF):
    ANNOTATION_READERS.register(_name)(read_oulu_eyes)
