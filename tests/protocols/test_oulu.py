"""OULU-NPU adapter, annotations and protocols P1-P4 on tiny synthetic trees."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
import pytest

from protocols.datasets import (
    ANNOTATION_READERS,
    DATASETS,
    AnnotationError,
    DatasetLayoutError,
    load_manifest,
    read_face_boxes,
)
from protocols.layouts import eyes_to_box
from protocols.manifest import MANIFEST_COLUMNS, ManifestError, empty_manifest, validate_manifest
from protocols.protocols import PROTOCOLS, Fold, protocol_summary

INSTRUMENTS = {1: "live", 2: "print1", 3: "print2", 4: "replay1", 5: "replay2"}
#: The OULU-NPU protocol's two PAIs: the printers pooled, the displays pooled.
SPECIES = {1: "live", 2: "print", 3: "print", 4: "display", 5: "display"}
TYPES = {1: "live", 2: "print", 3: "print", 4: "replay", 5: "replay"}
ALL = {"sessions": {1, 2, 3}, "codes": {1, 2, 3, 4, 5}}

SPLIT_FOLDER = {"train": "Train_files", "dev": "Dev_files", "test": "Test_files"}
#: Two users per split, all phones, sessions and file codes: 540 videos.
FULL_USERS = {"train": (1, 2), "dev": (21, 22), "test": (36, 37)}


def write_oulu_tree(
    data_root: Path,
    users: dict[str, Iterable[int]] = FULL_USERS,
    phones: Iterable[int] = range(1, 7),
    sessions: Iterable[int] = (1, 2, 3),
    codes: Iterable[int] = (1, 2, 3, 4, 5),
    annotate: bool = True,
) -> Path:
    """Write ``data_root/oulu_npu/<Split>_files/P_S_UU_F.avi`` (+ ``.txt``); return data_root."""
    root = data_root / "oulu_npu"
    for split, split_users in users.items():
        folder = root / SPLIT_FOLDER[split]
        folder.mkdir(parents=True, exist_ok=True)
        for p, s, u, f in itertools.product(phones, sessions, split_users, codes):
            stem = f"{p}_{s}_{u:02d}_{f}"
            (folder / f"{stem}.avi").write_bytes(b"")
            if annotate:
                (folder / f"{stem}.txt").write_text("0,100,120,140,120\n1,102,121,142,121\n")
    return data_root


@pytest.fixture(scope="session")
def oulu_full(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with a complete (2 users per split) OULU-NPU tree; read-only for tests."""
    return write_oulu_tree(tmp_path_factory.mktemp("oulu_full"))


@pytest.fixture
def oulu_tree() -> Callable[..., Path]:
    return write_oulu_tree


# ---------------------------------------------------------------------------------------------
# Manifest


def test_manifest_of_synthetic_tree(oulu_full: Path) -> None:
    m = load_manifest("oulu_npu", oulu_full)
    assert list(m.columns) == MANIFEST_COLUMNS
    assert len(m) == 6 * 6 * 3 * 5
    assert m["video_id"].is_unique
    for row in m.sample(40, random_state=0).itertuples():
        folder, stem = row.video_id.split("/")
        phone, session, user, code = (int(x) for x in stem.split("_"))
        assert Path(row.path) == (oulu_full / "oulu_npu" / folder / f"{stem}.avi").resolve()
        assert (row.device, row.session, row.subject) == (str(phone), session, user)
        assert (row.pai, row.instrument) == (SPECIES[code], INSTRUMENTS[code])
        assert (row.attack_type, row.label) == (TYPES[code], int(code == 1))
        assert (
            row.split == {"Train_files": "train", "Dev_files": "dev", "Test_files": "test"}[folder]
        )
        assert row.annotation == str(Path(row.path).with_suffix(".txt"))
        assert row.depth == ""
    for split, users in FULL_USERS.items():
        assert set(m.loc[m["split"] == split, "subject"]) == set(users)
    assert set(m["device"]) == {"1", "2", "3", "4", "5", "6"}
    assert m["instrument"].value_counts().to_dict() == {s: 108 for s in INSTRUMENTS.values()}
    assert m["pai"].value_counts().to_dict() == {"live": 108, "print": 216, "display": 216}
    assert m["label"].sum() == 108


