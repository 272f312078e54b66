"""The OULU-NPU protocols P1-P4: one frozen dataclass whose fields are the filters (sessions,
file types, leave-one-phone-out), so the four protocols are four parameter sets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from protocols.datasets import load_manifest
from protocols.layouts import OULU, OULU_INSTRUMENT_CODES
from protocols.protocols import PROTOCOLS, SUB_PROTOCOLS, Fold, TableKind

ALL_SESSIONS = (1, 2, 3)
ALL_FILE_CODES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class OuluProtocol:
    """An OULU-NPU protocol as filters; train and dev share the train-side filters.

    ``leave_one_phone_out`` makes one fold per phone found in the data (six on the real
    dataset): train/dev on the other phones, test on that one.
    """

    name: str
    fold_prefix: str
    description: str
    train_sessions: tuple[int, ...] = ALL_SESSIONS
    test_sessions: tuple[int, ...] = ALL_SESSIONS
    train_file_codes: tuple[int, ...] = ALL_FILE_CODES
    test_file_codes: tuple[int, ...] = ALL_FILE_CODES
    leave_one_phone_out: bool = False
    threshold_policy: str = "dev_eer"
    datasets: tuple[str, ...] = (OULU,)
    table: TableKind = TableKind(SUB_PROTOCOLS)

    @property
    def n_folds(self) -> int:
        """Folds on the published dataset (six phones); ``folds`` counts what a data root has."""
        return 6 if self.leave_one_phone_out else 1

    @staticmethod
    def _select(
        m: pd.DataFrame, split: str, sessions: tuple[int, ...], codes: tuple[int, ...], phones
    ) -> pd.DataFrame:
        keep = (
            (m["split"] == split)
            & m["session"].isin(sessions)
            & m["instrument"].map(OULU_INSTRUMENT_CODES).isin(codes)
            & m["device"].isin(phones)
        )
        return m[keep].reset_index(drop=True)

    def folds(self, data_root: Path) -> list[Fold]:
        m = load_manifest(OULU, data_root)
        phones = sorted(m["device"].unique(), key=int)
        if self.leave_one_phone_out:
            if len(phones) < 2:
                raise ValueError(f"{self.name}: leaving one phone out needs 2+ phones: {phones}")
            plans = [
                (f"{self.fold_prefix}_{p}", [q for q in phones if q != p], [p]) for p in phones
            ]
        else:
            plans = [(self.fold_prefix, phones, phones)]
        folds = []
        for fold_name, train_phones, test_phones in plans:
            tr = (self.train_sessions, self.train_file_codes, train_phones)
            fold = Fold(
                name=fold_name,
                train=self._select(m, "train", *tr),
                dev=self._select(m, "dev", *tr),
                test=self._select(m, "test", self.test_sessions, self.test_file_codes, test_phones),
                threshold_policy=self.threshold_policy,
            )
            for split, sessions, phones_ in (
                ("train", self.train_sessions, train_phones),
                ("test", self.test_sessions, test_phones),
            ):
                if len(getattr(fold, split)) == 0:
                    raise ValueError(
                        f"{self.name} fold {fold_name}: no {split} videos under "
                        f"{Path(data_root) / OULU} for sessions {sessions}, phones {phones_}"
                    )
            folds.append(fold)
        return folds


_OULU_PROTOCOLS = [
    OuluProtocol(
        name="oulu_npu_p1",
        fold_prefix="p1",
        description="OULU-NPU P1 (environment): train/dev sessions 1-2, test session 3.",
        train_sessions=(1, 2),
        test_sessions=(3,),
    ),
    OuluProtocol(
        name="oulu_npu_p2",
        fold_prefix="p2",
        description="OULU-NPU P2 (attack instrument): train/dev types {1,2,4}, test {1,3,5}.",
        train_file_codes=(1, 2, 4),
        test_file_codes=(1, 3, 5),
    ),
    OuluProtocol(
        name="oulu_npu_p3",
        fold_prefix="p3",
        description="OULU-NPU P3 (camera): leave one phone out, six folds.",
        leave_one_phone_out=True,
    ),
    OuluProtocol(
        name="oulu_npu_p4",
        fold_prefix="p4",
        description=(
            "OULU-NPU P4 (all three): train/dev five phones x sessions 1-2 x types {1,2,4}; "
            "test the sixth phone x session 3 x types {1,3,5}; six folds."
        ),
        train_sessions=(1, 2),
        test_sessions=(3,),
        train_file_codes=(1, 2, 4),
        test_file_codes=(1, 3, 5),
        leave_one_phone_out=True,
    ),
]
for _p in _OULU_PROTOCOLS:
    PROTOCOLS.add(_p.name, _p)
