"""sha256 of a file's bytes, read in chunks, or of bytes in memory."""

from __future__ import annotations

import hashlib
import os


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of the file at ``path``. Raises ``OSError`` when it cannot be read."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data`` (the same digest :func:`sha256_file` gives for a file of these bytes)."""
    return hashlib.sha256(data).hexdigest()
