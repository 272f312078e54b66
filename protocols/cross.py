"""Protocols beyond OULU-NPU: SiW P1-P3, O/C/I/M leave-one-dataset-out, C/I/M cross-type,
SiW-M leave-one-type-out, and cross-dataset cross-type (CDCT).

Each protocol is a frozen dataclass whose ``make_folds(manifests)`` is a pure function of the
datasets' manifests (so its rules are testable on hand-made tables) and whose ``folds(data_root)``
loads those manifests through the adapters. Rules every fold keeps:

- the held-out data (a left-out dataset, attack type or the test subjects) never appears in train;
- ``dev`` is formed from the training sources only: a source's own dev split where it has one,
  else a subject-disjoint hold-out of its training subjects (``DEV_FRACTION``); the default
  threshold policy is then ``dev_eer``, so no test video ever picks a threshold. ``test_eer``
  (the common, optimistic practice in cross-dataset papers) is available per experiment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from protocols.datasets import load_manifest
from protocols.layouts import SIWM_TYPES
from protocols.protocols import PER_TYPE, PROTOCOLS, SUB_PROTOCOLS, Fold, TableKind

#: Share of a source's training subjects held out as dev when the source has no dev split.
DEV_FRACTION = 0.2
OCIM = {"O": "oulu_npu", "C": "casia_mfsd", "I": "replay_attack", "M": "msu_mfsd"}
#: Cross-type groups within C/I/M (one fold per group): the instruments (manifest column
#: ``instrument``) each attack type covers, following the usual split into print,
#: photo-on-screen and video replay per dataset. Replay-Attack's groups cut across its PAIs
#: (attack devices), hence instruments rather than PAI species.
CIM_TYPES: dict[str, dict[str, tuple[str, ...]]] = {
    "casia_mfsd": {
        "warped_print": ("print_warped",),
        "cut_print": ("print_cut",),
        "video": ("replay",),
    },
    "replay_attack": {
        "print": ("print",),
        "digital_photo": ("mobile_photo", "highdef_photo"),
        "video": ("mobile_video", "highdef_video"),
    },
    "msu_mfsd": {
        "print": ("print",),
        "hr_video": ("replay_ipad",),
        "mobile_video": ("replay_iphone",),
    },
}
CDCT_TARGETS = ("3dmad", "hkbu_mars", "casia_surf_3dmask")


def _rows(df: pd.DataFrame, keep: pd.Series) -> pd.DataFrame:
    return df[keep].reset_index(drop=True)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return frames_empty()
    return pd.concat(frames, ignore_index=True)


def frames_empty() -> pd.DataFrame:
    from protocols.manifest import empty_manifest

    return empty_manifest()


def hold_out(df: pd.DataFrame, fraction: float = DEV_FRACTION) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, dev): the last ``ceil(fraction * n)`` subjects (by id) of ``df`` become dev.

    Subject-disjoint and deterministic; with fewer than two subjects nothing is held out.
    """
    subjects = sorted(df["subject"].unique())
    if len(subjects) < 2:
        return df.reset_index(drop=True), df.iloc[0:0].reset_index(drop=True)
    n_dev = min(len(subjects) - 1, max(1, math.ceil(fraction * len(subjects))))
    dev_subjects = set(subjects[-n_dev:])
    is_dev = df["subject"].isin(dev_subjects)
    return _rows(df, ~is_dev), _rows(df, is_dev)


