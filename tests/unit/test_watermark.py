"""watermark: an SD-style dwtDct mark embedded with invisible-watermark's encoder is decoded."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from forensics.image import load_image
from forensics.signals import watermark as wm
from forensics.signals.watermark import WATERMARKS, WatermarkSignal


def _photo(h=512, w=512) -> np.ndarray:
    """Smooth mid-tone scene with texture; no clipping, like most natural images."""
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(3)
    base = np.stack([100 + 50 * np.sin(x / 37.0), 110 + 40 * np.cos(y / 23.0), 90 + 30 * np.sin((x + y) / 51.0)], axis=-1)
    return np.clip(base + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)


# invisible-watermark (the test extra) embeds the reference marks
pytestmark = pytest.mark.requires("imwatermark")


def _encoder(bits: np.ndarray):
    """The package's own dwtDct encoder, as WatermarkEncoder(...).encode(img, "dwtDct") runs it."""
    from imwatermark.maxDct import EmbedMaxDct

    core = EmbedMaxDct(watermarks=bits.astype(int).tolist(), wmLen=bits.size, scales=[0, 36, 36], block=4)
    return core.encode


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def test_sd_v1_mark_written_like_txt2img_is_found():
    rgb = _photo()
    bgr = _encoder(WATERMARKS["StableDiffusionV1"])(np.ascontiguousarray(rgb[..., ::-1]))  # txt2img encodes BGR
    r = WatermarkSignal().analyze(load_image(_png(bgr[..., ::-1])))
    assert r.status == "ok" and r.evidence["found"] and r.evidence["watermark"] == "StableDiffusionV1"
    assert r.evidence["results"]["StableDiffusionV1"]["channel_order"] == "bgr"
    assert r.score == 1.0 and r.evidence["decisive"]


def test_sdxl_mark_written_like_diffusers_is_found():
    rgb = _photo(576, 640)
    marked = _encoder(WATERMARKS["SDXL"])(rgb.copy())  # diffusers hands RGB arrays to the encoder
    r = WatermarkSignal().analyze(load_image(_png(marked)))
    assert r.evidence["watermark"] == "SDXL" and r.evidence["results"]["SDXL"]["p_value"] < 1e-6
    assert WatermarkSignal().brief(r) == "SDXL invisible watermark (Stable Diffusion pipeline)"  # the headline's words


def test_unmarked_image_is_at_chance_and_resize_destroys_the_mark():
    r = WatermarkSignal().analyze(load_image(_png(_photo())))
    assert r.status == "ok" and not r.evidence["found"] and r.score == 0.0 and WatermarkSignal().brief(r) is None
    assert all(v["bit_accuracy"] < 0.8 for v in r.evidence["results"].values())
    marked = _encoder(WATERMARKS["SDXL"])(_photo().copy())
    smaller = np.asarray(Image.fromarray(marked).resize((448, 448), Image.Resampling.BICUBIC))
    assert not WatermarkSignal().analyze(load_image(_png(smaller))).evidence["found"]


def test_small_and_huge_images_abstain():
    assert WatermarkSignal().analyze(load_image(_png(_photo(128, 128)))).status == "abstained"
    r = WatermarkSignal(max_pixels=100_000).analyze(load_image(_png(_photo(512, 512))))
    assert r.status == "abstained" and "max_pixels" in r.reason


def test_decoder_is_bit_exact_with_the_package():
    """Every bit, for both message lengths and channel orders, on marked and unmarked images of
    awkward sizes (ties at scale/2 are frequent, so the arithmetic order matters)."""
    from imwatermark.maxDct import EmbedMaxDct

    sd = WATERMARKS["StableDiffusionV1"]
    for seed, (h, w) in enumerate([(512, 512), (517, 731), (300, 260), (1024, 768)]):
        rng = np.random.default_rng(seed)
        img = np.clip(_photo(h, w).astype(int) + rng.integers(-20, 20, (h, w, 3)), 0, 255).astype(np.uint8)
        for arr in (img, _encoder(sd)(img.copy()), np.ascontiguousarray(img[..., ::-1])):
            for length in (136, 48):
                ref = EmbedMaxDct(watermarks=[], wmLen=length, scales=[0, 36, 36], block=4).decode(arr)
                assert np.array_equal(wm.decode_bits(arr, length), np.asarray(ref, dtype=bool)), (seed, length)


def test_runs_in_the_core_install():
    assert WatermarkSignal().availability().ok
