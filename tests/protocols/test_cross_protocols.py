"""Fold rules of the SiW, O/C/I/M, C/I/M, SiW-M and CDCT protocols on hand-made manifests."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from protocols.cross import CDCT_TARGETS, CIM_TYPES, OCIM, hold_out
from protocols.datasets import DatasetLayoutError
from protocols.layouts import SIWM_TYPES
from protocols.manifest import MANIFEST_COLUMNS, validate_manifest
from protocols.protocols import PROTOCOLS

ATTACK_TYPE = {
    "print1": "print",
    "print2": "print",
    "print": "print",
    "print_warped": "print",
    "print_cut": "print",
    "replay": "replay",
    "mobile_photo": "replay",
    "highdef_photo": "replay",
    "mobile_video": "replay",
    "highdef_video": "replay",
    "replay_ipad": "replay",
    "replay_iphone": "replay",
    "mask_hard": "mask",
    **{f"replay{i}": "replay" for i in range(1, 5)},
}


#: Instrument -> PAI species where a dataset's protocol pools several instruments in one PAI
#: (the adapters' rules); elsewhere the instrument is the species.
PAI_OF = {
    "oulu_npu": {"print1": "print", "print2": "print", "replay1": "display", "replay2": "display"},
    "siw": {"print1": "print", "print2": "print", **{f"replay{i}": "replay" for i in range(1, 5)}},
    "replay_attack": {
        "mobile_photo": "mobile",
        "mobile_video": "mobile",
        "highdef_photo": "highdef",
        "highdef_video": "highdef",
    },
}


def _type(instrument: str) -> str:
    if instrument == "live":
        return "live"
    return ATTACK_TYPE.get(instrument) or instrument.split("_")[0]


def manifest(dataset: str, instruments: list[str], splits: dict[str, list[int]]) -> pd.DataFrame:
    rows = []
    for split, subjects in splits.items():
        for subject, inst in itertools.product(subjects, ["live", *instruments]):
            rows.append(
                {
                    "dataset": dataset,
                    "video_id": f"{split}/{subject}/{inst}",
                    "path": f"/x/{dataset}/{split}/{subject}_{inst}.avi",
                    "subject": subject,
                    "session": 1,
                    "device": "1",
                    "pai": PAI_OF.get(dataset, {}).get(inst, inst),
                    "instrument": inst,
                    "attack_type": _type(inst),
                    "label": int(inst == "live"),
                    "split": split,
                    "annotation": "",
                    "depth": "",
                }
            )
    df = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    return validate_manifest(df.astype({"subject": "int64", "session": "int64", "label": "int64"}))


TRAIN_TEST = {"train": [1, 2, 3, 4, 5], "test": [6, 7, 8]}
MANIFESTS = {
    "oulu_npu": manifest(
        "oulu_npu",
        ["print1", "print2", "replay1", "replay2"],
        {"train": [1, 2], "dev": [21, 22], "test": [36, 37]},
    ),
    "siw": manifest(
        "siw", ["print1", "print2", "replay1", "replay2", "replay3", "replay4"], TRAIN_TEST
    ),
    "casia_mfsd": manifest("casia_mfsd", ["print_warped", "print_cut", "replay"], TRAIN_TEST),
    "replay_attack": manifest(
        "replay_attack",
        ["print", "mobile_photo", "highdef_photo", "mobile_video", "highdef_video"],
        {"train": [1, 2], "dev": [3, 4], "test": [5, 6]},
    ),
    "msu_mfsd": manifest("msu_mfsd", ["print", "replay_ipad", "replay_iphone"], TRAIN_TEST),
    "siw_m": manifest("siw_m", list(SIWM_TYPES), {"test": list(range(1, 11))}),
    **{t: manifest(t, ["mask_hard"], {"test": [1, 2, 3]}) for t in CDCT_TARGETS},
}


def folds_of(name: str):
    protocol = PROTOCOLS.get(name)
    return protocol.make_folds({d: MANIFESTS[d] for d in protocol.datasets})


def keys(df: pd.DataFrame) -> set[tuple[str, int]]:
    return set(zip(df["dataset"], df["subject"], strict=True))


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("siw_p1", 1),
        ("siw_p2", 4),
        ("siw_p3", 2),
        ("ocim_lodo", 4),
        ("cim_loto", 9),
        ("siwm_loto", 13),
        ("cdct", 3),
    ],
)
def test_fold_counts_and_subject_disjointness(name, count):
    folds = folds_of(name)
    assert len(folds) == count
    assert len({f.name for f in folds}) == count
    for f in folds:
        assert f.threshold_policy == "dev_eer"
        assert len(f.dev) > 0, f"{name}/{f.name}: a dev split must be formed from the sources"
        assert not keys(f.train) & keys(f.test), f"{name}/{f.name}: test subjects in train"
        assert not keys(f.dev) & keys(f.test), f"{name}/{f.name}: test subjects in dev"
        assert not keys(f.train) & keys(f.dev), f"{name}/{f.name}: dev subjects in train"
        for split in (f.train, f.test):
            assert set(split["label"]) == {0, 1}


def test_siw_p2_leaves_one_replay_medium_out():
    for f in folds_of("siw_p2"):
        medium = f.name.removeprefix("p2_")
        assert set(f.test["instrument"]) == {"live", medium}
        assert medium not in set(f.train["instrument"]) | set(f.dev["instrument"])
        assert set(f.train["attack_type"]) == {"live", "replay"}
        assert len(set(f.train["instrument"])) == 4  # live + the three other media


def test_siw_p3_swaps_print_and_replay():
    folds = {f.name: f for f in folds_of("siw_p3")}
    a = folds["p3_print_to_replay"]
    assert set(a.train["attack_type"]) == {"live", "print"}
    assert set(a.test["attack_type"]) == {"live", "replay"}
    b = folds["p3_replay_to_print"]
    assert set(b.train["attack_type"]) == {"live", "replay"}
    assert set(b.test["attack_type"]) == {"live", "print"}


def test_siw_p1_trains_on_the_first_frames_only():
    (fold,) = folds_of("siw_p1")
    assert fold.train_frame_limit == 60
    assert len(set(fold.train["instrument"])) == 7
    assert set(fold.train["pai"]) == {"live", "print", "replay"}


def test_ocim_lodo_never_trains_on_the_target():
    folds = folds_of("ocim_lodo")
    assert [f.name for f in folds] == ["CIM_to_O", "OIM_to_C", "OCM_to_I", "OCI_to_M"]
    for f in folds:
        target = OCIM[f.name[-1]]
        assert set(f.test["dataset"]) == {target}
        assert target not in set(f.train["dataset"]) | set(f.dev["dataset"])
        assert set(f.train["dataset"]) == set(OCIM.values()) - {target}
        assert set(f.test["split"]) == {"test"}
    # sources with a dev split use it; the others hold out training subjects
    dev = folds[3].dev
    assert set(dev.loc[dev["dataset"] == "oulu_npu", "split"]) == {"dev"}
    assert set(dev.loc[dev["dataset"] == "casia_mfsd", "split"]) == {"train"}


def test_cim_loto_leaves_each_type_out_within_its_dataset():
    folds = folds_of("cim_loto")
    assert len(folds) == sum(len(g) for g in CIM_TYPES.values())
    for f in folds:
        dataset, group = f.name.split("-")
        held = set(CIM_TYPES[dataset][group])
        assert set(f.test["instrument"]) == {"live"} | held
        assert not held & (set(f.train["instrument"]) | set(f.dev["instrument"]))
        assert {dataset} == set(f.train["dataset"]) == set(f.test["dataset"])


def test_cim_loto_replay_attack_photo_fold_cuts_across_the_attack_devices():
    folds = {f.name: f for f in folds_of("cim_loto")}
    f = folds["replay_attack-digital_photo"]
    assert set(f.test["pai"]) == {"live", "mobile", "highdef"}
    assert set(f.train["instrument"]) == {"live", "print", "mobile_video", "highdef_video"}


def test_cim_loto_rejects_an_instrument_outside_the_type_table():
    bad = dict(
        MANIFESTS, msu_mfsd=manifest("msu_mfsd", ["print", "replay_ipad", "mask_hard"], TRAIN_TEST)
    )
    with pytest.raises(ValueError, match=r"msu_mfsd instruments \['mask_hard'\] belong to no"):
        PROTOCOLS.get("cim_loto").make_folds(bad)


def test_siwm_loto_thirteen_folds_one_left_out_type_each():
    folds = folds_of("siwm_loto")
    assert [f.name for f in folds] == list(SIWM_TYPES)
    for f in folds:
        assert set(f.test["pai"]) == {"live", f.name}
        assert f.name not in set(f.train["pai"]) | set(f.dev["pai"])
        assert len(set(f.train["pai"])) == 13  # live + the twelve other types


def test_siwm_loto_tests_on_every_video_of_exclusive_wearers():
    live = manifest("siw_m", [], {"test": list(range(1, 11))})
    wearers = [
        manifest("siw_m", [t], {"test": [100 + 2 * i, 101 + 2 * i]})
        for i, t in enumerate(SIWM_TYPES)
    ]
    wearers = [w[w["label"] == 0] for w in wearers]
    m = validate_manifest(pd.concat([live, *wearers], ignore_index=True))
    for f in PROTOCOLS.get("siwm_loto").make_folds({"siw_m": m}):
        assert len(f.test[f.test["pai"] == f.name]) == 2  # both wearers of the left-out type
        assert set(f.test.loc[f.test["label"] == 1, "subject"]) == {1, 2, 3, 4}
        assert not keys(f.train) & keys(f.test)


def test_siwm_loto_names_a_missing_type():
    m = manifest("siw_m", [t for t in SIWM_TYPES if t != "mask_paper"], {"test": [1, 2, 3]})
    with pytest.raises(ValueError, match="mask_paper"):
        PROTOCOLS.get("siwm_loto").make_folds({"siw_m": m})


def test_cdct_trains_on_oulu_and_siw_tests_each_mask_set():
    folds = folds_of("cdct")
    for f, target in zip(folds, CDCT_TARGETS, strict=True):
        assert f.name == f"to_{target}"
        assert set(f.train["dataset"]) == {"oulu_npu", "siw"}
        assert set(f.test["dataset"]) == {target}
        assert set(f.test["attack_type"]) == {"live", "mask"}
        assert "mask" not in set(f.train["attack_type"])


def test_hold_out_is_subject_disjoint_and_keeps_training_subjects():
    df = MANIFESTS["siw"]
    train, dev = hold_out(df[df["split"] == "train"])
    assert set(dev["subject"]) == {5}
    assert set(train["subject"]) == {1, 2, 3, 4}
    one = df[df["subject"] == 1]
    train, dev = hold_out(one)
    assert len(dev) == 0 and len(train) == len(one)


def test_folds_name_the_missing_dataset_folder(tmp_path):
    with pytest.raises(DatasetLayoutError, match="folder 'oulu_npu' not found"):
        PROTOCOLS.get("ocim_lodo").folds(tmp_path)


def test_a_fold_without_both_classes_is_an_error(tmp_path, monkeypatch):
    import protocols.cross as cross

    only_attacks = MANIFESTS["siw"][MANIFESTS["siw"]["label"] == 0].reset_index(drop=True)
    monkeypatch.setattr(cross, "load_manifest", lambda d, root: only_attacks)
    with pytest.raises(
        ValueError, match="siw_p3 fold p3_print_to_replay: the train split needs bona fide"
    ):
        PROTOCOLS.get("siw_p3").folds(tmp_path)


def test_union_protocols_chain_their_parts():
    assert PROTOCOLS.get("oulu_npu").parts == (
        "oulu_npu_p1",
        "oulu_npu_p2",
        "oulu_npu_p3",
        "oulu_npu_p4",
    )
    assert PROTOCOLS.get("siw").datasets == ("siw",)
