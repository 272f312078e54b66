"""Protocols: manifests -> folds (train / dev / test video lists plus a threshold policy).

This module is the contract: ``Fold``, ``FoldProtocol`` (with the ``TableKind`` its results are
tabulated in) and the ``PROTOCOLS`` registry. The entries live in ``oulu.py`` (OULU-NPU P1-P4)
and ``cross.py`` (SiW, O/C/I/M, SiW-M, CDCT); ``catalog.py`` imports them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd

from core.registry import Registry


@dataclass(frozen=True, eq=False)
class Fold:
    """One train/dev/test assignment; ``threshold_policy`` is "dev_eer", "test_eer" or a number.

    ``train_frame_limit`` restricts training to each video's first N frames (SiW P1); dev and
    test always see whole videos.
    """

    name: str
    train: pd.DataFrame
    dev: pd.DataFrame
    test: pd.DataFrame
    threshold_policy: str = "dev_eer"
    train_frame_limit: int | None = None


#: Table shapes (``TableKind.shape``): one row per sub-protocol with its folds averaged (OULU-NPU,
#: SiW); one column group per fold; one column per held-out type with their average (SiW-M).
SUB_PROTOCOLS, PER_FOLD, PER_TYPE = "sub_protocols", "per_fold", "per_type"


@dataclass(frozen=True)
class TableKind:
    """How a protocol's results are tabulated, in the shape of the papers' tables."""

    shape: str = PER_FOLD
    #: The metrics of each fold's column group (``PER_FOLD``).
    metrics: tuple[str, ...] = ("apcer", "bpcer", "acer", "hter", "auc")
    #: The fold (or type) columns in the papers' order; None: in the order found.
    columns: tuple[str, ...] | None = None
    #: Add the networks' cost (parameters, FLOPs) columns.
    cost: bool = False


class FoldProtocol(Protocol):
    name: str
    datasets: tuple[str, ...]
    description: str
    n_folds: int  # on the published datasets, for planning (``folds`` is the truth)
    table: TableKind

    def folds(self, data_root: Path) -> list[Fold]: ...


PROTOCOLS: Registry[FoldProtocol] = Registry(
    "protocol",
    "Protocol objects with ``name``, ``datasets`` (dataset names they read), ``description``, "
    "``n_folds`` (on the published datasets) and "
    "``folds(data_root) -> list[Fold]``; fold names are unique within a protocol; ``table`` "
    "says how its results are tabulated.",
    entries="protocols.catalog",
)


def protocol_summary(folds: list[Fold]) -> list[dict]:
    """Live/attack video counts per split and fold (the ``protocols show --json`` shape)."""

    def counts(df: pd.DataFrame) -> dict[str, int]:
        live = int((df["label"] == 1).sum()) if len(df) else 0
        return {"live": live, "attack": len(df) - live}

    return [
        {
            "fold": f.name,
            "splits": {"train": counts(f.train), "dev": counts(f.dev), "test": counts(f.test)},
        }
        for f in folds
    ]
