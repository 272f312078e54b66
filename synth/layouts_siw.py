"""Synthetic SiW and SiW-M trees (layouts and naming: ``protocols/adapters/siw.py``)."""

from __future__ import annotations

from protocols.layouts import SIWM_FOLDERS

from .clips import ClipSpec
from .plans import LAYOUTS, Job, Plan, capped, pick
from .sizes import LayoutCounts

#: SiW's published subjects per split; our synthetic ids: train 1-90, test 91-165.
SIW_SUBJECTS = {"Train": (1, 90), "Test": (91, 75)}
#: SiW sensors: 1 a high-quality camera, 2 a USB webcam (clip cameras 8 and 7).
SIW_CAMERAS = {1: 8, 2: 7}


def _siw_cells(index: int, full: bool) -> list[tuple[int, int, int, int, str]]:
    """(sensor, type, medium, session, species) of one subject's videos.

    Per (sensor, session): the live video(s), both prints and all four replays, so every medium
    of SiW's P2 and P3 is there for every subject. Full grid: both sensors and sessions and live
    media 1-2; otherwise one sensor and one session (cycled by subject) and live medium 1.
    """
    cells = []
    for sensor in pick([1, 2], index, full):
        for session in pick([1, 2], index, full):
            cells += [(sensor, 1, m, session, "live") for m in ([1, 2] if full else [1])]
            cells += [(sensor, 2, m, session, f"print{m}") for m in (1, 2)]
            cells += [(sensor, 3, m, session, f"replay{m}") for m in (1, 2, 3, 4)]
    return cells


@LAYOUTS.register("siw")
def siw_plan(counts: LayoutCounts) -> Plan:
    """``Train|Test/live|spoof/<SSS>/SSS-sensor-type-medium-session.mov`` + ``.face``."""
    out = Plan()
    for split, (first, available) in SIW_SUBJECTS.items():
        for index in range(capped(counts, available)):
            subject = first + index
            for sensor, type_id, medium, session, species in _siw_cells(index, counts.full_grid):
                kind = "live" if type_id == 1 else "spoof"
                name = f"{subject:03d}-{sensor}-{type_id}-{medium}-{session}"
                stem = f"{split}/{kind}/{subject:03d}/{name}"
                clip = ClipSpec("siw", subject, session, SIW_CAMERAS[sensor], species, take=medium)
                out.jobs.append(Job("siw", stem + ".mov", clip, "siw_face", stem + ".face"))
    return out


#: Full grid: subjects per attack-type folder and live subjects (SiW-M has ~30-100 videos per
#: type and 660 live videos; we use a round, smaller number).
SIWM_FULL = {"spoof": 40, "live": 160}


@LAYOUTS.register("siw_m")
def siw_m_plan(counts: LayoutCounts) -> Plan:
    """``Live/Live_<SSS>_<take>.mov`` and ``Spoof/<Type>/<Prefix>_<SSS>_<take>.mov`` + ``.face``.

    ``subjects`` per attack-type folder; twice as many live subjects. Type folder ``i`` films the
    subjects after those of folder ``i - 1`` (cycling over the live ones), so every type has
    ``subjects`` different people and people recur across types, as in the release.
    """
    n = capped(counts, SIWM_FULL["spoof"])
    n_live = max(2 * n, n + 1) if not counts.full_grid else SIWM_FULL["live"]
    out = Plan()
    for i, (rel, (prefix, species, _)) in enumerate(SIWM_FOLDERS.items()):
        subjects = (
            range(1, n_live + 1)
            if species == "live"
            else [1 + (i * n + j) % n_live for j in range(n)]
        )
        for subject in subjects:
            stem = f"{rel}/{prefix}_{subject:03d}_1"
            clip = ClipSpec("siw_m", subject, 1, 8, species, take=i)
            out.jobs.append(Job("siw_m", stem + ".mov", clip, "siw_face", stem + ".face"))
    return out
