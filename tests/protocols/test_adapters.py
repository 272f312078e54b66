"""The eight dataset adapters on synthetic trees in their layouts: the right manifest, decodable
videos, face boxes around the rendered eyes, strict errors on malformed trees, and the HDF5 path
of the frame reader (3DMAD)."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from protocols.datasets import (
    DATASETS,
    AnnotationError,
    DatasetLayoutError,
    load_manifest,
    read_face_boxes,
)
from protocols.layouts import eyes_to_box
from synth import generate
from synth.clips import render_clip
from synth.files import write_hdf5
from synth.layouts import plan
from synth.sizes import LAYOUT_DATASETS, LayoutCounts, SynthSize
from workloads.frames import VideoDecodeError, probe_frame_count, read_frames
from workloads.pipeline import PipelineConfig, preprocess_video

TINY = SynthSize(
    1, 1, 1, phones=(1,), sessions=(1,), n_frames=4, frame_size=32,
    layouts=tuple((d, LayoutCounts(2)) for d in LAYOUT_DATASETS),
)  # fmt: skip
ATTACK_TYPE = {
    "live": "live", "print1": "print", "print2": "print", "print": "print",
    "print_warped": "print", "print_cut": "print", "replay": "replay", "replay1": "replay",
    "replay2": "replay", "replay3": "replay", "replay4": "replay", "mobile_photo": "replay",
    "highdef_photo": "replay", "mobile_video": "replay", "highdef_video": "replay",
    "replay_ipad": "replay", "replay_iphone": "replay", "mask_half": "mask",
    "mask_silicone": "mask", "mask_transparent": "mask", "mask_paper": "mask",
    "mask_mannequin": "mask", "mask_hard": "mask", "mask_hard_realf": "mask",
    "makeup_obfuscation": "makeup", "makeup_impersonation": "makeup",
    "makeup_cosmetic": "makeup", "partial_funny_eye": "partial",
    "partial_paper_glasses": "partial", "partial_paper_eye": "partial",
    "partial_paper_mouth": "partial",
}  # fmt: skip
#: Instrument -> PAI species where a dataset's protocol pools instruments (else the same name).
PAI_OF = {
    "siw": {"print1": "print", "print2": "print", **{f"replay{i}": "replay" for i in range(1, 5)}},
    "siw_m": {"partial_paper_eye": "partial_paper", "partial_paper_mouth": "partial_paper"},
    "replay_attack": {
        "mobile_photo": "mobile", "mobile_video": "mobile",
        "highdef_photo": "highdef", "highdef_video": "highdef",
    },
}  # fmt: skip
#: Where each dataset's own annotation lives (the others get synthetic eye sidecars).
OWN_ANNOTATION = {
    "siw": lambda p: p.with_suffix(".face"),
    "siw_m": lambda p: p.with_suffix(".face"),
    "3dmad": lambda p: p,
}
#: A folder each layout cannot do without (relative to the dataset folder).
REQUIRED = {
    "siw": "Test",
    "siw_m": "Spoof/Paper",
    "casia_mfsd": "test_release",
    "replay_attack": "devel",
    "msu_mfsd": "scene01/attack",
    "3dmad": "session03",
    "hkbu_mars": "mask/REAL-f",
    "casia_surf_3dmask": "mask",
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("adapters")
    generate(out, TINY, seed=1, workers=1, datasets=LAYOUT_DATASETS)
    return out


@pytest.fixture
def copy_of(tree: Path, tmp_path: Path):
    def make(dataset: str) -> Path:
        shutil.copytree(tree / dataset, tmp_path / dataset)
        return tmp_path

    return make


def test_all_nine_datasets_are_registered() -> None:
    assert set(DATASETS.names()) == {"oulu_npu", *LAYOUT_DATASETS}


@pytest.mark.parametrize("dataset", LAYOUT_DATASETS)
def test_manifest_matches_what_was_written(tree: Path, dataset: str) -> None:
    m = load_manifest(dataset, tree)
    jobs = {str((tree / dataset / j.rel).resolve()): j for j in plan(TINY, dataset).jobs}
    assert set(m["path"]) == set(jobs) and len(m) == len(jobs)
    assert (m["dataset"] == dataset).all()
    assert (m["attack_type"] == m["instrument"].map(ATTACK_TYPE)).all()
    assert (m["pai"] == m["instrument"].map(lambda i: PAI_OF.get(dataset, {}).get(i, i))).all()
    assert (m["label"] == (m["pai"] == "live")).all()
    for _, row in m.iterrows():
        job = jobs[row["path"]]
        assert row["subject"] == job.clip.subject, row["video_id"]
        assert job.clip.attack_type == row["attack_type"]
        assert row["video_id"] == Path(job.rel).with_suffix("").as_posix()
        path = Path(row["path"])
        if dataset in OWN_ANNOTATION:
            assert row["annotation"] == str(OWN_ANNOTATION[dataset](path))
        elif dataset == "replay_attack":
            assert "/face-locations/" in row["annotation"]
        else:
            assert "/_synthetic_faces/" in row["annotation"]
        assert Path(row["annotation"]).is_file() and Path(row["depth"]).is_file()
    if dataset in ("siw_m", "3dmad", "hkbu_mars", "casia_surf_3dmask"):
        assert set(m["split"]) == {"test"}
    if dataset == "casia_mfsd":  # test folders 1-30 are people 21-50
        assert set(m.loc[m["split"] == "test", "subject"]) == {21, 22}
    if dataset == "replay_attack":  # the support is recoverable from the video id
        assert m.loc[m["pai"] != "live", "video_id"].str.contains("/attack/(?:fixed|hand)/").all()
        assert set(m["session"]) <= {1, 2} and set(m["device"]) == {"webcam"}


@pytest.mark.parametrize("dataset", LAYOUT_DATASETS)
def test_videos_decode_and_boxes_contain_the_rendered_eyes(tree: Path, dataset: str) -> None:
    m = load_manifest(dataset, tree)
    jobs = {str((tree / dataset / j.rel).resolve()): j for j in plan(TINY, dataset).jobs}
    for _, row in m.groupby("instrument").head(1).iterrows():
        frames = read_frames(row["path"])
        assert frames.shape == (TINY.n_frames, TINY.frame_size, TINY.frame_size, 3)
        clip = render_clip(jobs[row["path"]].clip, TINY.n_frames, TINY.frame_size, TINY.fps, 1)
        err = np.abs(frames.astype(int) - clip.frames[..., ::-1].astype(int)).mean()
        assert err < 10, f"{row['video_id']}: decoded frames differ from the render by {err}"
        boxes = read_face_boxes(dataset, row["annotation"])
        assert sorted(boxes) == list(range(TINY.n_frames))
        for i, (lx, ly, rx, ry) in enumerate(clip.eyes):
            x, y, w, h = boxes[i]
            for ex, ey in ((lx, ly), (rx, ry)):
                assert x <= ex <= x + w and y <= ey <= y + h, (row["video_id"], i)


def test_pipeline_reads_3dmad_hdf5_with_its_eye_annotation(tree: Path) -> None:
    row = load_manifest("3dmad", tree).iloc[0].to_dict()
    cfg = PipelineConfig(frames_per_video=2, input_size=16, map_size=4, rank_k=2)
    images, maps = preprocess_video(row, cfg)
    assert images.shape == (2, 3, 16, 16) and maps.shape == (2, 4, 4)


# ---------------------------------------------------------------------------------------------
# Malformed trees


def _first_video(root: Path) -> Path:
    media = (".mov", ".mp4", ".avi", ".hdf5")
    return next(
        p for p in sorted(root.rglob("*"))
        if p.suffix in media and not any(part.startswith("_") for part in p.parts)
    )  # fmt: skip


@pytest.mark.parametrize("dataset", LAYOUT_DATASETS)
def test_a_misnamed_video_is_named_with_the_expected_pattern(copy_of, dataset: str) -> None:
    root = copy_of(dataset)
    video = _first_video(root / dataset)
    video.rename(video.with_name("holiday" + video.suffix))
    with pytest.raises(DatasetLayoutError) as e:
        load_manifest(dataset, root)
    assert f"holiday{video.suffix}" in str(e.value) and "expected" in str(e.value)


@pytest.mark.parametrize("dataset", LAYOUT_DATASETS)
def test_a_missing_folder_is_named(copy_of, dataset: str) -> None:
    root = copy_of(dataset)
    shutil.rmtree(root / dataset / REQUIRED[dataset])
    with pytest.raises(DatasetLayoutError, match="expected") as e:
        load_manifest(dataset, root)
    assert str(root / dataset / REQUIRED[dataset]) in str(e.value)


@pytest.mark.parametrize("dataset", LAYOUT_DATASETS)
def test_an_empty_dataset_folder_is_an_error(tmp_path: Path, dataset: str) -> None:
    (tmp_path / dataset).mkdir()
    with pytest.raises(DatasetLayoutError, match="expected") as e:
        load_manifest(dataset, tmp_path)
    assert dataset in str(e.value)


@pytest.mark.parametrize("dataset", LAYOUT_DATASETS)
def test_a_video_in_the_wrong_place_is_not_skipped(copy_of, dataset: str) -> None:
    root = copy_of(dataset)
    video = _first_video(root / dataset)
    shutil.copy(video, root / dataset / video.name)
    with pytest.raises(DatasetLayoutError, match="unexpected file"):
        load_manifest(dataset, root)


@pytest.mark.parametrize(
    ("dataset", "pattern"),
    [("siw", "*.face"), ("siw_m", "*.face"), ("replay_attack", "face-locations/**/*.face")],
)
def test_a_missing_annotation_is_named(copy_of, dataset: str, pattern: str) -> None:
    root = copy_of(dataset)
    face = sorted((root / dataset).glob(pattern if "/" in pattern else "**/" + pattern))[0]
    face.unlink()
    with pytest.raises(DatasetLayoutError) as e:
        load_manifest(dataset, root)
    assert face.stem in str(e.value) and ".face" in str(e.value)


def test_an_annotation_without_its_video_is_an_error(copy_of) -> None:
    root = copy_of("siw")
    video = _first_video(root / "siw")
    video.unlink()
    with pytest.raises(DatasetLayoutError, match="has no video beside it"):
        load_manifest("siw", root)


def test_siw_video_in_another_subjects_folder(copy_of) -> None:
    root = copy_of("siw")
    video = _first_video(root / "siw")
    subject = video.parent.name
    other = video.with_name(video.name.replace(subject, "164", 1))
    video.rename(other)
    video.with_suffix(".face").rename(other.with_suffix(".face"))
    with pytest.raises(DatasetLayoutError, match=f"of subject {subject} only"):
        load_manifest("siw", root)


def test_replay_client_in_two_splits(copy_of) -> None:
    root = copy_of("replay_attack")
    ra = root / "replay_attack"
    src = sorted((ra / "train" / "real").glob("*.mov"))[0]
    client = src.name.split("_")[0]
    for base in (ra, ra / "face-locations"):
        for f in (base / "train" / "real").glob(f"{client}_*"):
            shutil.copy(f, base / "test" / "real" / f.name)
    with pytest.raises(DatasetLayoutError, match="subject-disjoint"):
        load_manifest("replay_attack", root)


def test_msu_client_in_no_split_list(copy_of) -> None:
    root = copy_of("msu_mfsd")
    lst = root / "msu_mfsd" / "train_sub_list.txt"
    first, *rest = lst.read_text().split()
    lst.write_text("\n".join(rest) + "\n")
    with pytest.raises(DatasetLayoutError, match=f"client {int(first)} is in neither"):
        load_manifest("msu_mfsd", root)


# ---------------------------------------------------------------------------------------------
# Annotation readers and the HDF5 frame reader


def test_face_readers_reject_malformed_lines(tmp_path: Path) -> None:
    siw = tmp_path / "a.face"
    siw.write_text("1 2 30 40\n0 0 0 0\n5 6 7\n")
    with pytest.raises(AnnotationError, match="line 3"):
        read_face_boxes("siw", siw)
    siw.write_text("1 2 30 40\n0 0 0 0\n")
    assert read_face_boxes("siw", siw) == {0: (1, 2, 29, 38)}  # frame 1: no face
    replay = tmp_path / "b.face"
    replay.write_text("0 1 2 3 4\n0 1 2 3 4\n")
    with pytest.raises(AnnotationError, match="line 2"):
        read_face_boxes("replay_attack", replay)


def _hdf5(tmp_path: Path, n: int = 5) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, (n, 12, 16, 3), dtype=np.uint8)
    eyes = np.tile([4.0, 5.0, 10.0, 5.0], (n, 1))
    path = tmp_path / "01_01_01.hdf5"
    write_hdf5(path, bgr, np.zeros((n, 12, 16), np.uint8), eyes, atomic=True)
    return path, bgr[..., ::-1]


def test_hdf5_frames_round_trip(tmp_path: Path) -> None:
    path, rgb = _hdf5(tmp_path)
    assert probe_frame_count(path) == 5
    assert np.array_equal(read_frames(path), rgb)
    assert np.array_equal(read_frames(path, [4, 1, 4]), rgb[[4, 1, 4]])
    with pytest.raises(VideoDecodeError, match="asked for index 9"):
        read_frames(path, [9])
    assert read_face_boxes("3dmad", path)[0] == eyes_to_box(4, 5, 10, 5) == (0, 1, 13, 13)


def test_truncated_or_wrong_hdf5_names_the_file(tmp_path: Path) -> None:
    path, _ = _hdf5(tmp_path)
    data = path.read_bytes()
    cut = tmp_path / "02_01_01.hdf5"
    cut.write_bytes(data[: len(data) // 2])
    for fn in (read_frames, probe_frame_count):
        with pytest.raises(VideoDecodeError) as e:
            fn(cut)
        assert str(cut) in str(e.value) and "HDF5" in str(e.value)
    with pytest.raises(AnnotationError, match=str(cut)):
        read_face_boxes("3dmad", cut)
    other = tmp_path / "03_01_01.hdf5"
    with h5py.File(other, "w") as fh:
        fh.create_dataset("Depth_Data", data=np.zeros((2, 4, 4), np.uint16))
    with pytest.raises(VideoDecodeError, match="no Color_Data .* holds Depth_Data"):
        read_frames(other)
    with pytest.raises(AnnotationError, match="no Eye_Pos"):
        read_face_boxes("3dmad", other)
