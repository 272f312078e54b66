"""An exclusive advisory lock on a lock file, held for a ``with`` block (POSIX ``flock``).

Used where two processes on one machine may create the same thing at once: the embedded data
root (``synth``) and a new SQLite tracking store's schema (``orchestrator.tracking.store``). Where
``fcntl`` does not exist (Windows) the block runs unlocked; callers rely on atomic renames there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None  # type: ignore[assignment]


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing, never removed) for the block."""
    with open(path, "a+") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)
