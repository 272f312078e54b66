"""Synthetic CASIA-MFSD, Replay-Attack and MSU-MFSD trees (layouts: ``protocols/adapters/cim.py``).

Rendering choices (the clip API's devices): CASIA low/normal/high quality = USB webcam, laptop
webcam, high-quality camera (clip cameras 7, 9, 8) and its replays on a tablet (display 4);
Replay-Attack's laptop webcam (camera 9) with the iPhone as ``mobile`` (display 3) and the iPad as
``highdef`` (display 4), photo and video attacks differing in their take; MSU's Android phone
(camera 2) and laptop webcam (camera 9), iPad and iPhone replays on displays 4 and 3.
"""

from __future__ import annotations

from protocols.layouts import CASIA_FILES

from .clips import ClipSpec
from .plans import LAYOUTS, Job, Plan, capped, pick
from .sizes import LayoutCounts

# ---------------------------------------------------------------------------------------------
# CASIA-MFSD

CASIA_PEOPLE = {"train_release": 20, "test_release": 30}
CASIA_CAMERAS = {"low": 7, "normal": 9, "high": 8}
CASIA_RENDER = {"live": "live", "print_warped": "print_warped", "print_cut": "print_cut",
                "replay": "replay4"}  # fmt: skip


@LAYOUTS.register("casia_mfsd")
def casia_plan(counts: LayoutCounts) -> Plan:
    """``train_release|test_release/<person>/<1-8|HR_1-4>.avi``; one quality per person (cycled)
    unless the full grid is asked for, every species for every person."""
    out = Plan()
    for folder, available in CASIA_PEOPLE.items():
        offset = 0 if folder == "train_release" else 20
        for index in range(capped(counts, available)):
            person = index + 1
            quality = pick(["low", "normal", "high"], index, counts.full_grid)
            for stem, (species, _, q) in CASIA_FILES.items():
                if q not in quality:
                    continue
                clip = ClipSpec("casia_mfsd", offset + person, 1, CASIA_CAMERAS[q],
                                CASIA_RENDER[species], take=len(stem))  # fmt: skip
                out.jobs.append(Job("casia_mfsd", f"{folder}/{person}/{stem}.avi", clip))
    return out


# ---------------------------------------------------------------------------------------------
# Replay-Attack

#: Split folder -> (first synthetic client id, published client count).
REPLAY_CLIENTS = {"train": (1, 15), "devel": (16, 15), "test": (31, 20)}
REPLAY_LIGHTS = {"controlled": 1, "adverse": 2}
#: Attack file prefix/medium -> (render species, take).
REPLAY_ATTACKS = {
    ("print", "highdef", "photo"): ("print", 0),
    ("mobile", "mobile", "photo"): ("replay3", 0),
    ("highdef", "highdef", "photo"): ("replay4", 0),
    ("mobile", "mobile", "video"): ("replay3", 1),
    ("highdef", "highdef", "video"): ("replay4", 1),
}


@LAYOUTS.register("replay_attack")
def replay_plan(counts: LayoutCounts) -> Plan:
    """``<split>/real/client..._webcam_authenticate_<light>_<take>.mov``, ``<split>/attack/
    <fixed|hand>/attack_<device>_client..._<medium>_<kind>_<light>.mov`` and their
    ``face-locations/<same path>.face``. Without the full grid each client gets one real video and
    each of the five attacks once, the light and support cycled."""
    out = Plan()
    full = counts.full_grid
    lights = list(REPLAY_LIGHTS)

    def add(rel: str, clip: ClipSpec) -> None:
        face = "face-locations/" + rel[: -len(".mov")] + ".face"
        out.jobs.append(Job("replay_attack", rel, clip, "replay_face", face))

    for split, (first, available) in REPLAY_CLIENTS.items():
        for index in range(capped(counts, available)):
            client = first + index
            for light in pick(lights, index, full):
                for take in pick([1, 2], 0, full):
                    name = f"client{client:03d}_session01_webcam_authenticate_{light}_{take}.mov"
                    clip = ClipSpec("replay_attack", client, REPLAY_LIGHTS[light], 9, "live", take)
                    add(f"{split}/real/{name}", clip)
            for k, ((device, medium, kind), (species, take)) in enumerate(REPLAY_ATTACKS.items()):
                for light in pick(lights, index + k, full):
                    for support in pick(["fixed", "hand"], index + k, full):
                        name = (f"attack_{device}_client{client:03d}_session01_{medium}_{kind}_"
                                f"{light}.mov")  # fmt: skip
                        clip = ClipSpec("replay_attack", client, REPLAY_LIGHTS[light], 9, species,
                                        take + 2 * (support == "hand"))  # fmt: skip
                        add(f"{split}/attack/{support}/{name}", clip)
    return out


# ---------------------------------------------------------------------------------------------
# MSU-MFSD

#: The published split lists (client ids).
MSU_TEST = (1, 13, 14, 23, 24, 26, 28, 29, 30, 32, 33, 35, 36, 37, 39, 42, 48, 49, 50, 51)
MSU_TRAIN = (2, 3, 5, 6, 7, 8, 9, 11, 12, 21, 22, 34, 53, 54, 55)
MSU_DEVICES = {"android": (2, "mp4"), "laptop": (9, "mov")}
MSU_RENDER = {"printed_photo": "print", "ipad_video": "replay4", "iphone_video": "replay3"}


@LAYOUTS.register("msu_mfsd")
def msu_plan(counts: LayoutCounts) -> Plan:
    """``scene01/real|attack/...`` (Android .mp4, laptop .mov) and the two split lists naming
    the written clients; one device per client (cycled) unless the full grid is asked for."""
    out = Plan()
    for split, clients in (("train", MSU_TRAIN), ("test", MSU_TEST)):
        chosen = clients[: capped(counts, len(clients))]
        out.texts[f"{split}_sub_list.txt"] = "".join(f"{c:02d}\n" for c in chosen)
        for index, client in enumerate(chosen):
            for device in pick(list(MSU_DEVICES), index, counts.full_grid):
                camera, ext = MSU_DEVICES[device]
                rel = f"scene01/real/real_client{client:03d}_{device}_SD_scene01.{ext}"
                out.jobs.append(
                    Job("msu_mfsd", rel, ClipSpec("msu_mfsd", client, 1, camera, "live"))
                )
                for attack, species in MSU_RENDER.items():
                    name = f"attack_client{client:03d}_{device}_SD_{attack}_scene01.{ext}"
                    rel = f"scene01/attack/{name}"
                    clip = ClipSpec("msu_mfsd", client, 1, camera, species)
                    out.jobs.append(Job("msu_mfsd", rel, clip))
    return out