def test_missing_annotation_and_depth_sidecar(tmp_path: Path, oulu_tree) -> None:
    oulu_tree(tmp_path, users={"train": [3], "test": [40]}, phones=[2], sessions=[1], codes=[1, 4])
    root = tmp_path / "oulu_npu"
    (root / "Train_files" / "2_1_03_4.txt").unlink()
    depth = root / "_synthetic_depth" / "Train_files" / "2_1_03_1.npz"
    depth.parent.mkdir(parents=True)
    depth.write_bytes(b"")
    (root / "Protocols").mkdir()  # other folders beside the split folders are not videos
    m = load_manifest("oulu_npu", tmp_path).set_index("video_id")
    assert len(m) == 4 and set(m["split"]) == {"train", "test"}  # Dev_files may be absent
    assert m.loc["Train_files/2_1_03_4", "annotation"] == ""
    assert m.loc["Train_files/2_1_03_1", "annotation"].endswith("2_1_03_1.txt")
    assert m.loc["Train_files/2_1_03_1", "depth"] == str(depth.resolve())
    assert m.loc["Test_files/2_1_40_1", "depth"] == ""


@pytest.mark.parametrize(
    "name", ["1_1_01_6.avi", "7_1_01_1.avi", "1_4_01_1.avi", "1_1_1_1.avi", "1_1_00_1.avi",
             "1_1_01_1.mp4", "notes.md", "1_1_01_1.AVI"]
)  # fmt: skip
def test_misnamed_file_is_an_error_naming_it(tmp_path: Path, oulu_tree, name: str) -> None:
    oulu_tree(tmp_path, users={"train": [1]}, phones=[1], sessions=[1], codes=[1])
    (tmp_path / "oulu_npu" / "Train_files" / name).write_bytes(b"")
    with pytest.raises(DatasetLayoutError, match="Phone_Session_User_File.avi") as info:
        load_manifest("oulu_npu", tmp_path)
    assert name in str(info.value)


def test_orphan_annotation_and_subfolder_are_errors(tmp_path: Path, oulu_tree) -> None:
    oulu_tree(tmp_path, users={"dev": [21]}, phones=[1], sessions=[1], codes=[1])
    extra = tmp_path / "oulu_npu" / "Dev_files" / "1_1_21_2.txt"
    extra.write_text("0,1,1,5,1\n")
    with pytest.raises(DatasetLayoutError, match="1_1_21_2.txt: annotation without a video"):
        load_manifest("oulu_npu", tmp_path)
    extra.unlink()
    (tmp_path / "oulu_npu" / "Dev_files" / "faces").mkdir()
    with pytest.raises(DatasetLayoutError, match="faces: unexpected folder"):
        load_manifest("oulu_npu", tmp_path)


@pytest.mark.parametrize(
    "split, user, right",
    [("train", 21, "dev"), ("dev", 20, "train"), ("dev", 36, "test"), ("test", 5, "train")],
)
def test_user_in_wrong_split(tmp_path: Path, oulu_tree, split: str, user: int, right: str) -> None:
    oulu_tree(tmp_path, users={split: [user]}, phones=[3], sessions=[2], codes=[5])
    with pytest.raises(DatasetLayoutError, match=f"user {user:02d} does not belong") as info:
        load_manifest("oulu_npu", tmp_path)
    assert f"3_2_{user:02d}_5.avi" in str(info.value)
    assert f"in the {right} split" in str(info.value)


def test_missing_dataset_folder(tmp_path: Path) -> None:
    (tmp_path / "siw").mkdir()
    (tmp_path / "OULU-NPU").mkdir()
    with pytest.raises(DatasetLayoutError) as info:
        load_manifest("oulu_npu", tmp_path)
    msg = str(info.value)
    assert "'oulu_npu' not found" in msg and "Train_files/" in msg
    assert "OULU-NPU/, siw/" in msg  # what was found


def test_no_split_folders_and_no_videos(tmp_path: Path) -> None:
    root = tmp_path / "oulu_npu"
    (root / "train").mkdir(parents=True)
    (root / "readme.txt").write_text("")
    with pytest.raises(DatasetLayoutError, match=r"no split folders .*found: readme.txt, train/"):
        load_manifest("oulu_npu", tmp_path)
    (root / "Test_files").mkdir()
    with pytest.raises(DatasetLayoutError, match="no videos in Test_files/"):
        load_manifest("oulu_npu", tmp_path)


def test_unknown_dataset_lists_valid_names(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="oulu_npu"):
        load_manifest("oulu", tmp_path)
    assert "oulu_npu" in DATASETS and "oulu_npu" in ANNOTATION_READERS