def train_dev(m: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A training source's train and dev parts: its own dev split, else a subject hold-out."""
    train = _rows(m, m["split"] == "train")
    dev = _rows(m, m["split"] == "dev")
    if len(dev):
        return train, dev
    return hold_out(train)


def _check(protocol: str, fold: Fold) -> Fold:
    for split in ("train", "test"):
        df = getattr(fold, split)
        if len(df) == 0 or df["label"].nunique() < 2:
            found = "no videos" if len(df) == 0 else f"only label {int(df['label'].iloc[0])}"
            raise ValueError(
                f"{protocol} fold {fold.name}: the {split} split needs bona fide and attack "
                f"videos; found {found}"
            )
    if fold.threshold_policy == "dev_eer" and (
        len(fold.dev) == 0 or fold.dev["label"].nunique() < 2
    ):
        raise ValueError(
            f"{protocol} fold {fold.name}: the dev_eer threshold needs a dev split with bona fide "
            f"and attack videos, formed from the training sources; found {len(fold.dev)} videos "
            "(too few training subjects to hold some out?)"
        )
    return fold


@dataclass(frozen=True)
class ManifestProtocol:
    """Base: load the named datasets' manifests, then apply ``make_folds``."""

    name: str
    description: str
    datasets: tuple[str, ...]
    threshold_policy: str = "dev_eer"
    table: TableKind = TableKind()

    def folds(self, data_root: Path) -> list[Fold]:
        manifests = {d: load_manifest(d, data_root) for d in self.datasets}
        return [_check(self.name, f) for f in self.make_folds(manifests)]

    def make_folds(self, manifests: dict[str, pd.DataFrame]) -> list[Fold]:
        raise NotImplementedError

    def _fold(self, name: str, train, dev, test, **extra) -> Fold:
        return Fold(name, train, dev, test, threshold_policy=self.threshold_policy, **extra)


@dataclass(frozen=True)
class SiwProtocol(ManifestProtocol):
    """SiW P1 (all types; train on each training video's first ``frame_limit`` frames),
    P2 (leave one replay medium out: one fold per replay ``instrument`` found) and P3
    (print <-> replay, the two PAIs)."""

    part: int = 1
    frame_limit: int = 60
    datasets: tuple[str, ...] = ("siw",)
    table: TableKind = TableKind(SUB_PROTOCOLS)

    @property
    def n_folds(self) -> int:
        return {1: 1, 2: 4, 3: 2}[self.part]

    def make_folds(self, manifests):
        m = manifests["siw"]
        train_all, dev_all = train_dev(m)
        test_all = _rows(m, m["split"] == "test")

        def pick(df, values, column="instrument") -> pd.DataFrame:
            return _rows(df, df[column].isin(("live", *values)))

        if self.part == 1:
            return [
                self._fold("p1", train_all, dev_all, test_all, train_frame_limit=self.frame_limit)
            ]
        if self.part == 2:
            media = sorted(m.loc[m["pai"] == "replay", "instrument"].unique())
            return [
                self._fold(
                    f"p2_{k}",
                    pick(train_all, [x for x in media if x != k]),
                    pick(dev_all, [x for x in media if x != k]),
                    pick(test_all, [k]),
                )
                for k in media
            ]
        return [
            self._fold(
                f"p3_{a}_to_{b}",
                pick(train_all, [a], "pai"),
                pick(dev_all, [a], "pai"),
                pick(test_all, [b], "pai"),
            )
            for a, b in (("print", "replay"), ("replay", "print"))
        ]


@dataclass(frozen=True)
class OcimLodo(ManifestProtocol):
    """Train on three of O/C/I/M (their train splits), test on the fourth's test split.

    Fold names follow the papers' ``O&C&I to M`` as ``OCI_to_M``."""

    datasets: tuple[str, ...] = tuple(OCIM.values())
    n_folds: int = 4
    table: TableKind = TableKind(
        metrics=("hter", "auc"), columns=("CIM_to_O", "OIM_to_C", "OCM_to_I", "OCI_to_M")
    )

    def make_folds(self, manifests):
        folds = []
        for target_code, target in OCIM.items():
            sources = [c for c in OCIM if c != target_code]
            parts = [train_dev(manifests[OCIM[c]]) for c in sources]
            t = manifests[target]
            folds.append(
                self._fold(
                    f"{''.join(sources)}_to_{target_code}",
                    _concat([p[0] for p in parts]),
                    _concat([p[1] for p in parts]),
                    _rows(t, t["split"] == "test"),
                )
            )
        return folds


@dataclass(frozen=True)
class CimLoto(ManifestProtocol):
    """Intra-dataset cross-type on C, I and M: leave one attack type (a group of instruments,
    ``CIM_TYPES``) out."""

    datasets: tuple[str, ...] = tuple(CIM_TYPES)
    table: TableKind = TableKind(metrics=("auc",))
    types: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=lambda: CIM_TYPES)

    @property
    def n_folds(self) -> int:
        return sum(len(groups) for groups in self.types.values())

    def make_folds(self, manifests):
        folds = []
        for dataset, groups in self.types.items():
            m = manifests[dataset]
            covered = {p for g in groups.values() for p in g}
            unknown = sorted(set(m["instrument"]) - {"live"} - covered)
            if unknown:
                raise ValueError(f"{self.name}: {dataset} instruments {unknown} belong to no type")
            train, dev = train_dev(m)
            test = _rows(m, m["split"] == "test")
            for group, held in groups.items():
                folds.append(
                    self._fold(
                        f"{dataset}-{group}",
                        _rows(train, ~train["instrument"].isin(held)),
                        _rows(dev, ~dev["instrument"].isin(held)),
                        _rows(test, test["instrument"].isin(("live", *held))),
                    )
                )
        return folds


