"""Image intake: decode once, capture every piece of raw metadata before any conversion.

``load_image`` turns a path, bytes, binary file object, ``PIL.Image.Image`` or numpy array
into a :class:`LoadedImage`. Signals read only the ``LoadedImage``; they never reopen the file.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import stat
import struct
import sys
import tempfile
import threading
import warnings
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageLoadError
from .formats import FORMATS, JPEG_FORMATS, SUPPORTED_TEXT
from .tiff import overreach

log = logging.getLogger(__name__)

#: Default refusal limit on decoded pixels (width * height). 120 MP admits the largest
#: phone and camera sensors while refusing decompression bombs before any decoding.
DEFAULT_MAX_PIXELS = 120_000_000
#: Default refusal limit on the encoded file size.
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
#: Above this many pixels, an image may not declare more than ``MAX_PIXELS_PER_BYTE`` pixels
#: per byte of its file: a 100 MP "image" in a few hundred bytes is a decompression bomb aimed
#: at memory, not a picture. A CCITT G4 scan of a page with one line of text comes to about
#: 11,000 pixels per byte; a flat lossless WebP to 860,000.
PIXELS_PER_BYTE_FLOOR = 16_000_000
MAX_PIXELS_PER_BYTE = 100_000
#: Longest text value kept per metadata entry (PNG chunks, comments); longer values are cut.
MAX_TEXT_CHARS = 1_000_000
#: Pixel signals read only the rows of a truncated file that decoded, and abstain when fewer
#: than this share did: below half, what is left says too little about the whole picture.
MIN_DECODED_SHARE = 0.5

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO, Image.Image, np.ndarray]

#: Pillow format names intake decodes (the keys of :data:`forensics.formats.FORMATS`); every
#: other Pillow plugin is refused before it runs (``Image.open(..., formats=...)``). ``HEIF`` is
#: pillow-heif's opener (HEIC and HEIF files); ``AVIF`` is Pillow's own plugin. JPEG files with
#: an MPO extension open as ``MPO``: a camera's JPEG with more frames after it, read as the JPEG it
#: is (the first frame, its quantisation tables).
SUPPORTED_FORMATS: tuple[str, ...] = tuple(FORMATS)

_HEIF_LOCK = threading.Lock()
_HEIF_REGISTERED = False
_DECODER_FORMATS: tuple[str, ...] | None = None


def _register_heif() -> None:
    """Register pillow-heif's HEIC/HEIF opener with Pillow (once, on first use)."""
    global _HEIF_REGISTERED
    with _HEIF_LOCK:
        if _HEIF_REGISTERED:
            return
        try:
            from pillow_heif import register_heif_opener
        except ImportError:  # pragma: no cover - pillow-heif is a core dependency
            log.warning("pillow-heif is not installed: HEIC/HEIF files cannot be read")
        else:
            register_heif_opener()
        _HEIF_REGISTERED = True


