"""The eight non-OULU synthetic layouts: what each size plans (every species, split and fold a
protocol needs), the published totals of the full grids, the writers (codecs, annotation formats,
determinism), dataset selection in ``generate`` and ``orchestrate data synth --datasets``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from protocols.datasets import load_manifest
from synth import SYNTH_SIZES, generate
from synth.files import write_video
from synth.layouts import annotation_text, plan
from synth.plans import LAYOUTS
from synth.sizes import LAYOUT_DATASETS, LayoutCounts, SynthSize
from workloads.frames import read_frames

#: The instruments each dataset must have (the finest unit a protocol holds out), and its splits.
SPECIES = {
    "siw": {"live", "print1", "print2", "replay1", "replay2", "replay3", "replay4"},
    "siw_m": {
        "live", "replay", "print", "mask_half", "mask_silicone", "mask_transparent",
        "mask_paper", "mask_mannequin", "makeup_obfuscation", "makeup_impersonation",
        "makeup_cosmetic", "partial_funny_eye", "partial_paper_glasses", "partial_paper_eye",
        "partial_paper_mouth",
    },
    "casia_mfsd": {"live", "print_warped", "print_cut", "replay"},
    "replay_attack": {
        "live", "print", "mobile_photo", "highdef_photo", "mobile_video", "highdef_video"
    },
    "msu_mfsd": {"live", "print", "replay_ipad", "replay_iphone"},
    "3dmad": {"live", "mask_hard"},
    "hkbu_mars": {"live", "mask_hard", "mask_hard_realf"},
    "casia_surf_3dmask": {"live", "mask_hard"},
}  # fmt: skip
SPLITS = {
    "siw": {"train", "test"},
    "casia_mfsd": {"train", "test"},
    "replay_attack": {"train", "dev", "test"},
    "msu_mfsd": {"train", "test"},
}
#: Published video counts the full grids reproduce (Replay-Attack without its enrolment set).
PUBLISHED = {
    "casia_mfsd": 600,
    "replay_attack": 1200,
    "msu_mfsd": 280,
    "3dmad": 255,
    "hkbu_mars": 1008,
    "casia_surf_3dmask": 1152,
}


def _touch_tree(out: Path, size: SynthSize, dataset: str) -> None:
    """Empty files at every planned path: the adapters read names, not pixels."""
    p = plan(size, dataset)
    for job in p.jobs:
        for rel in (job.rel, job.annotation_rel):
            if rel:
                (out / dataset / rel).parent.mkdir(parents=True, exist_ok=True)
                (out / dataset / rel).touch()
    for rel, text in p.texts.items():
        (out / dataset / rel).write_text(text)


def test_every_layout_is_registered() -> None:
    assert set(LAYOUTS.names()) == set(LAYOUT_DATASETS) == set(SPECIES)
    for size in SYNTH_SIZES.values():
        assert {name for name, _ in size.layouts} == set(LAYOUT_DATASETS)


@pytest.mark.parametrize("size_name", ["smoke", "quick"])
@pytest.mark.parametrize("dataset", LAYOUT_DATASETS)
def test_planned_tree_has_every_species_in_every_split(
    tmp_path: Path, dataset: str, size_name: str
) -> None:
    _touch_tree(tmp_path, SYNTH_SIZES[size_name], dataset)
    m = load_manifest(dataset, tmp_path)
    assert set(m["instrument"]) == SPECIES[dataset]
    assert set(m["split"]) == SPLITS.get(dataset, {"test"})
    for split, part in m.groupby("split"):
        assert set(part["instrument"]) == SPECIES[dataset], f"{dataset} {split} lacks species"
    per_species = m.groupby("instrument")["subject"].nunique()
    assert per_species.min() >= 2, per_species.to_dict()
    # the planned ClipSpec renders the attack type the manifest says
    clips = {
        str((tmp_path / dataset / j.rel).resolve()): j.clip
        for j in plan(SYNTH_SIZES[size_name], dataset).jobs
    }
    for _, row in m.iterrows():
        assert clips[row["path"]].attack_type == row["attack_type"], row["video_id"]


def test_smoke_stays_small() -> None:
    """OULU smoke is 540 videos; the other eight together stay well under half of that."""
    total = sum(len(plan(SYNTH_SIZES["smoke"], d).jobs) for d in LAYOUT_DATASETS)
    assert 100 <= total <= 250


@pytest.mark.parametrize("dataset", sorted(PUBLISHED))
def test_full_grid_matches_the_published_video_count(dataset: str) -> None:
    assert len(plan(SYNTH_SIZES["paper"], dataset).jobs) == PUBLISHED[dataset]


def test_subject_counts_are_capped_and_unique_per_person(tmp_path: Path) -> None:
    size = SynthSize(1, 1, 1, layouts=(("casia_mfsd", LayoutCounts(100)),))
    _touch_tree(tmp_path, size, "casia_mfsd")
    m = load_manifest("casia_mfsd", tmp_path)
    assert sorted(m["subject"].unique()) == list(range(1, 51))  # test folders 1-30 = people 21-50
    assert m.groupby("subject")["split"].nunique().max() == 1
    with pytest.raises(ValueError, match="subjects"):
        LayoutCounts(0)


@pytest.mark.parametrize("suffix", [".avi", ".mov", ".mp4"])
def test_written_videos_decode(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(0)
    frames = np.repeat(rng.integers(0, 255, (3, 8, 8, 3), dtype=np.uint8), 4, 1).repeat(4, 2)
    path = tmp_path / f"clip{suffix}"
    write_video(path, frames, 30.0)
    back = read_frames(path)
    assert back.shape == frames.shape
    err = np.abs(back.astype(int) - frames[..., ::-1].astype(int)).mean()  # BGR in, RGB out
    assert err < 12, err
    assert not list(tmp_path.glob(".*"))  # the temp name is gone
    with pytest.raises(ValueError, match=r"\.mkv"):
        write_video(tmp_path / "clip.mkv", frames, 30.0)


def test_annotation_formats() -> None:
    eyes = np.array([[10, 20, 30, 20], [11, 21, 31, 21]])
    siw = annotation_text("siw_face", eyes).splitlines()
    replay = annotation_text("replay_face", eyes).splitlines()
    assert len(siw) == len(replay) == 2
    x1, y1, x2, y2 = map(int, siw[0].split())
    frame, x, y, w, h = map(int, replay[1].split())
    assert (frame, x2 - x1, y2 - y1) == (1, 44, 44)  # side 2.2 x the inter-ocular distance
    assert x1 < 10 and x2 > 30 and y1 < 20 < y2
    assert (w, h) == (44, 44)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, SynthSize]:
    size = SynthSize(
        1, 1, 1, phones=(1,), sessions=(1,), n_frames=3, frame_size=32,
        layouts=(("casia_surf_3dmask", LayoutCounts(1)), ("3dmad", LayoutCounts(1))),
    )  # fmt: skip
    out = tmp_path_factory.mktemp("tiny_layouts")
    generate(out, size, seed=3, workers=1)
    return out, size


def test_default_generate_writes_oulu_and_the_sizes_layouts(tiny) -> None:
    out, _ = tiny
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [
        "3dmad", "casia_surf_3dmask", "oulu_npu"
    ]  # fmt: skip
    readme = (out / "README.txt").read_text()
    assert "SYNTHETIC" in readme and "3dmad/: 3DMAD" in readme and "oulu_npu/" in readme
    assert "siw/" not in readme  # only what was written is listed
    m = load_manifest("casia_surf_3dmask", out)
    assert len(m) == 4 and (m["depth"] != "").all() and (m["annotation"] != "").all()


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_generation_is_deterministic_and_atomicity_does_not_change_bytes(tiny, tmp_path) -> None:
    out, size = tiny
    names = ["3dmad", "casia_surf_3dmask"]  # HDF5 and mp4v
    generate(tmp_path, size, seed=3, workers=1, atomic_files=False, datasets=names)
    for name in names:
        assert _digests(tmp_path / name) == _digests(out / name)
    generate(tmp_path / "other", size, seed=4, workers=1, datasets=["3dmad"])
    assert _digests(tmp_path / "other" / "3dmad") != _digests(out / "3dmad")


def test_dataset_selection_errors(tmp_path: Path) -> None:
    tiny = SynthSize(1, 1, 1, phones=(1,), sessions=(1,), n_frames=2, frame_size=16)
    with pytest.raises(ValueError, match="valid: oulu_npu, siw"):
        generate(tmp_path, tiny, datasets=["siw", "nope"])
    with pytest.raises(ValueError, match="no counts for"):
        generate(tmp_path, tiny, datasets=["siw"])
    assert not (tmp_path / "siw").exists()


def test_cli_data_synth_datasets_option(tmp_path: Path) -> None:
    from orchestrator.cli import app

    runner = CliRunner()
    res = runner.invoke(
        app, ["data", "synth", "--out", str(tmp_path), "--datasets", "casia_surf_3dmask"]
    )
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.txt", "casia_surf_3dmask"]
    assert len(load_manifest("casia_surf_3dmask", tmp_path)) == 8
    bad = runner.invoke(app, ["data", "synth", "--out", str(tmp_path), "--datasets", "siw,bogus"])
    assert bad.exit_code == 2 and "bogus" in bad.output
