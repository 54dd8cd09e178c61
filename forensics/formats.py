"""The image formats the engine reads, and the file suffixes that stand for them.

One table for intake (the only Pillow parsers ``Image.open`` may run: see
:func:`forensics.image.decoder_formats`), ``forensics scan`` and ``forensics calibrate`` folder
walks, the report's thumbnails and laundering, so that they agree on which files are images.
"""

from __future__ import annotations

import os

#: Pillow format id -> file suffixes (lower case, with the dot). MPO is a camera's
#: multi-picture JPEG, saved as ``.jpg``.
FORMATS: dict[str, tuple[str, ...]] = {
    "JPEG": (".jpg", ".jpeg", ".jpe"),
    "MPO": (),
    "PNG": (".png",),
    "WEBP": (".webp",),
    "TIFF": (".tif", ".tiff"),
    "GIF": (".gif",),
    "BMP": (".bmp",),
    "HEIF": (".heic", ".heif"),
    "AVIF": (".avif",),
}
#: The supported formats as people name them, for messages (MPO files are JPEG files).
SUPPORTED_TEXT: str = ", ".join({"WEBP": "WebP", "HEIF": "HEIC/HEIF"}.get(f, f) for f, suffixes in FORMATS.items() if suffixes)
#: Pillow formats that are baseline or progressive JPEG streams.
JPEG_FORMATS: tuple[str, ...] = ("JPEG", "MPO")
#: Suffixes picked up when walking folders (a file named explicitly is always taken).
IMAGE_SUFFIXES: frozenset[str] = frozenset(s for suffixes in FORMATS.values() for s in suffixes)


def has_image_suffix(path: str | os.PathLike) -> bool:
    """``True`` when ``path`` ends in one of :data:`IMAGE_SUFFIXES` (any case)."""
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_SUFFIXES