def decoder_formats() -> tuple[str, ...]:
    """The ``formats=`` for ``Image.open``: :data:`SUPPORTED_FORMATS` that this Pillow can read
    (AVIF needs a Pillow built with libavif; a name Pillow lacks would raise ``KeyError``)."""
    global _DECODER_FORMATS
    if _DECODER_FORMATS is None:
        _register_heif()
        Image.init()  # registers every plugin, as Image.open does itself on first use
        _DECODER_FORMATS = tuple(f for f in SUPPORTED_FORMATS if f in Image.OPEN)
    return _DECODER_FORMATS


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """A decoded image plus the raw metadata captured before any transpose or conversion.

    Attributes:
        source: file path, or ``"<bytes>"`` / ``"<file>"`` / ``"<PIL.Image>"`` / ``"<array>"``.
        sha256: hex digest of the original encoded bytes (of the pixel buffer for in-memory images).
        format: Pillow format name (``JPEG``, ``PNG``, ``WEBP``, ``TIFF``, ``GIF``, ``BMP``,
            ``HEIF``, ``AVIF``) or ``None`` for in-memory pixels.
        mode: the original Pillow mode (``RGB``, ``RGBA``, ``L``, ``CMYK``, ``I;16``...).
        width, height: size of ``rgb`` (after EXIF orientation).
        n_frames: frame count (animated GIF/WebP/multi-page TIFF); only frame 0 is analysed.
        rgb: ``uint8`` array ``(height, width, 3)``, oriented, full resolution.
        raw: the original encoded bytes (``b""`` for in-memory images).
        exif: raw EXIF as TIFF-structured bytes (``II*``/``MM*``), ``None`` when absent.
        xmp: XMP packet text, ``None`` when absent.
        icc_profile: ICC profile bytes, ``None`` when absent.
        text: textual metadata: PNG tEXt/iTXt/zTXt chunks, JPEG/GIF comments (key -> text).
        quantization: JPEG quantisation tables as returned by Pillow (table id -> 64 ints).
        subsampling: JPEG chroma subsampling (0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0), else ``None``.
        progressive: JPEG progressive flag.
        orientation: EXIF orientation tag value that was applied (1 = none).
        has_alpha: the original had an alpha channel (dropped in ``rgb``).
        truncated: the file ended early; pixels past the end are filler (grey).
        decoded_box: ``(left, top, right, bottom)`` of ``rgb`` that decoded from the file's
            data, or ``None`` when all of it did (only a truncated file has filler).
        warnings: what intake noticed (truncation, unreadable metadata) in plain words.
    """

    source: str
    sha256: str
    format: str | None
    mode: str
    width: int
    height: int
    n_frames: int
    rgb: np.ndarray = field(repr=False)
    raw: bytes = field(repr=False, default=b"")
    exif: bytes | None = field(repr=False, default=None)
    xmp: str | None = field(repr=False, default=None)
    icc_profile: bytes | None = field(repr=False, default=None)
    text: dict[str, str] = field(repr=False, default_factory=dict)
    quantization: dict[int, list[int]] | None = field(repr=False, default=None)
    subsampling: int | None = None
    progressive: bool = False
    orientation: int = 1
    has_alpha: bool = False
    truncated: bool = False
    warnings: tuple[str, ...] = ()
    decoded_box: tuple[int, int, int, int] | None = None

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decoded_share(self) -> float:
        """Share of the image that decoded from the file's data (1.0 unless truncated)."""
        if self.decoded_box is None:
            return 1.0
        left, top, right, bottom = self.decoded_box
        return (right - left) * (bottom - top) / self.pixels

    def decoded_part(self) -> "LoadedImage":
        """This image cut to the part that decoded (itself when all of it did): what pixel
        signals read, so that they never score filler."""
        if self.decoded_box is None:
            return self
        left, top, right, bottom = self.decoded_box
        rgb = np.ascontiguousarray(self.rgb[top:bottom, left:right])
        return replace(self, rgb=rgb, width=rgb.shape[1], height=rgb.shape[0], decoded_box=None)

    def describe(self) -> dict[str, Any]:
        """JSON-safe summary of the file, for results and reports."""
        return {
            "format": self.format,
            "mode": self.mode,
            "width": self.width,
            "height": self.height,
            "n_frames": self.n_frames,
            "bytes": len(self.raw),
            "has_exif": self.exif is not None,
            "has_xmp": self.xmp is not None,
            "has_icc_profile": self.icc_profile is not None,
            "text_keys": sorted(self.text),
            "jpeg_quality_tables": len(self.quantization) if self.quantization else 0,
            "subsampling": self.subsampling,
            "progressive": self.progressive,
            "orientation": self.orientation,
            "has_alpha": self.has_alpha,
            "truncated": self.truncated,
            "decoded_share": round(self.decoded_share, 4),
            "warnings": list(self.warnings),
        }

    def resized(self, max_side: int) -> np.ndarray:
        """``rgb`` shrunk (area filter) so its longer side is at most ``max_side``; for signals
        that work at low resolution. Returns ``rgb`` itself when already small enough."""
        if max(self.width, self.height) <= max_side:
            return self.rgb
        scale = max_side / max(self.width, self.height)
        size = (max(1, round(self.width * scale)), max(1, round(self.height * scale)))
        return np.asarray(Image.fromarray(self.rgb).resize(size, Image.Resampling.BOX))


