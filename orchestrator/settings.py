"""Where things live: data root, frame cache, Ray storage (flags, then environment, then defaults)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from rich.console import Console


def cache_home() -> Path:
    return Path(os.environ.get("FAS_HOME", Path.home() / ".cache" / "fas-orchestrator"))


def resolve_cache_root(value: Path | None = None) -> Path:
    """``--cache-root``, else ``FAS_CACHE_ROOT``, else ``~/.cache/fas-orchestrator/frames``.

    On a cluster this must be shared storage (NFS) so every node reads one preprocessed copy.
    """
    root = value or (Path(os.environ["FAS_CACHE_ROOT"]) if "FAS_CACHE_ROOT" in os.environ else None)
    root = root or cache_home() / "frames"
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


def resolve_data_root(
    value: Path | None,
    size: str,
    console: Console | None = None,
    datasets: Iterable[str] | None = None,
) -> Path:
    """``--data-root``, else ``FAS_DATA_ROOT``, else the embedded synthetic benchmark of ``size``
    (with the dataset folders ``datasets`` names generated, default all)."""
    root = value or (Path(os.environ["FAS_DATA_ROOT"]) if "FAS_DATA_ROOT" in os.environ else None)
    if root is not None:
        if not root.is_dir():
            raise FileNotFoundError(f"data root {root} does not exist or is not a folder")
        return root.resolve()
    from protocols.synth import ensure_root

    if console is not None:
        console.print(f"data: embedded synthetic benchmark (size {size!r}; generated on first use)")
    return ensure_root(size, base=cache_home() / "data", datasets=datasets).resolve()


def protocol_folders(protocol: str) -> list[str]:
    """The data-root folders a protocol reads (so the embedded benchmark generates only those)."""
    from protocols.datasets import dataset_folder
    from protocols.protocols import PROTOCOLS

    return [dataset_folder(d) for d in PROTOCOLS.get(protocol).datasets]
