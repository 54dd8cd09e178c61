"""Shared helpers for the metadata signals: tolerant EXIF parsing and text normalisation.

Everything here takes untrusted bytes and never raises on malformed input: parsers return
what they could read plus a list of problems.
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import Any

from forensics.image import MAX_TEXT_CHARS
from forensics.tiff import overreach

log = logging.getLogger(__name__)

#: Longest evidence text kept per item (prompts and workflows can be megabytes).
EVIDENCE_CHARS = 300

# EXIF tag ids used by the metadata signals.
TAG_IMAGE_DESCRIPTION = 0x010E
TAG_MAKE = 0x010F
TAG_MODEL = 0x0110
TAG_SOFTWARE = 0x0131
TAG_DATETIME = 0x0132
TAG_ARTIST = 0x013B
TAG_XP_COMMENT = 0x9C9C
TAG_EXPOSURE_TIME = 0x829A
TAG_F_NUMBER = 0x829D
TAG_ISO = 0x8827
TAG_DATETIME_ORIGINAL = 0x9003
TAG_OFFSET_TIME_ORIGINAL = 0x9011
TAG_FOCAL_LENGTH = 0x920A
TAG_MAKER_NOTE = 0x927C
TAG_USER_COMMENT = 0x9286
TAG_SUBSEC_ORIGINAL = 0x9291
TAG_PIXEL_X = 0xA002
TAG_PIXEL_Y = 0xA003
TAG_BODY_SERIAL = 0xA431
TAG_LENS_MAKE = 0xA433
TAG_LENS_MODEL = 0xA434
TAG_THUMB_OFFSET = 0x0201
TAG_THUMB_LENGTH = 0x0202
IFD_EXIF = 0x8769
IFD_GPS = 0x8825


def clip(text: str, limit: int = EVIDENCE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis and the full length when cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text):,} chars]"


def as_text(value: Any) -> str | None:
    """An EXIF/PNG value as stripped text (bytes decoded as UTF-8, invalid bytes replaced), cut
    at ``MAX_TEXT_CHARS`` (as intake cuts PNG text) so that no pattern runs over more."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value[:4 * MAX_TEXT_CHARS]).decode("utf-8", errors="replace")
    elif isinstance(value, (tuple, list)):
        if value and all(isinstance(v, int) and 0 <= v < 256 for v in value):
            value = bytes(value[:4 * MAX_TEXT_CHARS]).decode("utf-8", errors="replace")  # BYTE arrays
        else:
            return None
    elif not isinstance(value, str):
        value = str(value)
    value = value[:MAX_TEXT_CHARS].replace("\x00", "").strip()
    return value or None


def as_number(value: Any) -> float | None:
    """An EXIF numeric value (int, (num, den) rational, Pillow IFDRational, 1-tuple) as float."""
    try:
        if isinstance(value, (tuple, list)):
            if len(value) == 2 and all(isinstance(v, int) for v in value):
                num, den = value
                return None if den == 0 else num / den
            if len(value) >= 1:
                return as_number(value[0])
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out = float(value)
        elif hasattr(value, "numerator") and hasattr(value, "denominator"):
            out = None if value.denominator == 0 else float(value.numerator) / float(value.denominator)
        else:
            return None
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    if out is None or out != out or out in (float("inf"), float("-inf")):
        return None
    return out


def decode_user_comment(value: Any) -> str | None:
    """EXIF UserComment: an 8-byte charset prefix (ASCII, UNICODE, JIS, undefined) then data.

    ``UNICODE`` data is UTF-16 in either byte order (piexif and Automatic1111 write big-endian,
    some tools little-endian); the order that yields more printable text wins.
    """
    if isinstance(value, str):
        return as_text(value)
    if not isinstance(value, (bytes, bytearray, tuple, list)):
        return None
    try:
        raw = bytes(value)
    except (TypeError, ValueError):
        return None
    prefix, body = raw[:8], raw[8:8 + 4 * MAX_TEXT_CHARS]
    if prefix.startswith(b"UNICODE"):
        cands = [body.decode(enc, errors="replace") for enc in ("utf-16-be", "utf-16-le")]
        text = max(cands, key=lambda s: sum(ch.isprintable() or ch in "\n\r\t" for ch in s[:4096]))
    elif prefix.startswith(b"ASCII") or prefix == b"\x00" * 8 or prefix.startswith(b"JIS"):
        text = body.decode("utf-8", errors="replace")
    else:  # no prefix: some writers store the text directly
        text = raw[:4 * MAX_TEXT_CHARS].decode("utf-8", errors="replace")
    return as_text(text)


def parse_exif(data: bytes | None) -> dict[str, Any]:
    """Parse TIFF-structured EXIF bytes into ``{"0th", "Exif", "GPS", "1st": {tag: value},
    "thumbnail": bytes | None, "parser": "piexif" | "pillow" | None, "problems": [str]}``.

    piexif first (it keeps MakerNote and UserComment as raw bytes); Pillow when piexif fails.
    """
    out: dict[str, Any] = {"0th": {}, "Exif": {}, "GPS": {}, "1st": {}, "thumbnail": None,
                           "parser": None, "problems": []}
    if not data:
        return out
    problem = overreach(data)
    if problem:
        out["problems"].append(f"{problem}; not parsed")
        return out
    try:
        import piexif

        d = piexif.load(b"Exif\x00\x00" + bytes(data))
        for key in ("0th", "Exif", "GPS", "1st"):
            out[key] = dict(d.get(key) or {})
        out["thumbnail"] = d.get("thumbnail") or None
        out["parser"] = "piexif"
        return out
    except Exception as exc:  # piexif raises ValueError, struct.error, IndexError... on hostile data
        out["problems"].append(f"piexif could not parse EXIF ({type(exc).__name__}); read with Pillow")
    try:
        from PIL import Image

        from PIL.ExifTags import IFD

        ex = Image.Exif()
        ex_ifds: dict[int, Any] = {}
        with warnings.catch_warnings():  # "Corrupt EXIF data" is reported in problems instead
            warnings.simplefilter("ignore", UserWarning)
            ex.load(b"Exif\x00\x00" + bytes(data))
            for ifd in (IFD_EXIF, IFD_GPS, IFD.IFD1):
                try:
                    ex_ifds[ifd] = ex.get_ifd(ifd)
                except Exception as exc:
                    out["problems"].append(f"IFD {ifd:#x} unreadable ({type(exc).__name__})")
        out["0th"] = {int(k): v for k, v in ex.items()}
        for key, ifd in (("Exif", IFD_EXIF), ("GPS", IFD_GPS), ("1st", IFD.IFD1)):
            out[key] = {int(k): v for k, v in ex_ifds.get(ifd, {}).items()}
        off, length = out["1st"].get(TAG_THUMB_OFFSET), out["1st"].get(TAG_THUMB_LENGTH)
        if isinstance(off, int) and isinstance(length, int) and 0 < length and off + length <= len(data):
            out["thumbnail"] = bytes(data[off:off + length])
        out["parser"] = "pillow"
    except Exception as exc:
        out["problems"].append(f"EXIF unreadable by Pillow too ({type(exc).__name__}: {clip(str(exc), 120)})")
    return out


def image_size_of(data: bytes | None) -> tuple[int, int] | None:
    """(width, height) from an embedded image's header, without decoding its pixels."""
    if not data:
        return None
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
    except Exception:
        return None
    return (int(w), int(h)) if w > 0 and h > 0 else None