def load_image(
    src: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> LoadedImage:
    """Decode ``src`` once and capture its metadata.

    Raises:
        ImageLoadError: the input is missing, empty, not an image, of an unsupported format,
            larger than ``max_pixels`` / ``max_bytes``, or corrupt beyond decoding. The message
            names the source and the cause.
    """
    if isinstance(src, LoadedImage):
        return src
    if isinstance(src, Image.Image):
        return _from_pil(src, "<PIL.Image>", max_pixels)
    if isinstance(src, np.ndarray):
        return _from_array(src, max_pixels)
    if isinstance(src, (bytes, bytearray, memoryview)):
        return _from_bytes(bytes(src), "<bytes>", max_pixels, max_bytes)
    if isinstance(src, str) and is_url(src):  # before Path(), which folds "https://" into "https:/"
        raise ImageLoadError(f"{src}: URLs are never fetched; download the file first")
    if isinstance(src, (str, os.PathLike)):
        name = str(Path(src))
        return _from_bytes(read_regular(src, max_bytes, ImageLoadError, "an image file"), name, max_pixels, max_bytes)
    if hasattr(src, "read"):
        name = str(getattr(src, "name", "<file>"))
        data = src.read(max_bytes + 1)
        if not isinstance(data, (bytes, bytearray)):
            raise ImageLoadError(f"{name}: file object returned {type(data).__name__}, expected bytes (open it in 'rb' mode)")
        if len(data) > max_bytes:
            raise ImageLoadError(f"{name}: stream is larger than the {max_bytes:,}-byte limit")
        return _from_bytes(bytes(data), name, max_pixels, max_bytes)
    raise ImageLoadError(
        f"cannot load an image from {type(src).__name__}; expected a path, bytes, a binary file "
        "object, a PIL.Image.Image or a numpy array"
    )


def read_regular(path: str | os.PathLike, max_bytes: int, error: type[Exception] = ImageLoadError,
                 what: str = "a file") -> bytes:
    """The bytes of the regular file at ``path``, reading at most ``max_bytes + 1`` of them.
    FIFOs, sockets and devices (a link to ``/dev/zero`` too) are refused before they are
    opened: reading them could block forever or never end. Raises ``error`` naming the path."""
    name = str(Path(path))
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{name}: no such file") from None
    except OSError as exc:
        raise error(f"{name}: cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{name}: is a directory, expected {what}")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{name}: not a regular file (a FIFO, socket or device); expected {what}")
    if st.st_size > max_bytes:
        raise error(f"{name}: file is {st.st_size:,} bytes, above the {max_bytes:,}-byte limit; "
                    "raise max_bytes if this file is trusted")
    try:
        # non-blocking: a FIFO put in the file's place after the stat cannot hang the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise error(f"{name}: not a regular file (a FIFO, socket or device); expected {what}")
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"{name}: cannot read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise error(f"{name}: file is above the {max_bytes:,}-byte limit (it grew while read)")
    return data


#: A URL, not a path: a scheme of two or more letters (so "C://x" stays a Windows path) and "//".
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


def is_url(text: str) -> bool:
    """``text`` names a URL (``https://...``), which the engine never fetches, not a path."""
    return bool(_URL.match(text))


def _from_bytes(data: bytes, name: str, max_pixels: int, max_bytes: int) -> LoadedImage:
    if not data:
        raise ImageLoadError(f"{name}: file is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ImageLoadError(f"{name}: input is {len(data):,} bytes, above the {max_bytes:,}-byte limit")
    return _decode(data, name, hashlib.sha256(data).hexdigest(), max_pixels)


_OPEN_LOCK = threading.Lock()


def _open_recording(data: bytes) -> tuple[Image.Image, list[str]]:
    """``Image.open`` with the header parser's complaints recorded (a TIFF tag pointing past the
    end of the file, say: evidence about the file). ``warnings.catch_warnings`` swaps
    process-wide state, so this fast header parse is serialised: two loads never interleave
    their captures. Pixel decoding runs outside the lock, in parallel."""
    with _OPEN_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        im = Image.open(io.BytesIO(data), formats=decoder_formats())
    return im, list(dict.fromkeys(f"decoder: {w.message}" for w in caught))[:5]


def _unsupported_format(data: bytes) -> str | None:
    """The Pillow format of a file that no supported parser accepts (``EPS``, ``PCX``...), or
    ``None``. Only the other plugins' header parsers run (pure Python); nothing is decoded."""
    others = [f for f in Image.ID if f not in SUPPORTED_FORMATS]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=others) as im:
                return im.format
    except Exception:  # not an image to any plugin, or a hostile header
        return None


def _decode(data: bytes, name: str, sha: str, max_pixels: int) -> LoadedImage:
    # a TIFF file's own tags: Pillow reads every value while opening it
    problem = overreach(data, pillow=True) if data[:4] in (b"II*\0", b"MM\0*") else None
    if problem:
        raise ImageLoadError(f"{name}: TIFF tags refused before parsing: {problem.replace('EXIF', 'the file')}")
    try:
        im, notes = _open_recording(data)
    except Image.DecompressionBombError as exc:
        # Pillow's own guard (2 x Image.MAX_IMAGE_PIXELS) fired while reading the header.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)):,} pixels" if found else "its size"
        raise ImageLoadError(
            f"{name}: image of {size} exceeds Pillow's decompression-bomb limit (refused before "
            "decoding); to admit it, raise PIL.Image.MAX_IMAGE_PIXELS and max_pixels"
        ) from None
    except ValueError as exc:
        if data.startswith(_PNG_SIGNATURE) and _is_text_limit(exc):
            return _from_png_without_text(data, name, sha, max_pixels, exc)
        raise ImageLoadError(f"{name}: header could not be parsed ({_why(exc)})") from None
    except UnidentifiedImageError:
        other = _unsupported_format(data)
        if other is not None:
            raise ImageLoadError(
                f"{name}: {other} files are not supported (refused without decoding); supported: "
                f"{SUPPORTED_TEXT}; convert the file to PNG to analyse it"
            ) from None
        raise ImageLoadError(
            f"{name}: not a recognised image ({_sniff(data)}); supported: {SUPPORTED_TEXT}"
        ) from None
    except Exception as exc:  # Pillow plugins raise many types on hostile headers
        raise ImageLoadError(f"{name}: header could not be parsed ({_why(exc)})") from None
    _check_size(im, name, max_pixels, len(data))
    decoded_rows = None
    try:
        if im.format == "TIFF":
            with _c_stderr_into(notes, "libtiff"):
                im.load()
        else:
            im.load()
    except Exception as exc:  # decoders raise OSError, ValueError, TypeError, MemoryError...
        if im.format in JPEG_FORMATS and "truncated" in str(exc):
            # Terminate the stream so libjpeg fills the missing rows; report it, never hide it.
            im = _decode_truncated_jpeg(data, name, exc)
            decoded_rows = _decoded_rows(im)
            notes.append(f"file is truncated: the JPEG stream ends early; {decoded_rows:,} of {im.height:,} rows "
                         "decoded, the rest is filler")
        elif im.format == "PNG" and _is_text_limit(exc):
            return _from_png_without_text(data, name, sha, max_pixels, exc)
        else:
            raise ImageLoadError(
                f"{name}: {im.format or 'image'} data is corrupt or truncated ({_why(exc)})"
                + "".join(f"; {n}" for n in notes if n.startswith("libtiff: "))[:600]
            ) from None
    return _build_checked(im, name, sha, data, decoded_rows, notes)


_STDERR_LOCK = threading.Lock()
#: Most lines, and bytes, of a C library's stderr output kept per image.
_STDERR_LINES = 5
_STDERR_BYTES = 64 * 1024


@contextmanager
def _c_stderr_into(notes: list[str], library: str):
    """Keep what C code writes to file descriptor 2 meanwhile in ``notes`` instead of on the
    terminal: libtiff reports each damaged row and odd tag there (hundreds of lines for one
    file), and Pillow offers no hook for it. fd 2 is process-wide, so captures are serialised,
    and anything another thread writes to stderr meanwhile is kept here too. Where fd 2 cannot
    be redirected (closed, say), the block runs as is."""
    with _STDERR_LOCK, tempfile.TemporaryFile() as tmp:
        try:
            if sys.stderr is not None:
                sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):
            yield
            return
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read(_STDERR_BYTES).decode("utf-8", errors="replace")
            cut = bool(tmp.read(1))  # more than _STDERR_BYTES were written
            lines = list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))
            notes.extend(f"{library}: {line[:300]}" for line in lines[:_STDERR_LINES])
            more = len(lines) - _STDERR_LINES
            if more > 0 or cut:
                notes.append(f"{library}: {max(more, 0):,}{'+' if cut else ''} more lines not kept")


