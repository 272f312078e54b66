"""The manifest: one row per video, the common currency between dataset adapters and protocols.

Every adapter turns its dataset's own layout into this table so protocols, the frame cache and
reports never need to know a dataset's file naming.

Two columns name an attack, at two grains. ``pai`` is the PAI species as the dataset's own
protocol defines it: the unit APCER is computed over (ISO/IEC 30107-3 takes the worst species),
e.g. OULU-NPU's ``print`` and ``display``. ``instrument`` is the individual instrument inside a
species (OULU-NPU's ``print1``, ``print2``, ``replay1``, ``replay2``): protocols that hold out
one instrument select on it, and APCER must never be a max over instruments (it would overstate
the worst species). Both are ``live`` for bona fide rows; each adapter documents its values.
"""

from __future__ import annotations

import pandas as pd

MANIFEST_COLUMNS = [
    "dataset",
    "video_id",
    "path",
    "subject",
    "session",
    "device",
    "pai",
    "instrument",
    "attack_type",
    "label",
    "split",
    "annotation",
    "depth",
]
INT_COLUMNS = ("subject", "session", "label")
STR_COLUMNS = tuple(c for c in MANIFEST_COLUMNS if c not in INT_COLUMNS)
#: Macro attack types; ``live`` is the bona fide class.
ATTACK_TYPES = ("live", "print", "replay", "mask", "makeup", "partial")
SPLITS = ("train", "dev", "test")


class ManifestError(ValueError):
    """A manifest that breaks the contract; the message names the column and offending rows."""


def empty_manifest() -> pd.DataFrame:
    """A manifest with no rows but the right columns and dtypes."""
    data = {c: pd.Series([], dtype="int64" if c in INT_COLUMNS else str) for c in MANIFEST_COLUMNS}
    return pd.DataFrame(data, columns=MANIFEST_COLUMNS)


def _examples(df: pd.DataFrame, mask: pd.Series, limit: int = 3) -> str:
    ids = df.loc[mask, "video_id"].astype(str).tolist()
    return ", ".join(ids[:limit]) + (", ..." if len(ids) > limit else "")


def validate_manifest(df: pd.DataFrame) -> pd.DataFrame:
    """Check columns (names and order), dtypes, value sets and label consistency; return ``df``.

    Consistency: ``label == 1`` iff ``attack_type``, ``pai`` and ``instrument`` are ``"live"``.
    """
    if list(df.columns) != MANIFEST_COLUMNS:
        missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
        extra = [c for c in df.columns if c not in MANIFEST_COLUMNS]
        raise ManifestError(
            f"manifest columns must be {MANIFEST_COLUMNS} in this order; found {list(df.columns)}"
            + (f" (missing {missing})" if missing else "")
            + (f" (unexpected {extra})" if extra else "")
        )
    for col in INT_COLUMNS:
        if not pd.api.types.is_integer_dtype(df[col]):
            raise ManifestError(f"manifest column {col!r} must be integer, found {df[col].dtype}")
    for col in STR_COLUMNS:
        if len(df) and not df[col].map(lambda v: isinstance(v, str)).all():
            bad = ~df[col].map(lambda v: isinstance(v, str))
            raise ManifestError(
                f"manifest column {col!r} must hold strings; not in {int(bad.sum())} row(s)"
                + (f" (e.g. {_examples(df, bad)})" if col != "video_id" else "")
            )
    if len(df) == 0:
        return df

    live = df["label"] == 1
    checks = [
        (~df["attack_type"].isin(ATTACK_TYPES), f"attack_type not in {ATTACK_TYPES}"),
        (~df["split"].isin(SPLITS), f"split not in {SPLITS}"),
        (~df["label"].isin([0, 1]), "label not 0/1"),
        (live != (df["attack_type"] == "live"), "label inconsistent with attack_type"),
        (live != (df["pai"] == "live"), "label inconsistent with pai"),
        (live != (df["instrument"] == "live"), "label inconsistent with instrument"),
        (df["pai"] == "", "empty pai"),
        (df["instrument"] == "", "empty instrument"),
        (df["path"] == "", "empty path"),
        (df.duplicated(["dataset", "video_id"]), "duplicate video_id within a dataset"),
    ]
    for bad, problem in checks:
        if bad.any():
            raise ManifestError(
                f"manifest: {problem} in {int(bad.sum())} row(s), e.g. {_examples(df, bad)}"
            )
    return df
