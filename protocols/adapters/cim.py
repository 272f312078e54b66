"""The C/I/M datasets of the leave-one-dataset-out protocols: CASIA-MFSD, Replay-Attack, MSU-MFSD.

CASIA-MFSD (CASIA-FASD; naming confirmed against public code that reads it):
``train_release/<1-20>/`` and ``test_release/<1-30>/``, each person's folder holding ``1.avi`` ..
``8.avi`` and ``HR_1.avi`` .. ``HR_4.avi``: 1, 2, HR_1 real; 3, 4, HR_2 warped photo; 5, 6, HR_3
cut photo; 7, 8, HR_4 video replay; odd numbers low quality, even normal, HR_* high. The test
folders 1-30 are persons 21-50. The release has no face annotations (Haar fall-back; a synthetic
tree carries ``_synthetic_faces/`` sidecars instead, see ``common.SYNTHETIC_FACES_DIR``).

Replay-Attack (Idiap; confirmed): ``train|devel|test/real/client<NNN>_session01_webcam_
authenticate_<light>_<take>.mov`` and ``train|devel|test/attack/fixed|hand/attack_<device>_
client<NNN>_session01_<medium>_<photo|video>_<light>.mov`` (device print/mobile/highdef, light
controlled/adverse), with ``face-locations/<same relative path>.face`` of per-frame ``frame x y w
h`` lines (zeros = no face). An ``enroll/`` folder (enrolment videos of the licit verification
protocol) may sit beside the splits and is not part of the anti-spoofing manifest. ``session`` is
the lighting: 1 controlled, 2 adverse; the support (fixed/hand) stays in ``video_id``.

MSU-MFSD (confirmed): ``scene01/real/real_client<NNN>_<android|laptop>_SD_scene01.mp4|mov`` and
``scene01/attack/attack_client<NNN>_<android|laptop>_SD_<ipad_video|iphone_video|
printed_photo>_scene01.mp4|mov``; ``train_sub_list.txt`` and ``test_sub_list.txt`` beside
``scene01/`` list the client ids of the two splits. No face annotations (Haar fall-back, or the
synthetic sidecars).

PAIs (``pai``, the unit APCER takes its maximum over) and instruments (``instrument``, the unit a
cross-type fold may hold out), as each dataset's own protocol defines them:

- CASIA-MFSD: its three attack tests, ``print_warped``, ``print_cut`` and ``replay`` (video);
  one instrument each, so ``instrument`` repeats ``pai`` (quality is the capture camera:
  ``device``).
- Replay-Attack: its attack-device protocols, ``print``, ``mobile`` (iPhone screen) and
  ``highdef`` (iPad screen); the instrument adds what the screen shows: ``print``,
  ``mobile_photo``, ``mobile_video``, ``highdef_photo``, ``highdef_video`` (its photo and video
  protocols, and the cross-type folds, cut across the devices by this column).
- MSU-MFSD: its three attacks, ``print`` (printed photo), ``replay_ipad`` (HR video) and
  ``replay_iphone`` (mobile video); one instrument each.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from protocols.datasets import (
    ANNOTATION_READERS,
    AnnotationError,
    DatasetLayoutError,
    listing,
    register_dataset,
)
from protocols.layouts import CASIA_FILES, Box

from .common import (
    check_subject_splits,
    check_top_level,
    layout_error,
    read_number_lines,
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
# CASIA-MFSD

CASIA = "casia_mfsd"
CASIA_SPLITS = {"train_release": ("train", 20, 0), "test_release": ("test", 30, 20)}
_CASIA_VIDEO = re.compile(r"([1-8]|HR_[1-4])\.avi")
_CASIA_RULE = "1.avi .. 8.avi or HR_1.avi .. HR_4.avi"
_CASIA_LAYOUT = (
    "train_release/<1-20>/ and test_release/<1-30>/ person folders holding " + _CASIA_RULE
)


@register_dataset(CASIA, folder="casia_mfsd", layout=_CASIA_LAYOUT)
def casia_mfsd(root: Path) -> pd.DataFrame:
    """CASIA-MFSD: species and quality from the file number; test persons are offset by 20."""
    check_top_level(root, set(CASIA_SPLITS), CASIA, _CASIA_LAYOUT)
    rows = []
    for folder, (split, n_people, offset) in CASIA_SPLITS.items():
        split_dir = require_dir(root / folder, CASIA, f"{split} person folders 1-{n_people}")
        people = subfolders(
            split_dir, re.compile(r"[1-9]\d?"), f"person folders 1-{n_people}", CASIA
        )
        for person in people:
            if not 1 <= int(person.name) <= n_people:
                raise layout_error(CASIA, person, f"person folders 1-{n_people} in {folder}/")
            found = scan_videos(person, _CASIA_VIDEO, _CASIA_RULE, CASIA)
            for f in require_videos(found, person, _CASIA_RULE, CASIA):
                species, attack_type, quality = CASIA_FILES[f.match.group(1)]
                rows.append(
                    row(CASIA, root, f.path, subject=offset + int(person.name), session=1,
                        device=quality, pai=species, attack_type=attack_type, split=split)
                )  # fmt: skip
    return to_manifest(rows, CASIA, root, _CASIA_LAYOUT)


# ---------------------------------------------------------------------------------------------
# Replay-Attack

REPLAY = "replay_attack"
REPLAY_SPLITS = {"train": "train", "devel": "dev", "test": "test"}
REPLAY_LIGHT = {"controlled": 1, "adverse": 2}
FACE_LOCATIONS = "face-locations"
_REPLAY_REAL = re.compile(
    r"client(\d{3})_session01_webcam_authenticate_(controlled|adverse)_(\d)\.mov"
)
_REPLAY_ATTACK = re.compile(
    r"attack_(print|mobile|highdef)_client(\d{3})_session01_(mobile|highdef)_(photo|video)_"
    r"(controlled|adverse)\.mov"
)
_REPLAY_REAL_RULE = "client<NNN>_session01_webcam_authenticate_<controlled|adverse>_<take>.mov"
_REPLAY_ATTACK_RULE = (
    "attack_<print|mobile|highdef>_client<NNN>_session01_<medium>_<photo|video>_"
    "<controlled|adverse>.mov (print: highdef_photo; mobile/highdef: their own medium)"
)
_REPLAY_LAYOUT = (
    "train/, devel/, test/ each with real/ (" + _REPLAY_REAL_RULE + ") and attack/fixed/, "
    "attack/hand/ (" + _REPLAY_ATTACK_RULE + "), plus face-locations/<same path>.face per video"
)


def _replay_attack_instrument(m: re.Match[str]) -> str | None:
    """``print`` or ``<device>_<photo|video>`` (its PAI is the part before ``_``); None if the
    name's device and medium do not fit together."""
    device, medium, kind = m.group(1), m.group(3), m.group(4)
    if device == "print":
        return "print" if (medium, kind) == ("highdef", "photo") else None
    return f"{device}_{kind}" if medium == device else None