def _check_size(im: Image.Image, name: str, max_pixels: int, n_bytes: int) -> None:
    w, h = im.size
    if w <= 0 or h <= 0:
        raise ImageLoadError(f"{name}: image declares an empty size {w}x{h}")
    _check_pixels(w, h, name, max_pixels)
    if w * h > max(PIXELS_PER_BYTE_FLOOR, MAX_PIXELS_PER_BYTE * n_bytes):
        raise ImageLoadError(
            f"{name}: {w}x{h} = {w * h:,} pixels declared in a file of {n_bytes:,} bytes "
            f"(over {MAX_PIXELS_PER_BYTE:,} pixels per byte): refused before decoding as a "
            "decompression bomb (the limit, forensics.image.MAX_PIXELS_PER_BYTE, can be raised for "
            "in-process use)"
        )


def _check_pixels(w: int, h: int, name: str, max_pixels: int, *, when: str = "before decoding", what: str = "file") -> None:
    if w * h > max_pixels:
        raise ImageLoadError(
            f"{name}: {w}x{h} = {w * h:,} pixels exceeds the {max_pixels:,}-pixel limit "
            f"(refused {when}, as a possible decompression bomb); raise max_pixels "
            f"if this {what} is trusted"
        )


def _build_checked(im: Image.Image, name: str, sha: str, data: bytes, decoded_rows: int | None,
                   notes: list[str]) -> LoadedImage:
    """:func:`_build` with any failure of a hostile file turned into :class:`ImageLoadError`."""
    try:
        return _build(im, name, sha, data, decoded_rows, notes)
    except ImageLoadError:
        raise
    except Exception as exc:
        raise ImageLoadError(
            f"{name}: {im.format or 'image'} ({im.mode}) could not be converted to RGB ({_why(exc)})"
        ) from None


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")


