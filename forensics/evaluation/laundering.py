"""Laundering: re-process images so that file format, metadata and size stop being cues.

A pixel signal fitted on a corpus where every generated image is a lossless PNG and every
real one a camera JPEG learns "PNG vs JPEG". Laundering gives both classes the same
processing: decode, apply the EXIF orientation, drop every piece of metadata, optionally
downscale, cut a fixed-size crop without resizing, and re-encode.

Public API:

``CONDITIONS``
    name -> one-line description of the evaluation conditions:

    - ``original``: the bytes unchanged (format, metadata and size included).
    - ``png``: pixels re-saved as lossless PNG, metadata stripped (a JPEG photo "re-saved as PNG").
    - ``jpeg90`` / ``jpeg75``: re-encoded as baseline JPEG, quality 90 / 75, 4:2:0, no metadata.
    - ``downscale05``: downscaled by 0.5 (Lanczos), then JPEG quality 90, no metadata.

``launder(data, condition, *, seed, crop=None) -> bytes``
    Apply one condition. With ``crop`` (pixels), a ``crop x crop`` window is cut at an offset
    drawn from ``seed`` (any phase, not only the 8-px grid, so a previous JPEG grid lands at a
    random phase) after any downscale and before encoding. Deterministic for
    ``(data, condition, seed, crop)``. ``original`` takes no crop (cropping would re-encode).

``launder_random(data, *, seed, crop) -> bytes``
    The training recipe (:data:`TRAINING_RECIPE`): a random mix of the above, identical in
    distribution for both classes. Deterministic for ``(data, seed, crop)``.

``launder_q75(rgb) -> bytes``
    The hidden test set's laundering of decoded pixels (docs/evaluation.md, "laundered"): a centre
    crop of at most :data:`HIDDEN_SET_CROP` px a side, JPEG quality 75 (4:2:0), no metadata. The
    training pipeline measures every model under it.

``launder`` and ``launder_random`` raise :class:`LaunderingError` (also a ``ValueError``) when the image is smaller than the
requested crop, or the condition is unknown.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from forensics.errors import ForensicsError
from forensics.image import decoder_formats

__all__ = ["CONDITIONS", "HIDDEN_SET_CROP", "TRAINING_RECIPE", "LaunderingError", "centre_crop", "launder", "launder_q75",
           "launder_random"]

CONDITIONS: dict[str, str] = {
    "original": "bytes unchanged: format, metadata and size as found",
    "png": "lossless PNG re-save, metadata stripped",
    "jpeg90": "JPEG quality 90 (4:2:0), metadata stripped",
    "jpeg75": "JPEG quality 75 (4:2:0), metadata stripped",
    "downscale05": "downscale x0.5 (Lanczos), then JPEG quality 90, metadata stripped",
}

#: The hidden test set's laundering: a centre crop of at most this many pixels a side.
HIDDEN_SET_CROP = 512

#: The random training recipe, applied the same way to both classes.
TRAINING_RECIPE: dict[str, Any] = {
    "pre_jpeg_p": 0.5,          # an earlier JPEG generation before the crop (ghost grid at a random phase)
    "pre_jpeg_quality": (70, 100),
    "downscale_p": 0.25,        # downscale before cropping, when the result still fits the crop
    "downscale_factor": (0.5, 0.9),
    "lossless_p": 0.2,          # final encoding: PNG with this probability, else JPEG
    "jpeg_quality": (65, 100),  # inclusive range for the final JPEG
    "subsampling_444_p": 0.3,   # else 4:2:0
}


class LaunderingError(ForensicsError, ValueError):
    """The image cannot be laundered as asked (unknown condition, smaller than the crop)."""


def _decode(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=decoder_formats())
            im.load()
        except Exception as exc:
            raise LaunderingError(f"cannot decode the image to launder it ({type(exc).__name__}: {exc})") from None
        try:
            im = ImageOps.exif_transpose(im)
        except Exception:  # unreadable orientation: keep the stored pixel order
            pass
    # A fresh image from raw pixels carries no info dict: EXIF, XMP, ICC and text are gone.
    return Image.fromarray(np.asarray(im.convert("RGB"), dtype=np.uint8), "RGB")


def _encode_png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _encode_jpeg(im: Image.Image, quality: int, subsampling: int = 2) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=int(quality), subsampling=subsampling, optimize=False)
    return buf.getvalue()


def _downscale(im: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(im.width * factor)), max(1, round(im.height * factor)))
    return im.resize(size, Image.Resampling.LANCZOS)


def _crop(im: Image.Image, crop: int, rng: np.random.Generator) -> Image.Image:
    if crop <= 0:
        raise LaunderingError(f"crop must be a positive number of pixels, got {crop}")
    if im.width < crop or im.height < crop:
        raise LaunderingError(
            f"image is {im.width}x{im.height} after processing, smaller than the {crop}x{crop} crop; "
            "use a smaller crop or leave this image out"
        )
    x = int(rng.integers(0, im.width - crop + 1))
    y = int(rng.integers(0, im.height - crop + 1))
    return im.crop((x, y, x + crop, y + crop))


def launder(data: bytes, condition: str, *, seed: int, crop: int | None = None) -> bytes:
    """Apply evaluation ``condition`` (a key of :data:`CONDITIONS`) to encoded ``data``.

    Returns encoded bytes (PNG or JPEG) with no metadata, except for ``original`` which returns
    ``data`` itself. ``seed`` fixes the crop offset; the result is deterministic.
    """
    if condition not in CONDITIONS:
        raise LaunderingError(f"unknown laundering condition {condition!r}; expected one of {', '.join(CONDITIONS)}")
    if condition == "original":
        if crop is not None:
            raise LaunderingError("condition 'original' keeps the bytes as found and cannot crop; pass crop=None")
        return bytes(data)
    rng = np.random.default_rng(seed)
    im = _decode(data)
    if condition == "downscale05":
        im = _downscale(im, 0.5)
    if crop is not None:
        im = _crop(im, crop, rng)
    if condition == "png":
        return _encode_png(im)
    quality = {"jpeg90": 90, "jpeg75": 75, "downscale05": 90}[condition]
    return _encode_jpeg(im, quality)


def launder_random(data: bytes, *, seed: int, crop: int) -> bytes:
    """The training recipe (:data:`TRAINING_RECIPE`): same random processing for both classes.

    Steps, each drawn from ``seed``: an optional earlier JPEG generation, an optional downscale
    (only when the result still holds the crop), a ``crop x crop`` window at any phase, then a
    final lossless PNG or a JPEG at a random quality and chroma subsampling. No metadata survives.
    """
    r = TRAINING_RECIPE
    rng = np.random.default_rng(seed)
    im = _decode(data)
    if rng.random() < r["pre_jpeg_p"]:
        q = int(rng.integers(r["pre_jpeg_quality"][0], r["pre_jpeg_quality"][1] + 1))
        im = Image.open(io.BytesIO(_encode_jpeg(im, q)))
        im.load()
    do_down = rng.random() < r["downscale_p"]
    factor = float(rng.uniform(*r["downscale_factor"]))
    if do_down and min(im.width, im.height) * factor >= crop:
        im = _downscale(im, factor)
    im = _crop(im, crop, rng)
    if rng.random() < r["lossless_p"]:
        return _encode_png(im)
    q = int(rng.integers(r["jpeg_quality"][0], r["jpeg_quality"][1] + 1))
    sub = 0 if rng.random() < r["subsampling_444_p"] else 2
    return _encode_jpeg(im, q, sub)


def centre_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """The central window of at most ``size`` x ``size`` pixels of an ``(h, w, ...)`` array."""
    h, w = rgb.shape[:2]
    ch, cw = min(h, size), min(w, size)
    top, left = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(rgb[top:top + ch, left:left + cw])


def launder_q75(rgb: np.ndarray) -> bytes:
    """The hidden test set's laundering of decoded ``(h, w, 3)`` uint8 pixels: centre crop of at
    most :data:`HIDDEN_SET_CROP` px a side, JPEG quality 75 (4:2:0), no metadata."""
    return _encode_jpeg(Image.fromarray(centre_crop(rgb, HIDDEN_SET_CROP)), 75)