@dataclass(frozen=True)
class SiwmLoto(ManifestProtocol):
    """SiW-M leave one attack type out, 13 folds; no test subject is ever trained on.

    Test subjects of fold ``k``: every subject whose only attacks are of type ``k`` (as in the
    release, where most spoof subjects wear one instrument) and ``test_fraction`` of the bona
    fide subjects, taken first among the type-``k`` wearers (so the type is tested even when
    wearers also have other videos), and, if that still leaves no type-``k`` video, the last
    ``test_fraction`` of the wearers. Test holds their bona fide and type-``k`` videos; train
    every other subject's bona fide and other-type videos; dev is a subject hold-out of train.
    """

    datasets: tuple[str, ...] = ("siw_m",)
    test_fraction: float = 0.4
    n_folds: int = len(SIWM_TYPES)
    table: TableKind = TableKind(PER_TYPE, columns=SIWM_TYPES)

    def _last(self, subjects) -> set:
        subjects = sorted(subjects)
        return set(subjects[-max(1, math.ceil(self.test_fraction * len(subjects))) :])

    def make_folds(self, manifests):
        m = manifests["siw_m"]
        missing = sorted(set(SIWM_TYPES) - set(m["pai"]))
        if missing:
            raise ValueError(f"{self.name}: siw_m has no videos of {missing}")
        attacks = m[m["label"] == 0].groupby("subject")["pai"].agg(set)
        live = sorted(m.loc[m["label"] == 1, "subject"].unique())
        n_live_test = max(1, math.ceil(self.test_fraction * len(live)))
        folds = []
        for k in SIWM_TYPES:
            wearers = {s for s, pais in attacks.items() if k in pais}
            live_first = sorted(live, key=lambda s, w=wearers: (s not in w, s))
            test_subjects = {s for s in wearers if attacks[s] == {k}}
            test_subjects |= set(live_first[:n_live_test])
            if not test_subjects & wearers:
                test_subjects |= self._last(wearers)
            in_test = m["subject"].isin(test_subjects)
            test = _rows(m, in_test & m["pai"].isin(("live", k)))
            train, dev = hold_out(_rows(m, ~in_test & (m["pai"] != k)))
            folds.append(self._fold(k, train, dev, test))
        return folds


@dataclass(frozen=True)
class Cdct(ManifestProtocol):
    """Cross-dataset cross-type: train OULU-NPU + SiW (print, replay), test each 3D-mask set."""

    datasets: tuple[str, ...] = ("oulu_npu", "siw", *CDCT_TARGETS)
    n_folds: int = len(CDCT_TARGETS)
    table: TableKind = TableKind(
        metrics=("auc", "acer", "hter"), columns=tuple(f"to_{t}" for t in CDCT_TARGETS), cost=True
    )

    def make_folds(self, manifests):
        parts = [train_dev(manifests[d]) for d in ("oulu_npu", "siw")]
        train, dev = _concat([p[0] for p in parts]), _concat([p[1] for p in parts])
        return [
            self._fold(f"to_{t}", train, dev, manifests[t].reset_index(drop=True))
            for t in CDCT_TARGETS
        ]


@dataclass(frozen=True)
class Union:
    """Several protocols run as one experiment (fold names must not collide)."""

    name: str
    description: str
    parts: tuple[str, ...]

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d for p in self.parts for d in PROTOCOLS.get(p).datasets))

    @property
    def n_folds(self) -> int:
        return sum(PROTOCOLS.get(p).n_folds for p in self.parts)

    @property
    def table(self) -> TableKind:
        """Tabulated like its first part (the parts of a union share a table shape)."""
        return PROTOCOLS.get(self.parts[0]).table

    def folds(self, data_root: Path) -> list[Fold]:
        folds = [f for p in self.parts for f in PROTOCOLS.get(p).folds(data_root)]
        names = [f.name for f in folds]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: fold names collide across {self.parts}: {names}")
        return folds


_PROTOCOLS = [
    SiwProtocol(
        "siw_p1", "SiW P1: all types; train on the first 60 frames of training videos.", part=1
    ),
    SiwProtocol("siw_p2", "SiW P2: leave one replay medium out (4 folds).", part=2),
    SiwProtocol("siw_p3", "SiW P3: print <-> replay (2 folds).", part=3),
    OcimLodo(
        "ocim_lodo", "O/C/I/M leave-one-dataset-out: train on three, test the fourth (4 folds)."
    ),
    CimLoto("cim_loto", "C/I/M intra-dataset cross-type: leave one attack type out (9 folds)."),
    SiwmLoto("siwm_loto", "SiW-M leave one of its 13 attack types out (13 folds)."),
    Cdct(
        "cdct",
        "Cross-dataset cross-type: train OULU-NPU + SiW, test 3DMAD, HKBU-MARs, CASIA-SURF 3DMask.",
    ),
    Union(
        "oulu_npu",
        "OULU-NPU P1-P4 as one fan-out (1 + 1 + 6 + 6 folds).",
        ("oulu_npu_p1", "oulu_npu_p2", "oulu_npu_p3", "oulu_npu_p4"),
    ),
    Union("siw", "SiW P1-P3 as one fan-out (1 + 4 + 2 folds).", ("siw_p1", "siw_p2", "siw_p3")),
]
for _p in _PROTOCOLS:
    PROTOCOLS.add(_p.name, _p)