def _is_text_limit(exc: BaseException) -> bool:
    """Pillow refuses PNG text chunks above 1 MB decompressed (64 MB in all) with a ValueError."""
    msg = str(exc).lower()
    return isinstance(exc, ValueError) and ("decompressed data too large" in msg or "text chunks" in msg)


def _from_png_without_text(data: bytes, name: str, sha: str, max_pixels: int, exc: BaseException) -> LoadedImage:
    """Decode a PNG whose text chunks exceed Pillow's limits: the pixels from a copy without its
    text chunks, the text read here with bounded decompression, so an oversized chunk neither
    hides the image nor its other evidence (an XMP packet among them)."""
    stripped, text, notes = _split_png_text(data)
    try:
        im = Image.open(io.BytesIO(stripped), formats=("PNG",))
        _check_size(im, name, max_pixels, len(data))
        im.load()
    except ImageLoadError:
        raise
    except Exception as exc2:
        raise ImageLoadError(f"{name}: PNG data is corrupt ({_why(exc2)})") from None
    note = f"PNG text chunks exceed Pillow's limits ({exc}); read here, values cut at {MAX_TEXT_CHARS:,} characters"
    loaded = _build_checked(im, name, sha, data, None, [note, *notes])
    xmp = text.pop("XML:com.adobe.xmp", None)
    return replace(loaded, text={**loaded.text, **text}, xmp=loaded.xmp or xmp)


#: Budgets of the hand-made PNG text reader: Pillow's own total (64 MB inflated), at most this
#: many distinct keywords, and PNG's 79-byte keyword limit.
MAX_TEXT_TOTAL = 64 * 1024 * 1024
MAX_TEXT_KEYS = 1000
_PNG_KEYWORD_MAX = 79