def test_validate_manifest() -> None:
    empty = empty_manifest()
    assert list(empty.columns) == MANIFEST_COLUMNS and len(validate_manifest(empty)) == 0
    row = dict(
        dataset="oulu_npu", video_id="Train_files/1_1_01_2", path="/x.avi", subject=1, session=1,
        device="1", pai="print", instrument="print1", attack_type="print", label=0,
        split="train", annotation="", depth="",
    )  # fmt: skip
    validate_manifest(pd.DataFrame([row]))
    bad = [
        ({**row, "label": 1}, "label inconsistent with attack_type"),
        ({**row, "pai": "live"}, "label inconsistent with pai"),
        ({**row, "instrument": "live"}, "label inconsistent with instrument"),
        ({**row, "instrument": ""}, "empty instrument"),
        ({**row, "attack_type": "hologram"}, "attack_type not in"),
        ({**row, "split": "val"}, "split not in"),
        ({**row, "subject": "1"}, "'subject' must be integer"),
        ({**row, "device": 1}, "'device' must hold strings"),
    ]
    for values, pattern in bad:
        with pytest.raises(ManifestError, match=pattern):
            validate_manifest(pd.DataFrame([values]))
    with pytest.raises(ManifestError, match="duplicate video_id"):
        validate_manifest(pd.DataFrame([row, row]))
    with pytest.raises(ManifestError, match=r"missing \['depth'\]"):
        validate_manifest(pd.DataFrame([row]).drop(columns="depth"))


# ---------------------------------------------------------------------------------------------
# Face annotations


def test_eyes_to_box() -> None:
    assert eyes_to_box(100, 120, 140, 120) == (76, 96, 88, 88)  # d=40: centre (120, 140)
    x, y, w, h = eyes_to_box(0, 0, 30, 40)  # d=50: centre (15, 45), side 110
    assert (x, y, w, h) == (-40, -10, 110, 110)
    lx, ly, rx, ry = 200.0, 300.0, 260.0, 310.0
    d = math.dist((lx, ly), (rx, ry))
    x, y, w, h = eyes_to_box(lx, ly, rx, ry)
    assert w == h == round(2.2 * d)
    assert x + w / 2 == pytest.approx((lx + rx) / 2, abs=1)
    assert y + h / 2 == pytest.approx((ly + ry) / 2 + 0.5 * d, abs=1)


def test_read_face_boxes(tmp_path: Path) -> None:
    ann = tmp_path / "1_1_01_1.txt"
    ann.write_text("0,100,120,140,120\n1, 0, 0, 30, 40\n\n2,5,5,5,5\n")
    assert read_face_boxes("oulu_npu", ann) == {0: (76, 96, 88, 88), 1: (-40, -10, 110, 110)}
    assert read_face_boxes("oulu_npu", "") == {}
    with pytest.raises(AnnotationError, match="not found"):
        read_face_boxes("oulu_npu", tmp_path / "nope.txt")
    bad = [("0,1,2,3,4\n1,2,3,4\n", 2), ("0,a,2,3,4\n", 1), ("0,1,2,3,4\n0,1,2,5,4", 2)]
    for text, lineno in bad:
        ann.write_text(text)
        with pytest.raises(AnnotationError, match=f"1_1_01_1.txt: line {lineno}"):
            read_face_boxes("oulu_npu", ann)
    with pytest.raises(KeyError, match="oulu_npu"):
        read_face_boxes("casia", ann)


# ---------------------------------------------------------------------------------------------
# Protocols

RULES = {
    "oulu_npu_p1": dict(folds=1, train_sessions={1, 2}, test_sessions={3}, lopo=False),
    "oulu_npu_p2": dict(folds=1, train_codes={1, 2, 4}, test_codes={1, 3, 5}, lopo=False),
    "oulu_npu_p3": dict(folds=6, lopo=True),
    "oulu_npu_p4": dict(
        folds=6,
        train_sessions={1, 2},
        test_sessions={3},
        train_codes={1, 2, 4},
        test_codes={1, 3, 5},
        lopo=True,
    ),
}


def keys(df: pd.DataFrame) -> set[tuple[int, int, int, int]]:
    """(phone, session, user, file code) parsed from the video ids."""
    return {tuple(int(x) for x in v.split("/")[1].split("_")) for v in df["video_id"]}


