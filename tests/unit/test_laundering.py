"""Laundering: deterministic, metadata-free, fixed crop, expected formats."""

from __future__ import annotations

import io

import numpy as np
import piexif
import pytest
from PIL import Image

from forensics.evaluation.laundering import CONDITIONS, HIDDEN_SET_CROP, LaunderingError, centre_crop, launder, launder_q75, launder_random


def camera_jpeg(w: int = 320, h: int = 240, orientation: int = 1) -> bytes:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    exif = piexif.dump({"0th": {piexif.ImageIFD.Make: b"Canon", piexif.ImageIFD.Orientation: orientation}})
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=95, exif=exif, comment=b"hello")
    return buf.getvalue()


def opened(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def test_conditions_listed() -> None:
    assert {"original", "png", "jpeg90", "jpeg75", "downscale05"} <= set(CONDITIONS)


@pytest.mark.parametrize("condition", [c for c in CONDITIONS if c != "original"])
def test_strips_metadata_and_is_deterministic(condition: str) -> None:
    src = camera_jpeg()
    a = launder(src, condition, seed=7)
    assert a == launder(src, condition, seed=7)
    im = opened(a)
    assert "exif" not in im.info and "comment" not in im.info and "icc_profile" not in im.info
    assert im.format == ("PNG" if condition == "png" else "JPEG")
    expected = (160, 120) if condition == "downscale05" else (320, 240)
    assert im.size == expected


def test_jpeg_qualities() -> None:
    src = camera_jpeg()
    q90 = opened(launder(src, "jpeg90", seed=0)).quantization[0]
    q75 = opened(launder(src, "jpeg75", seed=0)).quantization[0]
    assert sum(q75) > sum(q90)


def test_original_is_untouched_and_refuses_crop() -> None:
    src = camera_jpeg()
    assert launder(src, "original", seed=3) == src
    with pytest.raises(LaunderingError, match="cannot crop"):
        launder(src, "original", seed=3, crop=64)


def test_crop_fixed_size_and_seeded_offset() -> None:
    src = camera_jpeg()
    a = opened(launder(src, "png", seed=1, crop=100))
    b = opened(launder(src, "png", seed=2, crop=100))
    assert a.size == b.size == (100, 100)
    assert not np.array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(LaunderingError, match="smaller than the 500x500 crop"):
        launder(src, "jpeg90", seed=1, crop=500)


def test_orientation_applied_before_stripping() -> None:
    im = opened(launder(camera_jpeg(orientation=6), "png", seed=0))
    assert im.size == (240, 320)


def test_unknown_condition_and_garbage() -> None:
    with pytest.raises(LaunderingError, match="unknown laundering condition 'jpeg50'"):
        launder(camera_jpeg(), "jpeg50", seed=0)
    with pytest.raises(ValueError, match="cannot decode"):
        launder(b"not an image", "png", seed=0)


def test_random_recipe_deterministic_and_varied() -> None:
    src = camera_jpeg(400, 400)
    outs = [launder_random(src, seed=s, crop=128) for s in range(12)]
    assert outs[0] == launder_random(src, seed=0, crop=128)
    formats = {opened(o).format for o in outs}
    assert formats <= {"PNG", "JPEG"} and "JPEG" in formats
    assert all(opened(o).size == (128, 128) and "exif" not in opened(o).info for o in outs)


@pytest.mark.parametrize(("h", "w", "size"), [(700, 900, (512, 512)), (300, 800, (512, 300)), (200, 260, (260, 200))])
def test_q75_is_the_hidden_set_s_laundering(h: int, w: int, size: tuple[int, int]) -> None:
    """A centre crop of at most 512 px a side, JPEG q75 4:2:0 (Pillow's q75 tables), no metadata."""
    from PIL import JpegImagePlugin

    yy, xx = np.mgrid[0:h, 0:w]
    ramp = (xx * 200 / w + yy * 50 / h)[..., None] + np.random.default_rng(2).normal(0, 3, (h, w, 3))
    rgb = np.clip(ramp, 0, 255).astype(np.uint8)
    out = launder_q75(rgb)
    assert out == launder_q75(rgb)
    im = opened(out)
    assert im.format == "JPEG" and im.size == size and HIDDEN_SET_CROP == 512
    assert "exif" not in im.info and "icc_profile" not in im.info
    assert JpegImagePlugin.get_sampling(im) == 2
    ref = io.BytesIO()
    Image.fromarray(rgb).save(ref, "JPEG", quality=75)
    assert im.quantization == opened(ref.getvalue()).quantization
    top, left = (h - size[1]) // 2, (w - size[0]) // 2
    np.testing.assert_array_equal(centre_crop(rgb, 512), rgb[top:top + size[1], left:left + size[0]])
    got = np.asarray(im, dtype=np.float64)
    assert np.abs(got - centre_crop(rgb, 512)).mean() < 3.0  # the centre window, re-encoded
    if (h, w) != (size[1], size[0]):
        assert np.abs(got - rgb[:size[1], :size[0]]).mean() > 10.0  # not the top-left one