def _split_png_text(data: bytes) -> tuple[bytes, dict[str, str], list[str]]:
    """``(png without tEXt/zTXt/iTXt chunks, {keyword: text}, notes)``. A later chunk with the
    same keyword replaces an earlier one (as in Pillow); a malformed tail is kept as is."""
    out = [data[:8]]
    text: dict[str, str] = {}
    budget = MAX_TEXT_TOTAL
    skipped = 0
    pos = 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(data):
            break
        if kind in _PNG_TEXT_CHUNKS:
            body = data[pos + 8:pos + 8 + length]
            key = body.partition(b"\0")[0][:_PNG_KEYWORD_MAX].decode("latin-1")
            if key and budget > 0 and (key in text or len(text) < MAX_TEXT_KEYS):
                value, used = _png_text_value(kind, body, min(budget, MAX_TEXT_CHARS * 4))
                budget -= used
                text[key] = value
            else:
                skipped += 1
        else:
            out.append(data[pos:end])
        pos = end
    out.append(data[pos:])
    notes = [f"{skipped:,} PNG text chunks not read (over {MAX_TEXT_KEYS:,} keywords or "
             f"{MAX_TEXT_TOTAL // (1 << 20)} MB of text)"] if skipped else []
    return b"".join(out), text, notes


def _png_text_value(kind: bytes, body: bytes, limit: int) -> tuple[str, int]:
    """``(text, bytes it took)`` of one text chunk, reading at most ``limit`` bytes of text."""
    rest = body.partition(b"\0")[2]
    try:
        if kind == b"tEXt":
            raw = rest[:limit]
            return raw[:MAX_TEXT_CHARS].decode("latin-1"), len(raw)
        if kind == b"zTXt":
            raw = zlib.decompressobj().decompress(rest[1:], limit)
            return raw[:MAX_TEXT_CHARS].decode("latin-1"), len(raw)
        flag, rest = rest[:1], rest[2:]  # iTXt: compression flag, method, language\0, keyword\0, text
        rest = rest.partition(b"\0")[2].partition(b"\0")[2]
        raw = zlib.decompressobj().decompress(rest, limit) if flag == b"\x01" else rest[:limit]
        return raw.decode("utf-8", errors="replace")[:MAX_TEXT_CHARS], len(raw)
    except zlib.error:
        return "", 0


def quiet_decoder_warnings() -> None:
    """Keep Pillow's warnings about hostile files off stderr in this process (they are kept in
    ``LoadedImage.warnings`` anyway). For processes the engine owns: the CLI and scan workers."""
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")


def _decode_truncated_jpeg(data: bytes, name: str, exc: Exception) -> Image.Image:
    try:
        im = Image.open(io.BytesIO(data + b"\xff\xd9"), formats=("JPEG",))
        im.load()
    except Exception:
        raise ImageLoadError(f"{name}: JPEG data is truncated and cannot be decoded ({_why(exc)})") from None
    return im


def _decoded_rows(im: Image.Image) -> int:
    """Rows of a truncated JPEG that decoded: libjpeg fills the blocks after the end of the data
    with one flat colour (mid-grey), so the decoded part ends where the run of rows of the last
    row's flat colour begins. The MCU row cut in the middle counts as decoded."""
    arr = np.asarray(im)
    fill, end = arr[-1, 0], arr.shape[0]
    while end > 0:  # bottom up, a few rows at a time: no image-sized temporary
        start = max(0, end - 64)
        flat = (arr[start:end] == fill).reshape(end - start, -1).all(axis=1)
        if not flat.all():
            return start + int(np.flatnonzero(~flat)[-1]) + 1
        end = start
    return 0


#: Pillow's ``exif_transpose`` for each EXIF orientation (1 = none).
_ORIENTATIONS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
                 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
                 8: Image.Transpose.ROTATE_90}


def _decoded_box(size: tuple[int, int], rows: int | None, orientation: int) -> tuple[int, int, int, int] | None:
    """Where the first ``rows`` stored rows of an image of ``size`` lie once oriented."""
    if rows is None or rows >= size[1]:
        return None
    mask = Image.new("L", size, 0)
    mask.paste(255, (0, 0, size[0], rows))
    if orientation in _ORIENTATIONS:
        mask = mask.transpose(_ORIENTATIONS[orientation])
    return mask.getbbox() or (0, 0, 0, 0)


#: A bytes or string literal in a decoder's message (Pillow quotes headers and chunk names).
_QUOTED = re.compile(r"b?'(?:[^'\\]|\\.){0,200}'" + r'|b?"(?:[^"\\]|\\.){0,200}"')