def expected(users, phones, sessions, codes) -> set[tuple[int, int, int, int]]:
    return set(itertools.product(phones, sessions, users, codes))


@pytest.mark.parametrize("name", sorted(RULES))
def test_oulu_protocol_folds_follow_the_rules(oulu_full: Path, name: str) -> None:
    rule = RULES[name]
    proto = PROTOCOLS.get(name)
    assert proto.name == name and proto.datasets == ("oulu_npu",) and proto.description
    folds = proto.folds(oulu_full)
    assert len(folds) == rule["folds"]
    prefix = name.rsplit("_", 1)[1]
    if rule["lopo"]:
        assert [f.name for f in folds] == [f"{prefix}_{i}" for i in range(1, 7)]
    else:
        assert [f.name for f in folds] == [prefix]
    tr_s = rule.get("train_sessions", ALL["sessions"])
    te_s = rule.get("test_sessions", ALL["sessions"])
    tr_c = rule.get("train_codes", ALL["codes"])
    te_c = rule.get("test_codes", ALL["codes"])
    for i, fold in enumerate(folds, start=1):
        assert isinstance(fold, Fold) and fold.threshold_policy == "dev_eer"
        test_phones = {i} if rule["lopo"] else set(range(1, 7))
        train_phones = set(range(1, 7)) - {i} if rule["lopo"] else set(range(1, 7))
        assert keys(fold.train) == expected(FULL_USERS["train"], train_phones, tr_s, tr_c)
        assert keys(fold.dev) == expected(FULL_USERS["dev"], train_phones, tr_s, tr_c)
        assert keys(fold.test) == expected(FULL_USERS["test"], test_phones, te_s, te_c)
        assert set(fold.train["split"]) == {"train"} and set(fold.dev["split"]) == {"dev"}
        assert set(fold.test["split"]) == {"test"}
        assert fold.train["subject"].between(1, 20).all()
        assert fold.dev["subject"].between(21, 35).all()
        assert fold.test["subject"].between(36, 55).all()
        assert not set(fold.test["subject"]) & set(fold.train["subject"])
        if rule["lopo"]:
            assert str(i) not in set(fold.train["device"]) | set(fold.dev["device"])
            assert set(fold.test["device"]) == {str(i)}
        for df in (fold.train, fold.dev, fold.test):
            assert list(df.columns) == MANIFEST_COLUMNS and list(df.index) == list(range(len(df)))


@pytest.mark.parametrize("name", ["oulu_npu_p2", "oulu_npu_p4"])
def test_p2_p4_hold_out_one_instrument_of_each_pai(oulu_full: Path, name: str) -> None:
    for fold in PROTOCOLS.get(name).folds(oulu_full):
        for df in (fold.train, fold.dev):
            assert set(df["instrument"]) == {"live", "print1", "replay1"}
        assert set(fold.test["instrument"]) == {"live", "print2", "replay2"}
        for df in (fold.train, fold.dev, fold.test):  # the same two PAIs on both sides
            assert set(df["pai"]) == {"live", "print", "display"}


def test_protocol_summary_shape(oulu_full: Path) -> None:
    folds = PROTOCOLS.get("oulu_npu_p1").folds(oulu_full)
    summary = protocol_summary(folds)
    # P1 train: 2 users x 6 phones x sessions {1,2} -> 24 live, 96 attack videos.
    assert summary == [
        {
            "fold": "p1",
            "splits": {
                "train": {"live": 24, "attack": 96},
                "dev": {"live": 24, "attack": 96},
                "test": {"live": 12, "attack": 48},
            },
        }
    ]
    empty = Fold("x", empty_manifest(), empty_manifest(), empty_manifest())
    assert protocol_summary([empty])[0]["splits"]["dev"] == {"live": 0, "attack": 0}


def test_protocol_with_missing_session_is_an_error(tmp_path: Path, oulu_tree) -> None:
    oulu_tree(tmp_path, users={"train": [1], "test": [36]}, phones=[1, 2], sessions=[1, 2])
    with pytest.raises(ValueError, match=r"oulu_npu_p1 fold p1: no test videos"):
        PROTOCOLS.get("oulu_npu_p1").folds(tmp_path)
    folds = PROTOCOLS.get("oulu_npu_p3").folds(tmp_path)  # one fold per phone present
    assert [f.name for f in folds] == ["p3_1", "p3_2"] and len(folds[0].dev) == 0
