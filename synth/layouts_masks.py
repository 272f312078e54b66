"""Synthetic 3DMAD, HKBU-MARs and CASIA-SURF 3DMask trees (layouts: ``protocols/adapters/masks.py``).

Rendering choices: 3DMAD's Kinect as the USB webcam (clip camera 7), HKBU-MARs' cameras 1-7 as
clip cameras 1-7 (ThatsMyFace masks as ``mask_hard``, the more lifelike REAL-f masks rendered as
``mask_silicone``), CASIA-SURF 3DMask's phone as camera 1; lighting = clip session.
"""

from __future__ import annotations

from protocols.layouts import SURF_DECORATIONS

from .clips import ClipSpec
from .plans import LAYOUTS, Job, Plan, capped, pick
from .sizes import LayoutCounts

MAD_SUBJECTS = 17
MAD_SHOTS = (1, 2, 3, 4, 5)


@LAYOUTS.register("3dmad")
def mad_plan(counts: LayoutCounts) -> Plan:
    """``session0S/Data/CC_0S_0N.hdf5``: every subject in sessions 1-2 (live) and 3 (mask);
    one shot per session (cycled) unless the full grid is asked for."""
    out = Plan()
    for index in range(capped(counts, MAD_SUBJECTS)):
        subject = index + 1
        for session, species in ((1, "live"), (2, "live"), (3, "mask_hard")):
            for shot in pick(list(MAD_SHOTS), index + session, counts.full_grid):
                rel = f"session{session:02d}/Data/{subject:02d}_{session:02d}_{shot:02d}.hdf5"
                clip = ClipSpec("3dmad", subject, session, 7, species, take=shot)
                out.jobs.append(Job("3dmad", rel, clip))
    return out


#: HKBU-MARs V2: subjects 1-6 wear ThatsMyFace masks, 7-12 REAL-f masks.
HKBU_SUBJECTS = {"ThatsMyFace": range(1, 7), "REAL-f": range(7, 13)}
HKBU_RENDER = {"ThatsMyFace": "mask_hard", "REAL-f": "mask_silicone"}
HKBU_CAMERAS = tuple(range(1, 8))
HKBU_LIGHTS = tuple(range(1, 7))


@LAYOUTS.register("hkbu_mars")
def hkbu_plan(counts: LayoutCounts) -> Plan:
    """``real/SS_CC_LL.avi`` and ``mask/<Maker>/SS_CC_LL.avi``: ``subjects`` per mask maker, each
    filmed live and masked; one camera and light per subject (cycled) unless the full grid."""
    out = Plan()
    for maker, people in HKBU_SUBJECTS.items():
        for index, subject in enumerate(people[: capped(counts, len(people))]):
            for camera in pick(list(HKBU_CAMERAS), index + subject, counts.full_grid):
                for light in pick(list(HKBU_LIGHTS), index, counts.full_grid):
                    name = f"{subject:02d}_{camera:02d}_{light:02d}.avi"
                    live = ClipSpec("hkbu_mars", subject, light, camera, "live")
                    out.jobs.append(Job("hkbu_mars", f"real/{name}", live))
                    mask = ClipSpec("hkbu_mars", subject, light, camera, HKBU_RENDER[maker])
                    out.jobs.append(Job("hkbu_mars", f"mask/{maker}/{name}", mask))
    return out


SURF_SUBJECTS = 48
SURF_LIGHTS = (1, 2, 3, 4, 5, 6)


@LAYOUTS.register("casia_surf_3dmask")
def surf_plan(counts: LayoutCounts) -> Plan:
    """``live/SSS_L.mp4`` and ``mask/SSS_D_L.mp4``: each subject live and with every mask
    decoration, one light per subject (cycled) unless the full grid is asked for."""
    out = Plan()
    for index in range(capped(counts, SURF_SUBJECTS)):
        subject = index + 1
        for light in pick(list(SURF_LIGHTS), index, counts.full_grid):
            clip = ClipSpec("casia_surf_3dmask", subject, light, 1, "live")
            out.jobs.append(Job("casia_surf_3dmask", f"live/{subject:03d}_{light}.mp4", clip))
            for decoration in SURF_DECORATIONS:
                rel = f"mask/{subject:03d}_{decoration}_{light}.mp4"
                clip = ClipSpec("casia_surf_3dmask", subject, light, 1, "mask_hard", decoration)
                out.jobs.append(Job("casia_surf_3dmask", rel, clip))
    return out
