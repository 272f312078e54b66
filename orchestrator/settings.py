"""Where things live: data root, frame cache, Ray storage (flags, then environment, then defaults)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from rich.console import Console

#: The library log level the command line chose (``orchestrate -v``), for Ray's own setting.
LOG_LEVEL_ENV = "FAS_LOG_LEVEL"


class SettingsError(ValueError):
    """A folder the run needs cannot be used; the message names the folder, its source and why."""


def check_writable(path: Path, what: str) -> Path:
    """Refuse ``path`` unless it is (or can be created as) a folder this process can write in.

    Nothing is created: the check probes the nearest existing ancestor with a temporary file.
    """
    path = Path(path).expanduser()
    probe = path.absolute()
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        where = "is not a folder" if probe == path.absolute() else f"is inside {probe}, a file"
        raise SettingsError(f"{what} {path} {where}; give a writable folder")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        raise SettingsError(
            f"{what} {path} is not writable ({exc.strerror or exc} in {probe}); "
            "give a writable folder"
        ) from None
    return path


def storage_path(value: str | None = None) -> str | None:
    """``--storage-path``, else ``FAS_STORAGE_PATH``: Ray's results storage (None: Ray's default)."""
    return value or os.environ.get("FAS_STORAGE_PATH") or None


def check_run_paths(cache_root: Path | None, data_root: Path | None, storage: str | None) -> None:
    """Every folder ``orchestrate run`` will write, checked before any work starts: the frame
    cache, the embedded benchmark under ``FAS_HOME`` (when no data root is given) and a local
    Ray storage path (URIs such as ``s3://`` are the cluster's to check)."""
    if cache_root is not None:
        check_writable(cache_root, "--cache-root")
    elif "FAS_CACHE_ROOT" in os.environ:
        check_writable(Path(os.environ["FAS_CACHE_ROOT"]), "FAS_CACHE_ROOT")
    else:
        check_writable(cache_home() / "frames", "frame cache (FAS_HOME)")
    if data_root is None and "FAS_DATA_ROOT" not in os.environ:
        check_writable(cache_home() / "data", "synthetic data folder (FAS_HOME)")
    storage = storage_path(storage)
    if storage and ("://" not in storage or storage.startswith("file://")):
        check_writable(Path(storage.removeprefix("file://")), "Ray storage path")


def cache_home() -> Path:
    return Path(os.environ.get("FAS_HOME", Path.home() / ".cache" / "fas-orchestrator"))


def resolve_cache_root(value: Path | None = None) -> Path:
    """``--cache-root``, else ``FAS_CACHE_ROOT``, else ``$FAS_HOME/frames`` (``FAS_HOME``: default
    ``~/.cache/fas-orchestrator``).

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
    from synth import ensure_root

    def announce(missing: list[str]) -> None:
        if console is not None:
            console.print(
                f"data: generating the embedded synthetic benchmark (size {size!r}: "
                f"{', '.join(missing)}), once"
            )

    root = ensure_root(size, 0, cache_home() / "data", datasets, announce).resolve()
    if console is not None:
        console.print(f"data: embedded synthetic benchmark, size {size!r} ({root})")
    return root


#: Where ``planning_root`` found the data: the data root given, or the synthetic sizes.
GIVEN_ROOT, DECLARED_SIZES = "data root", "synthetic sizes"


@contextlib.contextmanager
def planning_root(
    value: Path | None, size: str, datasets: Iterable[str] | None = None
) -> Iterator[tuple[Path, str]]:
    """(data root, where from) to count a run's videos by, generating nothing: ``--data-root``,
    else ``FAS_DATA_ROOT``, else the file names the embedded benchmark of ``size`` would have
    (an empty-file skeleton in a temporary folder, see ``synth.skeleton``)."""
    root = value or (Path(os.environ["FAS_DATA_ROOT"]) if "FAS_DATA_ROOT" in os.environ else None)
    if root is not None:
        if not root.is_dir():
            raise FileNotFoundError(f"data root {root} does not exist or is not a folder")
        yield root.resolve(), GIVEN_ROOT
        return
    from synth.skeleton import write_skeleton

    with tempfile.TemporaryDirectory(prefix="fas-plan-") as tmp:
        yield write_skeleton(Path(tmp), size, datasets), DECLARED_SIZES


def protocol_folders(protocol: str) -> list[str]:
    """The data-root folders a protocol reads (so the embedded benchmark generates only those)."""
    from protocols.datasets import dataset_folder
    from protocols.protocols import PROTOCOLS

    return [dataset_folder(d) for d in PROTOCOLS.get(protocol).datasets]
