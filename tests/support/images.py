"""Image files written by the tests themselves (Pillow, piexif, pillow-heif): real bytes."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import piexif
from PIL import Image


def natural_rgb(h: int = 256, w: int = 320, seed: int = 0) -> np.ndarray:
    """A smooth scene with texture and noise, closer to a photo than flat noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([0.5 + 0.3 * np.sin(5 * x + seed), 0.4 + 0.3 * y, 0.6 - 0.2 * x * y], -1)
    base += 0.05 * np.sin(40 * x)[..., None] * np.cos(33 * y)[..., None]
    base += rng.normal(0, 0.03, base.shape)
    return np.clip(base * 255, 0, 255).astype(np.uint8)


def encode(arr: np.ndarray, fmt: str, **kw) -> bytes:
    if fmt in ("HEIF", "HEIC"):
        from pillow_heif import register_heif_opener

        register_heif_opener()
        fmt = "HEIF"
    buf = io.BytesIO()
    im = Image.fromarray(arr)
    if fmt == "GIF":
        im = im.convert("P")
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def camera_exif(orientation: int = 1, **extra) -> bytes:
    zeroth = {piexif.ImageIFD.Make: b"Canon", piexif.ImageIFD.Model: b"Canon EOS 5D Mark IV",
              piexif.ImageIFD.Orientation: orientation}
    exif = {piexif.ExifIFD.ExposureTime: (1, 250), piexif.ExifIFD.FNumber: (28, 10),
            piexif.ExifIFD.ISOSpeedRatings: 200, piexif.ExifIFD.DateTimeOriginal: b"2024:05:01 10:00:00"}
    exif.update(extra)
    return piexif.dump({"0th": zeroth, "Exif": exif})


def png_chunk(typ: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + typ + data + struct.pack(">I", zlib.crc32(typ + data) & 0xFFFFFFFF)


def png_bomb(side: int = 30000) -> bytes:
    """A valid greyscale PNG of ``side`` x ``side`` zero pixels that compresses to under 1 MB."""
    co = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    idat = b"".join(co.compress(row) for _ in range(side)) + co.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