def _why(exc: BaseException) -> str:
    """``"Type: message"`` of a decoder's exception, without what it quotes of the file."""
    return f"{type(exc).__name__}: {_QUOTED.sub('<...>', str(exc)[:1000])[:200]}"


def _sniff(data: bytes) -> str:
    head = data[:64]
    if head.lstrip().startswith((b"<", b"{", b"[")) or all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "looks like text"
    if head.startswith(b"%PDF"):
        return "looks like a PDF"
    if head.startswith(b"PK\x03\x04"):
        return "looks like a ZIP archive"
    return "no known signature"  # its bytes are never quoted: they may be anything (a link to /proc/self/environ)


def _exif_bytes(im: Image.Image, notes: list[str]) -> bytes | None:
    raw = im.info.get("exif")
    if isinstance(raw, (bytes, bytearray)) and raw:
        raw = bytes(raw)
        return raw[6:] if raw.startswith(b"Exif\x00\x00") else raw
    if im.format == "TIFF":  # TIFF tags are the EXIF record itself
        try:
            ex = im.getexif()
            return ex.tobytes()[6:] if len(ex) else None
        except Exception as exc:
            notes.append(f"TIFF tags could not be re-serialised ({type(exc).__name__})")
    return None


def _xmp_text(im: Image.Image) -> str | None:
    raw = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    if raw is None and im.format == "TIFF":
        raw = getattr(im, "tag_v2", {}).get(700)
    if raw is None:
        return None
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw).decode("utf-8", errors="replace")
    return str(raw)[:MAX_TEXT_CHARS]


def _text_chunks(im: Image.Image, notes: list[str]) -> dict[str, str]:
    skip = {"exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "dpi", "jfif", "jfif_version",
            "jfif_unit", "jfif_density", "adobe", "adobe_transform", "progressive", "progression",
            "transparency", "duration", "loop", "background", "version", "extension", "gamma",
            "aspect", "interlace", "compression", "mp", "mpoffset"}
    out: dict[str, str] = {}
    items = dict(im.info)
    if im.format == "PNG":
        try:
            items.update(im.text)  # type: ignore[attr-defined]  # includes chunks after IDAT
        except Exception as exc:  # huge or malformed zTXt/iTXt
            notes.append(f"PNG text chunks could not all be read ({_why(exc)})")
    for key, value in items.items():
        if key in skip or not isinstance(key, str):
            continue
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value[:MAX_TEXT_CHARS]).decode("utf-8", errors="replace")
        if isinstance(value, str):
            out[key] = value[:MAX_TEXT_CHARS]
    return out


def _jpeg_fields(im: Image.Image) -> tuple[dict[int, list[int]] | None, int | None, bool]:
    if im.format not in JPEG_FORMATS:
        return None, None, False
    q = getattr(im, "quantization", None)
    tables = {int(k): [int(x) for x in v] for k, v in q.items()} if q else None
    try:
        from PIL import JpegImagePlugin

        sub = JpegImagePlugin.get_sampling(im)
    except Exception:
        sub = -1
    return tables, (sub if sub >= 0 else None), bool(im.info.get("progressive") or im.info.get("progression"))


def _to_rgb(im: Image.Image) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit, 32-bit integer and float greyscale: stretch to 8 bits in float32, in place.
        gray = np.array(im, dtype=np.float32)
        if im.mode.startswith("I;16"):
            lo, hi = 0.0, 65535.0
        elif im.mode == "I":
            lo, hi = 0.0, max(float(gray.max()), 1.0)
        else:  # F: the finite range; NaN and infinities take the darkest finite value
            finite = np.isfinite(gray)
            if not finite.all():
                gray[~finite] = float(gray[finite].min()) if finite.any() else 0.0
            lo = float(gray.min())
            hi = max(float(gray.max()), lo + 1e-12)
        gray -= lo
        gray *= 255.0 / (hi - lo)
        gray += 0.5
        np.clip(gray, 0, 255, out=gray)
        return np.repeat(gray.astype(np.uint8)[..., None], 3, axis=2)
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


