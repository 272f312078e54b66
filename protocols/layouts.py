"""The datasets' published layout constants: folder and file names, codes and their meaning.

A leaf: it imports nothing of ours. The adapters read the layouts with these names and the
synthetic generator (``synth``) writes them with the same names, so the two cannot drift.
"""

from __future__ import annotations

import math

#: A face box ``(x, y, w, h)`` in pixel coordinates of the full frame (it may reach outside it).
Box = tuple[int, int, int, int]

#: Name of the folder (inside a dataset folder) holding synthetic depth sidecars.
SYNTHETIC_DEPTH_DIR = "_synthetic_depth"

#: Synthetic face-annotation sidecars (``<dataset>/_synthetic_faces/<video path>.txt``, the OULU
#: eye format ``frame,lx,ly,rx,ry``) for datasets whose real release ships no face annotation:
#: the real data falls back to the Haar detector, which does not find the small procedural faces.
SYNTHETIC_FACES_DIR = "_synthetic_faces"


def eyes_to_box(lx: float, ly: float, rx: float, ry: float) -> Box:
    """A square face box from the two eye centres: why eyes -> box is the common FAS crop.

    With ``d`` the inter-ocular distance, the box is centred between the eyes shifted down by
    ``0.5 d`` and has side ``2.2 d``; returned as integer ``(x, y, w, h)`` (x, y may be negative).
    """
    d = math.hypot(rx - lx, ry - ly)
    cx, cy = (lx + rx) / 2.0, (ly + ry) / 2.0 + 0.5 * d
    side = 2.2 * d
    return (round(cx - side / 2.0), round(cy - side / 2.0), round(side), round(side))


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

# CASIA-MFSD

#: File stem -> (PAI species = instrument, attack type, quality).
CASIA_FILES = {
    "1": ("live", "live", "low"), "2": ("live", "live", "normal"), "HR_1": ("live", "live", "high"),
    "3": ("print_warped", "print", "low"), "4": ("print_warped", "print", "normal"),
    "HR_2": ("print_warped", "print", "high"),
    "5": ("print_cut", "print", "low"), "6": ("print_cut", "print", "normal"),
    "HR_3": ("print_cut", "print", "high"),
    "7": ("replay", "replay", "low"), "8": ("replay", "replay", "normal"),
    "HR_4": ("replay", "replay", "high"),
}  # fmt: skip

# CASIA-SURF 3DMask

#: Mask decoration code -> name.
SURF_DECORATIONS = {1: "plain", 2: "wig_glasses", 3: "wig"}

# SiW-M

#: Release folder (relative to the dataset folder) -> (file prefix, species, attack type).
SIWM_FOLDERS: dict[str, tuple[str, str, str]] = {
    "Live": ("Live", "live", "live"),
    "Spoof/Replay": ("Replay", "replay", "replay"),
    "Spoof/Paper": ("Paper", "print", "print"),
    "Spoof/Mask_HalfMask": ("Mask_Half", "mask_half", "mask"),
    "Spoof/Silicone": ("Mask_Silicone", "mask_silicone", "mask"),
    "Spoof/Mask_TransparentMask": ("Mask_Trans", "mask_transparent", "mask"),
    "Spoof/Mask_PaperMask": ("Mask_Paper", "mask_paper", "mask"),
    "Spoof/Mannequin": ("Mask_Mann", "mask_mannequin", "mask"),
    "Spoof/Makeup_Obfuscation": ("Makeup_Ob", "makeup_obfuscation", "makeup"),
    "Spoof/Makeup_Impersonation": ("Makeup_Im", "makeup_impersonation", "makeup"),
    "Spoof/Makeup_Cosmetic": ("Makeup_Co", "makeup_cosmetic", "makeup"),
    "Spoof/Partial_FunnyeyeGlasses": ("Partial_Funnyeye", "partial_funny_eye", "partial"),
    "Spoof/Partial_PaperGlasses": ("Partial_Paperglass", "partial_paper_glasses", "partial"),
    "Spoof/Partial_Eye": ("Partial_Eye", "partial_paper", "partial"),
    "Spoof/Partial_Mouth": ("Partial_Mouth", "partial_paper", "partial"),
}
#: The PAI species (``pai``) of SiW-M in the release's order, and its 13 attack types (the
#: species besides live: the leave-one-type-out folds).
SIWM_SPECIES = tuple(dict.fromkeys(species for _, species, _ in SIWM_FOLDERS.values()))
SIWM_TYPES = tuple(species for species in SIWM_SPECIES if species != "live")