def _replay_annotation(root: Path, video: Path) -> Path:
    face = root / FACE_LOCATIONS / video.relative_to(root).with_suffix(".face")
    if not face.is_file():
        raise DatasetLayoutError(
            f"{REPLAY}: video {video} has no face-location file; expected {face} "
            f"(face-locations/<same relative path>.face); {face.parent} holds: {listing(face.parent)}"
        )
    return face


@register_dataset(REPLAY, folder="replay_attack", layout=_REPLAY_LAYOUT)
def replay_attack(root: Path) -> pd.DataFrame:
    """Replay-Attack: PAI from the attack device, instrument from device and medium, session
    from the lighting."""
    check_top_level(root, {*REPLAY_SPLITS, FACE_LOCATIONS, "enroll"}, REPLAY, _REPLAY_LAYOUT)
    require_dir(root / FACE_LOCATIONS, REPLAY, "per-video .face files mirroring the split folders")
    rows = []
    for folder, split in REPLAY_SPLITS.items():
        split_dir = require_dir(root / folder, REPLAY, f"the {split} split: real/ and attack/")
        for entry in visible(split_dir):
            if entry.name not in ("real", "attack"):
                raise layout_error(REPLAY, entry, f"real/ and attack/ in {folder}/")
        real = require_dir(split_dir / "real", REPLAY, "bona fide videos")
        found = scan_videos(real, _REPLAY_REAL, _REPLAY_REAL_RULE, REPLAY)
        for f in require_videos(found, real, _REPLAY_REAL_RULE, REPLAY):
            rows.append(
                row(REPLAY, root, f.path, subject=int(f.match.group(1)),
                    session=REPLAY_LIGHT[f.match.group(2)], device="webcam", pai="live",
                    attack_type="live", split=split, annotation=_replay_annotation(root, f.path))
            )  # fmt: skip
        attack = require_dir(split_dir / "attack", REPLAY, "fixed/ and hand/ attack videos")
        for entry in visible(attack):
            if entry.name not in ("fixed", "hand"):
                raise layout_error(REPLAY, entry, f"fixed/ and hand/ in {folder}/attack/")
        for support in ("fixed", "hand"):
            sdir = require_dir(attack / support, REPLAY, f"attacks on a {support} support")
            found = scan_videos(sdir, _REPLAY_ATTACK, _REPLAY_ATTACK_RULE, REPLAY)
            for f in require_videos(found, sdir, _REPLAY_ATTACK_RULE, REPLAY):
                instrument = _replay_attack_instrument(f.match)
                if instrument is None:
                    raise layout_error(REPLAY, f.path, _REPLAY_ATTACK_RULE)
                pai = instrument.split("_")[0]
                rows.append(
                    row(REPLAY, root, f.path, subject=int(f.match.group(2)),
                        session=REPLAY_LIGHT[f.match.group(5)], device="webcam", pai=pai,
                        instrument=instrument, attack_type="print" if pai == "print" else "replay",
                        split=split, annotation=_replay_annotation(root, f.path))
                )  # fmt: skip
    check_subject_splits(rows, REPLAY)
    return to_manifest(rows, REPLAY, root, _REPLAY_LAYOUT)