def _build(im: Image.Image, name: str, sha: str, data: bytes, decoded_rows: int | None, notes: list[str]) -> LoadedImage:
    exif = _exif_bytes(im, notes)
    orientation = 1
    problem = overreach(exif)
    if problem:  # neither kept nor handed to Pillow, which would materialise every value
        notes.append(f"EXIF not read: {problem}")
        exif = None
    else:
        try:
            orientation = int(im.getexif().get(0x0112, 1) or 1)
        except Exception as exc:
            notes.append(f"EXIF could not be parsed for orientation ({type(exc).__name__})")
    if not 1 <= orientation <= 8:
        notes.append(f"EXIF orientation {orientation} is not a valid value (1-8); ignored")
        orientation = 1
    try:
        n_frames = int(getattr(im, "n_frames", 1))
    except Exception:
        n_frames = 1
    xmp = _xmp_text(im)
    text = _text_chunks(im, notes)
    quant, sub, progressive = _jpeg_fields(im)
    mode = im.mode
    has_alpha = "A" in mode or "transparency" in im.info
    fmt = im.format
    icc = im.info.get("icc_profile") or None
    oriented = im
    if orientation != 1:
        try:
            oriented = ImageOps.exif_transpose(im)
        except Exception as exc:
            notes.append(f"EXIF orientation {orientation} could not be applied ({type(exc).__name__})")
            orientation = 1
    rgb = _to_rgb(oriented)
    return LoadedImage(
        source=name, sha256=sha, format=fmt, mode=mode, width=rgb.shape[1], height=rgb.shape[0],
        n_frames=n_frames, rgb=rgb, raw=data, exif=exif, xmp=xmp,
        icc_profile=bytes(icc) if icc else None, text=text, quantization=quant, subsampling=sub,
        progressive=progressive, orientation=orientation, has_alpha=has_alpha, truncated=decoded_rows is not None,
        warnings=tuple(notes), decoded_box=_decoded_box(im.size, decoded_rows, orientation),
    )


def _from_pil(im: Image.Image, name: str, max_pixels: int) -> LoadedImage:
    _check_pixels(*im.size, name, max_pixels, what="image")  # a lazily opened image is not decoded yet
    try:
        im.load()
    except Exception as exc:
        raise ImageLoadError(f"{name}: the PIL image could not be loaded ({exc})") from None
    digest = hashlib.sha256(f"{im.mode}:{im.size}:".encode() + im.tobytes()).hexdigest()
    return _build_checked(im, name, digest, b"", None, [])


def _from_array(arr: np.ndarray, max_pixels: int) -> LoadedImage:
    name = "<array>"
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageLoadError(f"{name}: got shape {arr.shape}, expected (H, W), (H, W, 3) or (H, W, 4)")
    if arr.size == 0:
        raise ImageLoadError(f"{name}: array is empty (shape {arr.shape})")
    _check_pixels(arr.shape[1], arr.shape[0], name, max_pixels, when="before analysis", what="array")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating):
            # Unlike a float TIFF (whose NaNs take the darkest finite value, as a viewer shows
            # them), a caller's array with NaN holds a bug upstream: say so, never guess.
            bad = arr.size - int(np.count_nonzero(np.isfinite(arr)))
            if bad:
                raise ImageLoadError(
                    f"{name}: float array has {bad:,} NaN or infinite value(s); pass finite floats in "
                    "[0, 1] (numpy.nan_to_num replaces them) or uint8 in [0, 255]"
                )
            lo, hi = float(arr.min()), float(arr.max())
            if lo < 0 or hi > 1:
                raise ImageLoadError(
                    f"{name}: float values must lie in [0, 1], got {lo:g} to {hi:g}; scale them, "
                    "or pass uint8 in [0, 255]"
                )
            arr = np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8)
        else:
            raise ImageLoadError(
                f"{name}: dtype {arr.dtype} not supported; pass uint8 in [0, 255] or floats in [0, 1]"
            )
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    alpha = arr.shape[2] == 4
    rgb = np.ascontiguousarray(arr[..., :3])
    digest = hashlib.sha256(f"uint8:{rgb.shape}:".encode() + rgb.tobytes()).hexdigest()
    return LoadedImage(
        source=name, sha256=digest, format=None, mode="RGBA" if alpha else "RGB",
        width=rgb.shape[1], height=rgb.shape[0], n_frames=1, rgb=rgb, has_alpha=alpha,
    )
