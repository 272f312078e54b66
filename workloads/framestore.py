"""One frame-cache entry on disk: uncompressed arrays behind a checksummed header, memory-mapped.

Layout of an entry file (``<hash>.frames``)::

    bytes [0, 4096)      b"FASFRAMES\\n" + a JSON header padded with spaces: the layout version,
                         each array's dtype, shape and byte offset, and the SHA-256 of the data
    bytes [4096, ...)    images uint8 (F, 3, S, S), then maps float32 (F, m, m) at a 64-byte
                         aligned offset; the file ends exactly where the maps end

Opening maps the file once and returns views into it, so a trial reads the bytes the page cache
already holds and every process on a machine shares them. :func:`check_header` is the cheap test
(magic, version, shapes, dtypes, file size); :func:`open_entry` adds the checksum the first time
a process opens a given file (identified by inode, size and mtime), so a file changed or damaged
behind its back is checked again. Writes go to a temp file that is
``os.replace``d, so readers never see half a file, and a process that has an entry mapped keeps
reading the version it opened. (Truncating a mapped file in place, which nothing here does, would
crash its readers with SIGBUS: damage files only by replacing them.)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

#: The on-disk layout of an entry; bumped whenever it changes, so old files are rebuilt, never
#: misread (1 was one ``.npz`` per video).
LAYOUT_VERSION = 2
SUFFIX = ".frames"
MAGIC = b"FASFRAMES\n"
HEADER_BYTES = 4096
_ALIGN = 64
Shapes = dict[str, tuple[tuple[int, ...], np.dtype]]

_verified: set[tuple[str, int, int, int]] = set()


def _aligned(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def _layout(shapes: Shapes) -> tuple[dict[str, dict[str, Any]], int]:
    """Each array's dtype, shape and offset, and the total file size."""
    arrays, offset = {}, HEADER_BYTES
    for name, (shape, dtype) in shapes.items():
        offset = _aligned(offset)
        arrays[name] = {"dtype": np.dtype(dtype).str, "shape": list(shape), "offset": offset}
        offset += int(np.prod(shape)) * np.dtype(dtype).itemsize
    return arrays, offset


def atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """``write(file)`` into a temp file next to ``path``, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_entry(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` (in order) as one entry file, atomically."""
    shapes = {k: (tuple(a.shape), a.dtype) for k, a in arrays.items()}
    layout, total = _layout(shapes)
    digest = hashlib.sha256()
    chunks: list[tuple[int, bytes | memoryview]] = []
    for name, a in arrays.items():
        data = memoryview(np.ascontiguousarray(a)).cast("B")
        chunks.append((layout[name]["offset"], data))
    position = HEADER_BYTES
    for offset, data in chunks:  # the checksum covers the padding too: every byte after the header
        digest.update(b"\0" * (offset - position))
        digest.update(data)
        position = offset + len(data)
    header = {"version": LAYOUT_VERSION, "arrays": layout, "sha256": digest.hexdigest()}
    head = MAGIC + json.dumps(header, sort_keys=True).encode()
    if len(head) >= HEADER_BYTES:
        raise ValueError(f"entry header of {path.name} does not fit in {HEADER_BYTES} bytes")

    def write(f) -> None:
        f.write(head.ljust(HEADER_BYTES - 1) + b"\n")
        pos = HEADER_BYTES
        for offset, data in chunks:
            f.write(b"\0" * (offset - pos))
            f.write(data)
            pos = offset + len(data)
        if pos != total:
            raise AssertionError(f"wrote {pos} bytes, expected {total}")

    atomic_write(path, write)


def _parse_header(head: bytes, size: int, shapes: Shapes) -> dict[str, Any] | str:
    """The parsed header if it matches ``shapes`` and the file size, else why not."""
    if len(head) < HEADER_BYTES or not head.startswith(MAGIC):
        return "not a frame-cache entry (bad magic or short header)"
    try:
        header = json.loads(bytes(head[len(MAGIC) : HEADER_BYTES]).decode())
    except (UnicodeDecodeError, ValueError) as e:
        return f"unreadable header ({type(e).__name__})"
    if not isinstance(header, dict) or header.get("version") != LAYOUT_VERSION:
        got = header.get("version") if isinstance(header, dict) else None
        return f"layout version {got}, expected {LAYOUT_VERSION}"
    layout, total = _layout(shapes)
    if header.get("arrays") != layout:
        return f"arrays {header.get('arrays')}, expected {layout}"
    if size != total:
        return f"{size} bytes, expected {total} (truncated or padded)"
    return header


def check_header(path: Path, shapes: Shapes) -> str | None:
    """Cheap validation without reading the data (magic, version, shapes, size). None if ok."""
    try:
        with open(path, "rb") as f:
            got = _parse_header(f.read(HEADER_BYTES), os.fstat(f.fileno()).st_size, shapes)
    except OSError as e:
        return f"unreadable ({type(e).__name__}: {e})"
    return got if isinstance(got, str) else None


def open_entry(path: Path, shapes: Shapes) -> dict[str, np.ndarray] | str:
    """Read-only memory-mapped arrays of an entry, checksummed on this process's first open of
    this file version (inode, size, mtime); or why the entry is not usable."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_size < HEADER_BYTES:
                return f"{st.st_size} bytes: shorter than the header (truncated)"
            raw = np.memmap(f, dtype=np.uint8, mode="r")
    except (OSError, ValueError) as e:
        return f"unreadable ({type(e).__name__}: {e})"
    header = _parse_header(raw[:HEADER_BYTES].tobytes(), st.st_size, shapes)
    if isinstance(header, str):
        return header
    ident = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    if ident not in _verified:
        if hashlib.sha256(raw[HEADER_BYTES:]).hexdigest() != header["sha256"]:
            return "content checksum mismatch (damaged data)"
        _verified.add(ident)
    out = {}
    for name, (shape, dtype) in shapes.items():
        start = header["arrays"][name]["offset"]
        n = int(np.prod(shape)) * np.dtype(dtype).itemsize
        out[name] = np.asarray(raw[start : start + n]).view(dtype).reshape(shape)
    return out