@ANNOTATION_READERS.register(REPLAY)
def read_replay_face(path: Path) -> dict[int, Box]:
    """Replay-Attack ``.face``: ``frame x y w h`` per line; a zero-size box means no face."""
    boxes: dict[int, Box] = {}
    for lineno, (frame, x, y, w, h) in read_number_lines(path, 5, "5 numbers: frame x y w h"):
        if frame < 0 or frame != int(frame) or int(frame) in boxes:
            raise AnnotationError(f"{path}: line {lineno}: bad or repeated frame index {frame:g}")
        if w > 0 and h > 0:
            boxes[int(frame)] = (round(x), round(y), round(w), round(h))
    return boxes


# ---------------------------------------------------------------------------------------------
# MSU-MFSD

MSU = "msu_mfsd"
MSU_LISTS = {"train": "train_sub_list.txt", "test": "test_sub_list.txt"}
MSU_ATTACKS = {
    "printed_photo": ("print", "print"),
    "ipad_video": ("replay_ipad", "replay"),
    "iphone_video": ("replay_iphone", "replay"),
}
_MSU_REAL = re.compile(r"real_client(\d{3})_(android|laptop)_SD_scene01\.(mp4|mov)")
_MSU_ATTACK = re.compile(
    r"attack_client(\d{3})_(android|laptop)_SD_(printed_photo|ipad_video|iphone_video)_scene01\."
    r"(mp4|mov)"
)
_MSU_REAL_RULE = "real_client<NNN>_<android|laptop>_SD_scene01.mp4|mov"
_MSU_ATTACK_RULE = (
    "attack_client<NNN>_<android|laptop>_SD_<printed_photo|ipad_video|iphone_video>_scene01.mp4|mov"
)
_MSU_LAYOUT = (
    f"scene01/real/ ({_MSU_REAL_RULE}), scene01/attack/ ({_MSU_ATTACK_RULE}) and "
    "train_sub_list.txt / test_sub_list.txt listing the client ids of each split"
)


def _msu_split_of(root: Path) -> dict[int, str]:
    split_of: dict[int, str] = {}
    for split, name in MSU_LISTS.items():
        path = root / name
        if not path.is_file():
            raise DatasetLayoutError(
                f"{MSU}: split list {path} is missing; expected {_MSU_LAYOUT}; "
                f"{root} holds: {listing(root)}"
            )
        for lineno, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            if not line.strip().isdigit():
                raise DatasetLayoutError(
                    f"{MSU}: {path}: line {lineno}: expected one client id per line, got {line!r}"
                )
            client = int(line)
            if split_of.setdefault(client, split) != split:
                raise DatasetLayoutError(f"{MSU}: client {client} is listed in both split lists")
    return split_of


@register_dataset(MSU, folder="msu_mfsd", layout=_MSU_LAYOUT)
def msu_mfsd(root: Path) -> pd.DataFrame:
    """MSU-MFSD: split from the client lists, species from the attack name, device from the name."""
    check_top_level(root, {"scene01"}, MSU, _MSU_LAYOUT)
    split_of = _msu_split_of(root)
    scene = require_dir(root / "scene01", MSU, "real/ and attack/")
    for entry in visible(scene):
        if entry.name not in ("real", "attack"):
            raise layout_error(MSU, entry, "real/ and attack/ in scene01/")
    rows = []
    for kind, pattern, rule in (
        ("real", _MSU_REAL, _MSU_REAL_RULE),
        ("attack", _MSU_ATTACK, _MSU_ATTACK_RULE),
    ):
        folder = require_dir(scene / kind, MSU, f"{kind} videos")
        for f in require_videos(scan_videos(folder, pattern, rule, MSU), folder, rule, MSU):
            client = int(f.match.group(1))
            if client not in split_of:
                raise DatasetLayoutError(
                    f"{MSU}: {f.path}: client {client} is in neither {MSU_LISTS['train']} "
                    f"nor {MSU_LISTS['test']}; every client belongs to one split"
                )
            species, attack_type = (
                ("live", "live") if kind == "real" else MSU_ATTACKS[f.match.group(3)]
            )
            rows.append(
                row(MSU, root, f.path, subject=client, session=1, device=f.match.group(2),
                    pai=species, attack_type=attack_type, split=split_of[client])
            )  # fmt: skip
    return to_manifest(rows, MSU, root, _MSU_LAYOUT)


# Synthetic trees of the two datasets without annotations carry OULU-format eye sidecars.
for _name in (CASIA, MSU):
    ANNOTATION_READERS.register(_name)(read_oulu_eyes)
